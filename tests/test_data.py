from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from icma_bench import data
from icma_bench.data import (
    DataNotFoundError,
    MalformedDataError,
    load_records,
    load_split,
    parse_records,
    resolve_split,
)

FIX = Path(__file__).parent / "fixtures" / "data"


def test_parse_keeps_raw_fields_and_canonicalises():
    recs = load_records(FIX / "tiny.txt")
    assert [r.cid for r in recs] == ["1", "2", "3"]
    # Raw SMILES kept byte for byte, including the doubled backslash; trailing spaces of captions kept.
    assert recs[1].smiles == "C[C@]\\\\4(O)CC4"
    assert recs[1].description.endswith("backslash.  ")
    assert recs[0].canonical_smiles == "CCO"
    assert recs[1].canonical_smiles is not None  # RDKit reads the doubled backslash as a bond marker
    assert recs[2].canonical_smiles is None  # unparsable is a value, not an error
    assert recs[0].line == 2 and recs[0].source.endswith("tiny.txt")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty file"),
        ("foo\tbar\n1\tC\td\n", ":1: expected header"),
        ("CID\tSMILES\tdescription\n1\tC\td\n2\tCC\n", ":3: expected 3 tab-separated fields, got 2"),
        ("CID\tSMILES\tdescription\n1\tC\td\textra\n", ":2: expected 3 tab-separated fields, got 4"),
        ("CID\tSMILES\tdescription\n1\t\td\n", ":2: empty CID or SMILES"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, text, message):
    p = tmp_path / "bad.txt"
    p.write_text(text)
    with pytest.raises(MalformedDataError, match=message) as exc:
        load_records(p)
    assert str(p) in str(exc.value)


def test_blank_trailing_lines_and_crlf_are_not_rows():
    recs = parse_records(["CID\tSMILES\tdescription\r\n", "1\tC\tmethane\r\n", "\n", ""])
    assert len(recs) == 1 and recs[0].description == "methane"


def test_resolution_order_explicit_env_cache(tmp_path, monkeypatch):
    env_root = tmp_path / "env"
    (env_root / "chebi20").mkdir(parents=True)
    (env_root / "chebi20" / "test.txt").write_text((FIX / "tiny.txt").read_text())
    monkeypatch.setenv(data.DATA_ENV, str(env_root))
    # explicit file wins
    assert resolve_split("chebi20", "test", FIX / "tiny.txt") == FIX / "tiny.txt"
    # then the env var folder
    assert resolve_split("chebi20", "test") == env_root / "chebi20" / "test.txt"
    # MolT5 layout accepted in a data folder
    molt5 = tmp_path / "m" / "chebi20" / "molt5"
    molt5.mkdir(parents=True)
    (molt5 / "validation.txt").write_text((FIX / "tiny.txt").read_text())
    assert resolve_split("chebi20", "validation", tmp_path / "m") == molt5 / "validation.txt"
    # then the user cache
    monkeypatch.delenv(data.DATA_ENV)
    cached = data.cache_dir() / "pubchem324k" / "test.txt"
    cached.parent.mkdir(parents=True)
    cached.write_text((FIX / "tiny.txt").read_text())
    assert resolve_split("pubchem324k", "test") == cached


def test_offline_error_names_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "nowhere"))
    monkeypatch.setenv("ICMA_BENCH_OFFLINE", "1")
    with pytest.raises(DataNotFoundError) as exc:
        resolve_split("chebi20", "train")
    msg = str(exc.value)
    for needle in ("explicit path", "$ICMA_BENCH_DATA", "user cache", "download", "offline", "Fix:"):
        assert needle in msg


def test_explicit_path_never_falls_back(tmp_path, monkeypatch):
    """A mistyped --data / data_path is an error, even when $ICMA_BENCH_DATA or the cache hold the split."""
    env_root = tmp_path / "env"
    (env_root / "chebi20").mkdir(parents=True)
    (env_root / "chebi20" / "test.txt").write_text((FIX / "tiny.txt").read_text())
    monkeypatch.setenv(data.DATA_ENV, str(env_root))
    with pytest.raises(DataNotFoundError, match="does not exist") as exc:
        resolve_split("chebi20", "test", tmp_path / "tpyo")
    assert str(tmp_path / "tpyo") in str(exc.value)
    # an existing folder without the split is an error too, naming what it looked for
    (tmp_path / "mine").mkdir()
    with pytest.raises(DataNotFoundError, match=r"not found in the data folder .*chebi20/test.txt"):
        resolve_split("chebi20", "test", tmp_path / "mine")


def test_unknown_dataset_and_split():
    with pytest.raises(ValueError, match="unknown dataset 'chebi'"):
        load_split("chebi", "test")
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        load_split("chebi20", "dev")


def _fake_source(monkeypatch, payload: bytes, tmp_path: Path, rows: int, sha: str | None):
    src = tmp_path / "remote.txt"
    src.write_bytes(payload)
    spec = data.DATASETS["chebi20"]
    splits = dict(spec.splits)
    splits["test"] = data.SplitSource(src.as_uri(), rows, sha)
    monkeypatch.setitem(data.DATASETS, "chebi20", dataclasses.replace(spec, splits=splits))
    monkeypatch.delenv("ICMA_BENCH_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv(data.DATA_ENV, raising=False)


def test_download_verifies_and_writes_atomically(tmp_path, monkeypatch):
    payload = (FIX / "tiny.txt").read_bytes()
    _fake_source(monkeypatch, payload, tmp_path, 3, hashlib.sha256(payload).hexdigest())
    recs = load_split("chebi20", "test")
    assert len(recs) == 3
    cached = data.cache_dir() / "chebi20" / "test.txt"
    assert cached.read_bytes() == payload
    assert not [p for p in cached.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "rows, sha, message", [(4, None, "has 3 rows, expected 4"), (3, "0" * 64, "sha256 mismatch")]
)
def test_download_rejects_unverified_files(tmp_path, monkeypatch, rows, sha, message):
    _fake_source(monkeypatch, (FIX / "tiny.txt").read_bytes(), tmp_path, rows, sha)
    with pytest.raises(DataNotFoundError, match=message):
        load_split("chebi20", "test")
    assert not (data.cache_dir() / "chebi20" / "test.txt").exists()


def test_shared_splits_have_published_sizes(shared_data):
    for dataset, split, n in [
        ("chebi20", "test", 3300),
        ("chebi20", "validation", 3301),
        ("pubchem324k", "test", 2000),
        ("pubchem324k", "validation", 1000),
    ]:
        recs = load_split(dataset, split, shared_data)
        assert len(recs) == n == data.DATASETS[dataset].splits[split].rows
    test = load_split("chebi20", "test", shared_data)
    assert sum("\\\\" in r.smiles for r in test) == 484


def test_shared_checksums_match_the_registry(shared_data):
    for split in ("test", "validation"):
        path = resolve_split("chebi20", split, shared_data)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == data.DATASETS["chebi20"].splits[split].sha256


def test_pubchem_checksums_match_the_registry(shared_data):
    for split in ("test", "validation"):
        path = resolve_split("pubchem324k", split, shared_data)
        assert (
            hashlib.sha256(path.read_bytes()).hexdigest() == data.DATASETS["pubchem324k"].splits[split].sha256
        )
