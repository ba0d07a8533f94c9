"""Score-vs-parameters figures: one per (task, convention) with a value, valid PNG/SVG, byte-identical reruns."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

from icma_bench.leaderboard.plots import write_plots
from icma_bench.leaderboard.schema import CONVENTIONS, SCHEMA, format_params, metric_specs


def _row(rid, task, family, params, base, *, kind="measured", convention="molt5", empty=False):
    specs = metric_specs(task)
    scores = {}
    for i, spec in enumerate(specs):
        v = round(base + 0.01 * i, 3)
        ci = kind == "measured"
        scores[spec["name"]] = (
            None if empty else {"value": v, "low": v - 0.02 if ci else None, "high": v + 0.02 if ci else None}
        )
    return {
        "id": rid, "kind": kind, "task": task, "convention": convention, "model": rid.split("/")[0],
        "family": family, "params": params, "params_label": format_params(params), "method": "in-context",
        "shots": 2, "retriever": None, "training_data": "none", "training_flag": "in-context only",
        "decoding": "greedy", "source": {"name": "fixture", "url": "", "file": ""}, "caption_tokenizer": None,
        "signature": "", "scores": scores, "counts": {"n": 5}, "best": [], "tied_with_best": [],
        "reported_as": None, "notes": "",
    }  # fmt: skip


def _board() -> dict:
    rows = [
        _row("gal-125m/m2c", "mol2caption", "Galactica", 125_000_000, 0.2),
        _row("gal-1.3b/m2c", "mol2caption", "Galactica", 1_300_000_000, 0.3),
        _row("gal-6.7b/m2c", "mol2caption", "Galactica", 6_700_000_000, 0.5),
        _row("molt5-small/m2c", "mol2caption", "MolT5", 77_000_000, 0.4),
        _row("molt5-large/m2c", "mol2caption", "MolT5", 780_000_000, 0.45),
        _row("molt5-large/m2c/rep", "mol2caption", "MolT5", 780_000_000, 0.47, kind="reported"),
        _row("gpt4/m2c", "mol2caption", "GPT", None, 0.35),
        _row("gal-125m/m2c/icma", "mol2caption", "Galactica", 125_000_000, 0.25, convention="icma"),
        _row("gal-125m/c2m", "caption2mol", "Galactica", 125_000_000, 0.3),
        _row(
            "gal-125m/c2m/strict",
            "caption2mol",
            "Galactica",
            125_000_000,
            0.3,
            convention="strict",
            empty=True,
        ),
    ]
    return {
        "schema": SCHEMA, "dataset": "chebi20", "split": "test", "n_documents": 5, "built_with": {},
        "bootstrap": {"resamples": 1000, "seed": 0, "confidence": 0.95, "alpha": 0.05},
        "metrics": {"mol2caption": metric_specs("mol2caption"), "caption2mol": metric_specs("caption2mol")},
        "conventions": dict(CONVENTIONS), "rows": rows,
    }  # fmt: skip


def test_write_plots_files_valid_and_deterministic(tmp_path, caplog):
    board = _board()
    with caplog.at_level(logging.INFO, logger="icma_bench.leaderboard.plots"):
        first = write_plots(board, tmp_path / "a")
    second = write_plots(board, tmp_path / "b")
    names = sorted(p.name for p in first)
    assert names == sorted(
        f"{stem}_vs_params.{fmt}"
        for stem in ("mol2caption_molt5", "mol2caption_icma", "caption2mol_molt5")
        for fmt in ("png", "svg")
    )
    # The caption2mol/strict figure has rows but no value: skipped, and said so.
    assert "caption2mol/strict" in caplog.text and "skipped" in caplog.text
    assert not (tmp_path / "a" / "caption2mol_strict_vs_params.png").exists()
    for path in first:
        data = path.read_bytes()
        assert path.is_file() and data == (tmp_path / "b" / path.name).read_bytes(), path.name
        if path.suffix == ".png":
            assert data.startswith(b"\x89PNG\r\n\x1a\n") and b"tEXt" not in data and b"Software" not in data
        else:
            root = ET.fromstring(data)
            assert root.tag.endswith("svg") and b"<dc:date>" not in data
    assert not list((tmp_path / "a").glob(".*.tmp"))  # atomic writes leave no temporary file
    assert {p.name for p in second} == set(names)


def test_api_strip_and_hollow_markers_in_svg(tmp_path):
    paths = {p.name: p for p in write_plots(_board(), tmp_path, formats=("svg",))}
    m2c = paths["mol2caption_molt5_vs_params.svg"].read_text(encoding="utf-8")
    c2m = paths["caption2mol_molt5_vs_params.svg"].read_text(encoding="utf-8")
    # Four headline panels each; mol2caption has an API model, so each of its panels has an API strip beside it.
    assert len(re.findall(r'<g id="axes_\d+"', m2c)) == 8 and len(re.findall(r'<g id="axes_\d+"', c2m)) == 4
    # The reported MolT5 row is a hollow marker (white fill, MolT5's colour) in each of the four panels.
    assert m2c.count('style="fill: #ffffff; stroke: #009e73"') == 4
    assert 'style="fill: #ffffff; stroke: #009e73"' not in c2m
    # One line per family in each panel (Galactica, MolT5; GPT has no size) and the dotted Pareto front.
    for colour in ("#d55e00", "#009e73"):
        assert m2c.count(f"stroke: {colour}; stroke-opacity: 0.8; stroke-width: 1.2") == 4
    assert m2c.count("stroke-dasharray: 0.8,1.32; stroke-dashoffset: 0; stroke: #999999") == 4


def test_import_is_cheap():
    code = "import sys, icma_bench.leaderboard.plots, icma_bench.leaderboard.html; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
