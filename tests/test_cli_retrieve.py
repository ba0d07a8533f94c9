"""`icma-bench retrieve` and `icma-bench prompts` on the tiny committed fixture."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from icma_bench.cli import main
from icma_bench.retrieval.icma_files import load_icma_neighbours

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "retrieval"


def test_retrieve_writes_icma_named_file(tmp_path, capsys):
    rc = main(["retrieve", "--dataset", "chebi20", "--split", "test", "--method", "bm25", "-k", "3",
               "--out", str(tmp_path), "--data", str(FIXTURE)])  # fmt: skip
    assert rc == 0
    out = tmp_path / "test_3_shot_cap2mol_bm25.txt"
    assert capsys.readouterr().out.strip() == str(out)
    parsed = load_icma_neighbours(out)
    assert list(parsed) == ["201", "202", "203"] and all(len(v) == 3 for v in parsed.values())
    assert parsed["201"][0][0] == "102"
    lines = out.read_text().splitlines()
    assert len(lines) == 9 and all(len(line.split("\t")) == 3 for line in lines)


def test_retrieve_rdkit_fp_leave_one_out_name_and_errors(tmp_path, capsys):
    rc = main(["retrieve", "--dataset", "chebi20", "--split", "train", "--method", "rdkit_fp", "-k", "2",
               "--out", str(tmp_path), "--data", str(FIXTURE), "--no-cache"])  # fmt: skip
    assert rc == 0
    parsed = load_icma_neighbours(tmp_path / "train_2_shot_mol2cap_morgan.txt")
    assert all(q not in [c for c, _ in v] for q, v in parsed.items())
    rc = main(["retrieve", "--dataset", "chebi20", "--split", "test", "--method", "graph",
               "--embeddings", str(tmp_path / "missing.npy"), str(tmp_path / "missing.npy"),
               "--graph-weights", "w.safetensors", "--out", str(tmp_path), "--data", str(FIXTURE)])  # fmt: skip
    assert rc == 2 and "--graph-weights" in capsys.readouterr().err


def test_prompts_jsonl_and_tsv(tmp_path):
    out = tmp_path / "p.jsonl"
    rc = main(["prompts", "--dataset", "chebi20", "--split", "test", "--task", "mol2caption", "--shots", "2",
               "--method", "rdkit_fp", "--format", "jsonl", "--out", str(out), "--data", str(FIXTURE)])  # fmt: skip
    assert rc == 0
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["cid"] for d in docs] == ["201", "202", "203"]
    assert (
        docs[0]["prompt"].endswith("generate a caption for the molecule: CCCCO.")
        and docs[0]["n_shots_used"] == 2
    )
    tsv = tmp_path / "p.tsv"
    rc = main(["prompts", "--dataset", "chebi20", "--split", "test", "--task", "caption2mol", "--shots", "1",
               "--format", "tsv", "--out", str(tsv), "--data", str(FIXTURE), "--limit", "2"])  # fmt: skip
    assert rc == 0
    rows = [line.split("\t") for line in tsv.read_text().splitlines()]
    assert rows[0] == ["doc_id", "cid", "n_shots_used", "prompt", "target"] and len(rows) == 3
    assert "\\n\\nBased on the above examples" in rows[1][3] and rows[1][4] == "CCCCO"


def test_prompts_to_stdout_via_console_entry(tmp_path):
    cmd = [sys.executable, "-m", "icma_bench", "prompts", "--dataset", "chebi20", "--split", "test", "--task",
           "mol2caption", "--template", "direct", "--data", str(FIXTURE), "--limit", "1"]  # fmt: skip
    res = subprocess.run(
        cmd, capture_output=True, text=True, check=True, env={"ICMA_BENCH_CACHE": str(tmp_path)}
    )
    assert json.loads(res.stdout)["prompt"] == "Generate a caption for the molecule: CCCCO\n"


def test_retrieve_with_one_data_file_is_leave_one_out(tmp_path, capsys):
    """--data pointing at one file makes it every split: the pool is then the queries, searched leave-one-out."""
    rc = main(["retrieve", "--dataset", "chebi20", "--split", "test", "--pool-split", "train", "--method", "bm25",
               "-k", "2", "--out", str(tmp_path), "--data", str(FIXTURE / "chebi20" / "train.txt"), "--no-cache"])  # fmt: skip
    assert rc == 0
    parsed = load_icma_neighbours(tmp_path / "test_2_shot_cap2mol_bm25.txt")
    assert parsed and all(q not in [c for c, _ in v] for q, v in parsed.items())
