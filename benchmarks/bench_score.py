"""One-file scoring, whole process, as a user feels it: ``icma-bench score FILE`` vs MolT5's scripts (one process).

Both read the same released MolT5-large prediction file (3,300 ChEBI-20 test rows). Runs alternate A, B, A, B ...
so a drift of the machine's speed hits both; the medians and the per-pair ratios are reported. icma-bench runs
"warm" (the references' tokens / fingerprints cached, as on every run after the first against a test set) after one
untimed warm-up run; the warm-up itself is reported as the cold run. Peak memory: GNU time's maximum resident set size of each run (the largest process).

    python benchmarks/bench_score.py [--runs 5] [--data ../shared/data] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _timed(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB (GNU time's %M of the process and its children), stdout."""
    with tempfile.NamedTemporaryFile(mode="r", suffix=".time") as fh:
        start = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", fh.name, *cmd],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        wall = time.perf_counter() - start
        peak_kb = int(fh.read().strip().splitlines()[-1])
    return wall, peak_kb / 1024, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    data = args.data.resolve()
    released = data / "released_outputs" / "molt5"
    cache = Path(tempfile.mkdtemp(prefix="icma_bench_score_"))
    env = {
        **os.environ,
        "ICMA_BENCH_CACHE": str(cache),
        "NLTK_DATA": str(data / "nltk_data"),
        "ICMA_BENCH_SCIBERT": str(data / "scibert_scivocab_uncased"),
    }
    exe = [sys.executable, "-m", "icma_bench", "score"]
    report = {}
    for task, name in (
        ("mol2caption", "molt5-large-smiles2caption.txt"),
        ("caption2mol", "molt5-large-caption2smiles.txt"),
    ):
        path = str(released / name)
        ours_cmd = [*exe, path, "--task", task, "--json"]
        ref_cmd = [
            sys.executable,
            str(REPO / "benchmarks" / "molt5_scripts.py"),
            path,
            "--task",
            task,
            "--vocab",
            str(data / "scibert_scivocab_uncased" / "vocab.txt"),
        ]
        cold, _, first = _timed(ours_cmd, env)
        ours, refs = [], []
        for _ in range(args.runs):
            ours.append(_timed(ours_cmd, env))
            refs.append(_timed(ref_cmd, env))
        ours_scores = json.loads(ours[-1][2])["scores"]
        ref_scores = json.loads(refs[-1][2])
        ratios = [r[0] / o[0] for o, r in zip(ours, refs, strict=True)]
        report[task] = {
            "icma_bench_cold_s": round(cold, 2),
            "icma_bench_warm_s": round(statistics.median(o[0] for o in ours), 2),
            "molt5_scripts_s": round(statistics.median(r[0] for r in refs), 2),
            "speedup_median": round(statistics.median(ratios), 2),
            "speedup_min_max": [round(min(ratios), 2), round(max(ratios), 2)],
            "peak_rss_mb": {
                "icma_bench": round(max(o[1] for o in ours)),
                "molt5_scripts": round(max(r[1] for r in refs)),
            },
            "max_abs_difference": max(abs(ours_scores[k] - v) for k, v in ref_scores.items()),
        }
        print(task, json.dumps(report[task]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
