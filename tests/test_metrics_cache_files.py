"""The metrics molecule cache is content-verified; files respect the umask; result JSON is strict."""

from __future__ import annotations

import io
import json
import logging
import math
import os
import stat

import numpy as np
import pytest

from icma_bench.data import cache_dir
from icma_bench.files import write_atomic
from icma_bench.metrics import compute

PREDS = ["CCO", "c1ccccc1O", "CC(=O)O", "CCN", "OCC(O)CO", "xx"]
REFS = ["CCO", "c1ccccc1", "CC(=O)OC", "CCCN", "OCC(O)C", "C"]


def _score():
    return compute("caption2mol", PREDS, REFS, protocol="molt5+strict", n_jobs=1)


def _entry():
    (folder,) = (cache_dir() / "metrics").glob("molecules-*")
    return folder


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def test_edited_array_is_detected_and_rebuilt(caplog):
    fresh = _score()
    path = _entry() / "features.maccs.npy"
    maccs = np.load(path)
    path.write_bytes(_npy(np.full_like(maccs, 0xFF)))  # a well-formed file with other content
    with caplog.at_level(logging.WARNING):
        again = _score()
    assert again.scores == fresh.scores
    assert "does not match its recorded sha256" in caplog.text
    assert np.array_equal(np.load(path), maccs)  # rebuilt


def test_wrong_length_file_is_rebuilt_every_time():
    fresh = _score()
    path = _entry() / "features.n_atoms.npy"
    path.write_bytes(_npy(np.arange(3, dtype=np.int64)))
    assert _score().scores == fresh.scores
    assert _score().scores == fresh.scores  # and stays good


def test_manifest_naming_a_path_outside_the_cache_is_refused(tmp_path, caplog):
    fresh = _score()
    folder = _entry()
    outside = tmp_path / "outside.npy"
    outside.write_bytes(_npy(np.zeros(6, dtype=np.int64)))
    manifest_path = folder / "features.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["../../../" + str(outside)[1:-4]] = manifest["files"].pop("n_atoms")
    manifest_path.write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING):
        assert _score().scores == fresh.scores
    assert "is not a plain name" in caplog.text


@pytest.mark.parametrize("how", ["read-only folder", "not a folder"])
def test_unwritable_cache_computes_without_caching(caplog, how):
    metrics = cache_dir() / "metrics"
    if how == "not a folder":  # unwritable even for root
        metrics.parent.mkdir(parents=True, exist_ok=True)
        metrics.write_text("")
    else:
        metrics.mkdir(parents=True)
        metrics.chmod(0o555)
    try:
        if how == "read-only folder" and os.access(metrics, os.W_OK):
            pytest.skip("running as a user who can write to a read-only folder (root)")
        with caplog.at_level(logging.WARNING):
            first = _score()
            second = _score()
    finally:
        if metrics.is_dir():
            metrics.chmod(0o755)
    assert first.scores == second.scores
    warnings = [r for r in caplog.records if "not writable" in r.getMessage()]
    assert len(warnings) == 1
    assert metrics.is_file() or not list(metrics.iterdir())


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_respect_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "a.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == mode


def test_cache_files_respect_the_umask():
    old = os.umask(0o022)
    try:
        _score()
    finally:
        os.umask(old)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in _entry().iterdir()}
    assert modes == {0o644}


def _strict_json(text: str):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_score_json_is_strict_when_means_are_undefined(tmp_path, capsys):
    from icma_bench.cli import main

    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps({"prediction": "xx", "reference": "CCO"}) + "\n" for _ in range(3)))
    assert main(["score", str(path), "--task", "caption2mol", "--json", "--protocol", "both"]) == 0
    out = _strict_json(capsys.readouterr().out)
    assert out["scores"]["maccs_fts"] is None and out["scores"]["strict_maccs_fts"] == 0.0
    assert math.isclose(out["scores"]["validity"], 0.0)


def test_score_flag_sets_the_bound(tmp_path, capsys):
    from icma_bench.cli import main

    path = tmp_path / "ok.jsonl"
    path.write_text(json.dumps({"prediction": "CCO", "reference": "CCO"}) + "\n")
    argv = ["score", str(path), "--task", "caption2mol", "--json"]
    assert main([*argv, "--molecule-time-limit", "1.5", "--molecule-memory-limit", "512"]) == 0
    assert _strict_json(capsys.readouterr().out)["signature"]["mol_limit"].startswith("1.5s/512MiB/")
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--molecule-time-limit", "0"])
    assert exc.value.code == 2 and "positive float" in capsys.readouterr().err
