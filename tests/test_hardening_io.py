"""Hostile inputs at the I/O edges: malformed data files, broken prediction files, damaged or unwritable caches,
bad options. Each is scored with every row counted or fails with one line naming the input."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA

from icma_bench import files
from icma_bench.cli import main
from icma_bench.data import MalformedDataError, load_records
from icma_bench.metrics import compute
from icma_bench.retrieval import build_neighbours

HEADER = "CID\tSMILES\tdescription\n"
needs_metrics = pytest.mark.skipif(
    not (SHARED_DATA / "scibert_scivocab_uncased" / "vocab.txt").is_file(),
    reason=f"SciBERT vocab / WordNet not found under {SHARED_DATA}",
)


def _file(tmp_path: Path, payload: bytes | str, name: str = "test.txt") -> Path:
    p = tmp_path / name
    p.write_bytes(payload.encode("utf-8") if isinstance(payload, str) else payload)
    return p


# --- data loader -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload, message",
    [
        (HEADER.encode() + b"1\tC\tgood\n2\tC\tbad \xff byte\n", r":3: not valid UTF-8"),
        (HEADER, "no data rows after the header: the split \\(or retrieval pool\\) is empty"),
        (HEADER + "1\tC\t\n", ":2: empty description"),
        (HEADER + "1\tC\t   \n", ":2: empty description"),
        (HEADER + "1\t \tx\n", ":2: empty CID or SMILES"),
        (HEADER + "1\tC\n", ":2: expected 3 tab-separated fields, got 2"),
        (HEADER + "1\tC\tx\ty\n", ":2: expected 3 tab-separated fields, got 4"),
        (HEADER + "1\tC\ta\rb\n", ":2: a row holds a line break"),
        ("", "empty file"),
        (b"\xef\xbb\xbf", "empty file"),
    ],
)
def test_malformed_data_files_name_file_and_line(tmp_path, payload, message):
    p = _file(tmp_path, payload)
    with pytest.raises(MalformedDataError, match=message) as exc:
        load_records(p)
    assert str(p) in str(exc.value) and "\n" not in str(exc.value)


def test_u2028_inside_a_caption_does_not_split_the_row(tmp_path):
    recs = load_records(
        _file(tmp_path, HEADER + "1\tC\tline\u2028separated\x85caption\x0c.\n2\tCC\tethane\n")
    )
    assert [r.cid for r in recs] == ["1", "2"]
    assert recs[0].description == "line\u2028separated\x85caption\x0c." and recs[1].line == 3


def test_bom_and_crlf_are_tolerated(tmp_path):
    recs = load_records(_file(tmp_path, "\ufeff" + HEADER.replace("\n", "\r\n") + "1\tC\tmethane \r\n"))
    assert recs[0].cid == "1" and recs[0].description == "methane "


def test_repeated_cids_are_reported_and_kept(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        recs = load_records(_file(tmp_path, HEADER + "7\tC\ta\n8\tCC\tb\n7\tCCC\tc\n"))
    assert len(recs) == 3
    assert "1 repeated CID(s), e.g. 7 (lines 2 and 4)" in caplog.text


def test_header_only_pool_is_a_clear_error(tmp_path, capsys):
    folder = tmp_path / "chebi20"
    folder.mkdir()
    (folder / "test.txt").write_text(HEADER + "1\tCCO\tethanol\n")
    (folder / "train.txt").write_text(HEADER)
    argv = [
        "prompts",
        "--dataset",
        "chebi20",
        "--split",
        "test",
        "--task",
        "mol2caption",
        "--data",
        str(tmp_path),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "train.txt: no data rows" in err and "pool) is empty" in err and len(err.splitlines()) == 1


# --- prediction files ---------------------------------------------------------------------------------------------


def _jsonl(tmp_path: Path, rows: list[dict], name: str = "p.jsonl") -> Path:
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))  # ensure_ascii: surrogates written as \ud800
    return p


@needs_metrics
def test_lone_surrogate_in_a_prediction_is_scored_and_counted(tmp_path, capsys):
    p = _jsonl(
        tmp_path,
        [{"prediction": "a \ud800 b", "reference": "a b"}, {"prediction": "a b", "reference": "a b"}],
    )
    assert main(["score", str(p), "--task", "mol2caption", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["counts"]["n"] == 2 and out["counts"]["encoding_repaired"] == 1
    p = _jsonl(tmp_path, [{"prediction": "C\udfff", "reference": "CCO"}], "m.jsonl")
    assert main(["score", str(p), "--task", "caption2mol", "--protocol", "all", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["counts"]["encoding_repaired"] == 1 and out["scores"]["strict_validity"] == 0.0


@pytest.mark.parametrize("task", ["mol2caption", "caption2mol"])
def test_lone_surrogate_in_a_reference_is_an_error_naming_the_line(tmp_path, capsys, task):
    p = _jsonl(
        tmp_path, [{"prediction": "x", "reference": "CCO"}, {"prediction": "x", "reference": "C\ud800"}]
    )
    assert main(["score", str(p), "--task", task]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{p}:2:" in err and "lone surrogate U+D800" in err and len(err.splitlines()) == 1


def test_lone_surrogate_reference_in_the_library_names_the_item():
    with pytest.raises(ValueError, match=r"references\[1\] holds a lone surrogate"):
        compute("caption2mol", ["C", "C"], ["C", "C\ud800"])


@needs_metrics
def test_cls_prefix_is_stripped_from_jsonl_as_from_tsv(tmp_path, capsys):
    pairs = [("[CLS] the molecule is an acid", "the molecule is an acid"), ("a base", "a base")]
    tsv = tmp_path / "p.tsv"
    tsv.write_text("SMILES\tground truth\toutput\n" + "".join(f"C\t{r}\t{o}\n" for o, r in pairs))
    jsonl = _jsonl(tmp_path, [{"prediction": o, "reference": r} for o, r in pairs])
    results = []
    for path in (tsv, jsonl):
        assert main(["score", str(path), "--task", "mol2caption", "--json"]) == 0
        results.append(json.loads(capsys.readouterr().out))
    assert results[0]["scores"] == results[1]["scores"]
    assert results[1]["scores"]["rouge1"] == 1.0 and results[1]["counts"]["cls_prefix_stripped"] == 1


@pytest.mark.parametrize("text", ["\u202eOCC", "CCO\x00", "CCO\u200b", "\ufeffCCO", "CCO\x1f", "C\u20ac"])
def test_strict_rejects_characters_no_smiles_holds(text):
    res = compute("caption2mol", [text, "CCO"], ["CCO", "CCO"], protocol="molt5+strict")
    assert res.scores["strict_validity"] == 0.5 and res.counts["strict_valid"] == 1
    # molt5 keeps MolT5's behaviour: RDKit alone decides (it skips these characters)
    assert res.scores["validity"] == 1.0


def test_strict_still_accepts_surrounding_newlines():
    res = compute("caption2mol", ["CCO\n", " CCO "], ["CCO", "CCO"], protocol="strict")
    assert res.scores["validity"] == 1.0


def test_fcd_without_the_extra_fails_before_any_work(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "fcd" else real(name, *a)
    )
    p = _jsonl(tmp_path, [{"prediction": "C", "reference": "C"}])
    assert main(["score", str(p), "--task", "caption2mol", "--fcd"]) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install 'icma-bench[fcd]'" in err and len(err.splitlines()) == 1


# --- caches -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("manifest", ["[]", "null", "3", '{"format": 1, "files": []}', '{"format": 1}'])
def test_foreign_neighbour_manifest_is_rebuilt(tmp_path, manifest, caplog):
    pool = ["a b c", "a b", "c d", "d e f"]
    first = build_neighbours(pool, pool, "bm25", 2, exclude_self=True, cache_dir=tmp_path)
    for m in tmp_path.glob("bm25-*.json"):
        m.write_text(manifest)
    with caplog.at_level(logging.WARNING):
        again = build_neighbours(pool, pool, "bm25", 2, exclude_self=True, cache_dir=tmp_path)
    assert not again.from_cache and "rebuilding" in caplog.text
    np.testing.assert_array_equal(first.indices, again.indices)
    assert build_neighbours(pool, pool, "bm25", 2, exclude_self=True, cache_dir=tmp_path).from_cache


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_neighbour_cache_computes_without_caching(tmp_path, caplog):
    tmp_path.chmod(0o555)
    try:
        with caplog.at_level(logging.WARNING):
            nb = build_neighbours(["a", "b", "c"], ["a", "b", "c"], "bm25", 1, cache_dir=tmp_path / "nb")
    finally:
        tmp_path.chmod(0o755)
    assert nb.indices.shape == (3, 1) and "continuing without caching" in caplog.text


def test_unwritable_neighbour_cache_computes_without_caching(tmp_path, caplog, monkeypatch):
    from icma_bench import store

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "save_arrays", full_disk)
    monkeypatch.setattr(files, "write_atomic", full_disk)
    with caplog.at_level(logging.WARNING):
        nb = build_neighbours(
            ["a", "b"], ["a", "b"], "bm25", 1, cache_dir=tmp_path, query_ids=["1", "2"], pool_ids=["1", "2"]
        )
    assert nb.indices.shape == (2, 1) and "No space left on device" in caplog.text


@needs_metrics
def test_token_cache_is_content_verified(caplog):
    from icma_bench.metrics.resources import metrics_cache_dir

    preds, refs = ["the molecule is an acid", "a base"], ["the molecule is an acid", "a base"]
    clean = compute("mol2caption", preds, refs).scores
    (cached,) = metrics_cache_dir().glob("tokens-*.json")
    body = json.loads(cached.read_text())
    body["tokens"][0] = ["x"]  # an edit that keeps the length: wrong numbers unless the content is checked
    cached.write_text(json.dumps(body))
    with caplog.at_level(logging.WARNING):
        again = compute("mol2caption", preds, refs).scores
    assert again == clean and "does not match the hash in its name" in caplog.text
    # the damaged file was replaced by the rebuilt one (same content, so the same name)
    assert list(metrics_cache_dir().glob("tokens-*.json")) == [cached]
    assert json.loads(cached.read_text())["tokens"][0] != ["x"]


@needs_metrics
def test_token_cache_in_an_unwritable_folder_is_skipped(monkeypatch, caplog):
    from icma_bench.metrics import text

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(text, "write_atomic", read_only)
    with caplog.at_level(logging.WARNING):
        res = compute("mol2caption", ["a b"], ["a b"])
    assert res.scores["rouge1"] == 1.0 and "continuing without it" in caplog.text


# --- options and outputs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--limit", "-5"], "argument --limit: must be >= 1, got -5"),
        (["--limit", "0"], "argument --limit: must be >= 1"),
        (["--seed", "-1"], "argument --seed: must be >= 0"),
        (["--shots", "-2"], "argument --shots: must be >= 0"),
        (["--budget", "0"], "argument --budget: must be >= 1"),
        (["--random-walk-p", "1.5"], "argument --random-walk-p: must be between 0 and 1"),
        (["-k", "0"], "argument -k: must be >= 1"),
    ],
)
def test_prompts_options_are_validated(capsys, extra, message):
    argv = ["prompts", "--dataset", "chebi20", "--split", "test", "--task", "mol2caption", *extra]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_prompts_missing_tokenizer_is_one_line(capsys, tmp_path):
    argv = ["prompts", "--dataset", "chebi20", "--split", "test", "--task", "mol2caption"]
    assert main([*argv, "--tokenizer", str(tmp_path / "nonexistent"), "--budget", "100"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--tokenizer" in err and "no such file or folder" in err and len(err.splitlines()) == 1


def test_unwritable_output_is_one_line(tmp_path, capsys, monkeypatch):
    from icma_bench.cli import retrieve

    folder = tmp_path / "chebi20"
    folder.mkdir()
    (folder / "test.txt").write_text(HEADER + "1\tCCO\tethanol\n2\tCC\tethane\n")

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(retrieve, "write_atomic", read_only)
    out = tmp_path / "out.jsonl"
    argv = [
        "prompts",
        "--dataset",
        "chebi20",
        "--split",
        "test",
        "--task",
        "mol2caption",
        "--data",
        str(tmp_path),
    ]
    assert main([*argv, "--template", "direct", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1] == f"icma-bench prompts: error: cannot write {out}: Permission denied"
    assert "Traceback" not in err  # (the lines above it are the progress bar)
