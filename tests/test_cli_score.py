"""``icma-bench score``: MolT5 TSV and JSONL input, garbage outputs counted, malformed files named by line."""

from __future__ import annotations

import json
import shlex

import pytest
from conftest import FIXTURES, REPO, SHARED_DATA

from icma_bench.cli import main

pytestmark = pytest.mark.skipif(
    not (SHARED_DATA / "scibert_scivocab_uncased" / "vocab.txt").is_file(),
    reason=f"SciBERT vocab / WordNet not found under {SHARED_DATA}",
)


def _run_json(capsys, *argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_score_molt5_tsv_caption2mol(capsys):
    out = _run_json(capsys, "score", str(FIXTURES / "metrics" / "caption2mol.tsv"), "--task", "caption2mol")
    assert out["protocol"] == "molt5"
    assert out["counts"]["n"] == 12 and out["counts"]["missing_outputs"] == 1
    assert set(out["scores"]) == {
        "bleu",
        "exact_match",
        "levenshtein",
        "validity",
        "maccs_fts",
        "rdk_fts",
        "morgan_fts",
    }
    assert out["signature"]["rdkit"]


def test_score_table_both_protocols(capsys):
    path = FIXTURES / "metrics" / "mol2caption.tsv"
    assert main(["score", str(path), "--task", "mol2caption", "--protocol", "both"]) == 0
    text = capsys.readouterr().out
    assert (
        "molt5" in text
        and "strict" in text
        and "bleu4" in text
        and "signature: protocol:molt5+strict" in text
    )
    assert "cls_prefix_stripped=1" in text


def test_score_jsonl_with_garbage(capsys, tmp_path):
    rows = [
        {"prediction": "CCO", "reference": "CCO"},
        {"prediction": "", "reference": "CCN"},
        {"prediction": None, "reference": "CCC"},
        {"reference": "c1ccccc1"},
        {"prediction": "\u2603\u2028\x00 not smiles \U0001f600", "reference": "CC(=O)O"},
        {"prediction": "C" * 50_000, "reference": "CCCC"},
        {"prediction": "((((((((((", "reference": "O"},
    ]
    path = tmp_path / "preds.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    out = _run_json(capsys, "score", str(path), "--task", "caption2mol", "--protocol", "both")
    counts = out["counts"]
    assert counts["n"] == 7 and counts["missing_outputs"] == 2 and counts["oversized"] == 1
    assert counts["valid"] == 4  # "CCO" and the three empty outputs parse under molt5
    assert counts["strict_valid"] == 1
    cap = _run_json(capsys, "score", str(path), "--task", "mol2caption")
    assert cap["counts"]["n"] == 7 and cap["counts"]["empty"] == 3


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("description\tground truth\toutput\nd\tCCO\tCCO\nd\tCCO\tCCO\textra\n", ":3:"),
        ("SMILES\tgt\toutput\nCCO\tx\ty\n", ":1:"),
        ("description\tground truth\toutput\nonly-one-field\n", ":2:"),
    ],
)
def test_malformed_tsv_names_the_line(capsys, tmp_path, content, line):
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    assert main(["score", str(path), "--task", "caption2mol"]) == 2
    assert line in capsys.readouterr().err


def test_malformed_jsonl_and_bad_utf8_name_the_line(capsys, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prediction": "C", "reference": "C"}\n{"prediction": \n', encoding="utf-8")
    assert main(["score", str(path), "--task", "caption2mol"]) == 2
    assert "bad.jsonl:2: invalid JSON" in capsys.readouterr().err
    raw = tmp_path / "bad.txt"
    raw.write_bytes(b"description\tground truth\toutput\nd\tCCO\tCC\xff\n")
    assert main(["score", str(raw), "--task", "caption2mol"]) == 2
    assert "bad.txt:2: not valid UTF-8" in capsys.readouterr().err


def test_readme_quickstart_runs(capsys, monkeypatch):
    readme = (REPO / "docs" / "metrics.md").read_text(encoding="utf-8")
    section = readme.split("<!-- metrics -->", 1)[1].split("\n# ", 1)[0]
    commands = [line.strip() for line in section.splitlines() if line.strip().startswith("icma-bench score ")]
    assert commands, "docs/metrics.md has no `icma-bench score` quickstart"
    monkeypatch.chdir(REPO)
    for command in commands:
        argv = shlex.split(command)[1:]
        assert main(argv) == 0, command
        assert "signature:" in capsys.readouterr().out or "--json" in argv


def test_rows_of_only_tabs_or_spaces_are_scored_not_skipped(tmp_path, capsys):
    """MolT5's csv reader keeps a row of tabs (empty fields) or spaces; only a truly empty line is no row."""
    import csv

    text = "description\tground truth\toutput\nA.\tCCO\tCCO\n\t\t\n   \n\nB.\tCCN\tCCN\n"
    path = tmp_path / "pred.txt"
    path.write_text(text, encoding="utf-8")
    with open(path, encoding="utf8") as f:
        molt5_rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    out = _run_json(capsys, "score", str(path), "--task", "caption2mol", "--protocol", "both")
    assert out["counts"]["n"] == len(molt5_rows) == 4
    assert out["counts"]["blank_rows"] == 2
    # the blank rows are pairs of empty strings: "" parses (valid under molt5), invalid under strict
    assert out["counts"]["valid"] == 4 and out["counts"]["strict_valid"] == 2
    assert (
        out["scores"]["exact_match"] == 1.0
    )  # "" == "" by InChI under MolT5's script, as for the two molecules
