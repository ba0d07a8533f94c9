"""`--metadata m2c_method=graph` end to end through the stock lm_eval CLI, with the shipped GIN weights."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("torch_geometric")

LIMIT = 8


def test_stock_lm_eval_with_graph_retrieval(shared_data, tmp_path):
    from icma_bench.data import load_split
    from icma_bench.retrieval import build_neighbours

    exe = shutil.which("lm_eval") or shutil.which("lm-eval")
    cmd = [exe] if exe else [sys.executable, "-m", "lm_eval"]
    cache = tmp_path / "cache"
    env = {**os.environ, "ICMA_BENCH_CACHE": str(cache), "ICMA_BENCH_DATA": str(shared_data)}
    env.pop("ICMA_BENCH_NO_HOOK", None)
    args = [
        "--model", "icma-copy", "--model_args", "pretrained=icma-copy",
        "--tasks", "icma_chebi20_mol2caption", "--limit", str(LIMIT),
        "--metadata", "m2c_method=graph,pool_split=validation",
        "--output_path", str(tmp_path / "out"), "--log_samples",
    ]  # fmt: skip
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    (results_file,) = (tmp_path / "out").rglob("results_*.json")
    (samples_file,) = results_file.parent.glob("samples_icma_chebi20_mol2caption_*.jsonl")
    results = json.loads(results_file.read_text())["results"]["icma_chebi20_mol2caption"]
    assert 0.0 < results["bleu4,none"] < 1.0 and results["counts,none"].startswith(f"n:{LIMIT}|")
    samples = [json.loads(line) for line in samples_file.read_text().splitlines()]
    assert len(samples) == LIMIT
    assert list(
        (cache / "neighbours" / "embeddings").glob("gin-*.json")
    )  # embeddings cached beside neighbours

    test = load_split("chebi20", "test", shared_data)[:LIMIT]
    pool = load_split("chebi20", "validation", shared_data)
    nb = build_neighbours([r.smiles for r in test], [r.smiles for r in pool], "graph", 10, cache_dir=False)
    for sample in sorted(samples, key=lambda s: s["doc"]["doc_id"]):
        doc, i = sample["doc"], sample["doc"]["doc_id"]
        assert doc["method"] == "graph" and [s["rank"] for s in doc["shots"]] == [2, 1]
        assert [s["cid"] for s in doc["shots"]] == [pool[j].cid for j in nb.indices[i, :2][::-1]]
        assert doc["shots"][-1]["score"] == pytest.approx(nb.scores[i, 0])
        assert sample["scored"]["prediction"] == doc["shots"][-1]["description"]  # copy: the rank-1 caption
