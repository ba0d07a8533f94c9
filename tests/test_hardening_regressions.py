"""What already held before the hardening work and must keep holding: concurrent cache builders agree byte for byte,
an interrupted lm-eval run resumes from lm-eval's own --use_cache with identical results, and the package never
unpickles, evals, shells out through a shell or trusts remote code."""

from __future__ import annotations

import json
import multiprocessing
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from icma_bench.retrieval.neighbours import build_neighbours

PACKAGE = Path(__file__).resolve().parents[1] / "icma_bench"
POOL = [
    f"the molecule is a {w} acid with {n} carbons"
    for w in ("fatty", "amino", "keto", "hydroxy")
    for n in range(40)
]
QUERIES = POOL[::7]


def _build(cache: str, out: str) -> None:
    result = build_neighbours(QUERIES, POOL, "bm25", 5, cache_dir=cache)
    np.save(out, np.concatenate([result.indices.astype(np.float64), result.scores.astype(np.float64)]))


def test_concurrent_cache_builders_agree_byte_for_byte(tmp_path):
    cache = tmp_path / "cache"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_build, args=(str(cache), str(tmp_path / f"out{i}.npy"))) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    outs = [(tmp_path / f"out{i}.npy").read_bytes() for i in range(3)]
    assert outs[0] == outs[1] == outs[2]
    again = build_neighbours(QUERIES, POOL, "bm25", 5, cache_dir=cache)
    assert again.from_cache  # whichever writer won left a complete, verified entry
    assert not list(cache.rglob("*.tmp"))  # no half-written file left behind


def _lm_eval(args: list[str], out: Path, cache_env: Path) -> dict:
    import os

    exe = shutil.which("lm_eval")
    cmd = [exe] if exe else [sys.executable, "-m", "lm_eval"]
    env = {**os.environ, "ICMA_BENCH_CACHE": str(cache_env)}
    proc = subprocess.run(
        [*cmd, *args, "--output_path", str(out)], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    (results,) = out.rglob("results_*.json")
    return json.loads(results.read_text())["results"]


def test_interrupted_run_resumes_from_use_cache_with_identical_results(shared_data, tmp_path):
    meta = json.dumps({"data_path": str(shared_data / "chebi20" / "molt5"), "pool_split": "validation"})
    base = [
        "--model",
        "icma-copy",
        "--model_args",
        "pretrained=icma-copy",
        "--tasks",
        "icma_chebi20_caption2mol",
    ]
    base += ["--metadata", meta]
    fresh = _lm_eval([*base, "--limit", "4"], tmp_path / "fresh", tmp_path / "c")
    db = tmp_path / "requests" / "lm_cache"
    _lm_eval(
        [*base, "--limit", "2", "--use_cache", str(db)], tmp_path / "part", tmp_path / "c"
    )  # "interrupted"
    resumed = _lm_eval([*base, "--limit", "4", "--use_cache", str(db)], tmp_path / "resumed", tmp_path / "c")
    assert list(db.parent.glob("lm_cache*"))  # lm-eval's response cache was written and reused
    assert resumed == fresh


_FORBIDDEN = [
    (re.compile(r"^\s*import pickle|^\s*from pickle|cPickle|dill\b", re.M), "pickle"),
    (re.compile(r"(?<![\w.])eval\(|(?<![\w.])exec\("), "eval/exec"),
    (re.compile(r"shell\s*=\s*True"), "shell=True"),
    (re.compile(r"trust_remote_code\s*=\s*True"), "trust_remote_code=True"),
    (re.compile(r"allow_pickle\s*=\s*True"), "allow_pickle=True"),
]


def test_no_pickle_eval_shell_or_remote_code_in_the_package():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for pattern, what in _FORBIDDEN:
            for match in pattern.finditer(text):
                problems.append(
                    f"{path.relative_to(PACKAGE.parent)}:{text[: match.start()].count(chr(10)) + 1}: {what}"
                )
        for match in re.finditer(r"torch\.load\(", text):
            call = text[match.end() : match.end() + 300].split("\n\n")[
                0
            ]  # the call's arguments (nested parens too)
            if "weights_only=True" not in call:
                problems.append(f"{path.relative_to(PACKAGE.parent)}: torch.load without weights_only=True")
    assert problems == []
