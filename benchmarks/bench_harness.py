"""Benchmark: ``lm_eval --model icma-copy --tasks icma_chebi20`` on the full ChEBI-20 test set (2 x 3,300 documents).

Runs, side by side in one go:

1. a warm-up that fills the retrieval cache (not timed as the result; reported);
2. ``lm_eval`` itself, the stock CLI in a subprocess, as a user runs it (timed, ``--runs`` times, warm cache);
3. the reference: the same evaluation without lm-eval, straight through the library (``build_documents`` -> the
   copy baseline's answers -> ``metrics.compute``), timed, and its scores compared with lm-eval's.

    python benchmarks/bench_harness.py                  # data from ../shared/data, validation as the pool
    python benchmarks/bench_harness.py --data DIR --pool-split train --runs 3

The figures are recorded in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TASKS = {"icma_chebi20_mol2caption": "mol2caption", "icma_chebi20_caption2mol": "caption2mol"}


def run_lm_eval(data: Path, pool_split: str, cache: Path, out: Path) -> tuple[float, dict]:
    exe = shutil.which("lm_eval")
    cmd = [exe] if exe else [sys.executable, "-m", "lm_eval"]
    meta = json.dumps({"data_path": str(data), "pool_split": pool_split})
    args = ["--model", "icma-copy", "--model_args", "pretrained=icma-copy", "--tasks", "icma_chebi20"]
    env = {**os.environ, "ICMA_BENCH_CACHE": str(cache)}
    start = time.perf_counter()
    proc = subprocess.run(
        [*cmd, *args, "--metadata", meta, "--output_path", str(out)], capture_output=True, text=True, env=env
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"lm_eval failed:\n{proc.stderr[-4000:]}")
    (results,) = out.rglob("results_*.json")
    return elapsed, json.loads(results.read_text())


def run_reference(data: Path, pool_split: str) -> tuple[float, dict[str, dict[str, float]]]:
    from icma_bench.harness.models import CopyModel
    from icma_bench.harness.scoring import extract_answer, harness_key, reported_protocols
    from icma_bench.metrics import compute, metric_names
    from icma_bench.prompts import build_documents

    start = time.perf_counter()
    copy = CopyModel()
    scores: dict[str, dict[str, float]] = {}
    for task, direction in TASKS.items():
        docs = build_documents("chebi20", "test", direction, shots=2, pool_split=pool_split, data_path=data)
        predictions = [extract_answer(copy.answer(d["prompt"]), direction) for d in docs]
        references = [d["target"] for d in docs]
        protocols = reported_protocols(direction, "molt5+icma+strict")  # the tasks' default
        result = compute(direction, predictions, references, protocol=protocols)
        scores[task] = {
            harness_key(name, p): float(result.scores[result.key(name, p)])
            for p in protocols
            for name in metric_names(direction)
        }
    return time.perf_counter() - start, scores


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="data root")
    parser.add_argument("--pool-split", default="validation", help="retrieval pool (train where you have it)")
    parser.add_argument("--runs", type=int, default=2, help="timed lm_eval runs (warm cache)")
    args = parser.parse_args()
    os.environ.setdefault("NLTK_DATA", str(args.data / "nltk_data"))
    os.environ.setdefault("ICMA_BENCH_SCIBERT", str(args.data / "scibert_scivocab_uncased"))
    os.environ.setdefault("ICMA_BENCH_T5_TOKENIZER", str(args.data / "molt5_t5_tokenizer"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        os.environ["ICMA_BENCH_CACHE"] = str(cache)
        warm, _ = run_lm_eval(args.data, args.pool_split, cache, Path(tmp) / "warmup")
        timings, results = [], {}
        for i in range(args.runs):
            elapsed, results = run_lm_eval(args.data, args.pool_split, cache, Path(tmp) / f"run{i}")
            timings.append(elapsed)
        ref_time, ref_scores = run_reference(args.data, args.pool_split)

    print(f"lm_eval --model icma-copy --tasks icma_chebi20 (2 x 3,300 docs, pool: {args.pool_split})")
    print(f"  cold retrieval cache (warm-up): {warm:6.1f} s")
    print(f"  warm cache, {args.runs} runs:          " + ", ".join(f"{t:.1f} s" for t in timings))
    print(f"  reference (library only, no lm-eval): {ref_time:6.1f} s")
    worst = 0.0
    print(f"  {'task':28s} {'metric':18s} {'lm-eval':>10s} {'reference':>10s}")
    for task, ref in ref_scores.items():
        row = results["results"][task]
        for key, value in ref.items():
            got = row[f"{key},none"]
            worst = max(worst, abs(got - value)) if value == value else worst
            print(f"  {task:28s} {key:18s} {got:10.4f} {value:10.4f}")
    print(f"  largest |lm-eval - reference|: {worst:.2e}")
    return 0 if worst == 0.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
