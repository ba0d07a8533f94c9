"""Boards from fixture inputs written here: every format, bad inputs refused, best marking, intervals, paired tests,
and measured rows kept apart from reported ones."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import numpy as np
import pytest

from icma_bench.cli import main
from icma_bench.leaderboard.board import build_boards
from icma_bench.leaderboard.bootstrap import (
    BootstrapConfig,
    compute_interval,
    compute_paired_p,
    resample_bleu,
    resample_metric,
    resample_weights,
)
from icma_bench.leaderboard.collect import collect_inputs
from icma_bench.leaderboard.sources import BoardInputError
from icma_bench.metrics import compute
from icma_bench.metrics.bleu import compute_corpus_bleu

N = 24
SMILES = ["C" * k + "O" for k in range(1, 13)] + ["c1ccccc1" + "C" * k for k in range(12)]
CAPTIONS = [
    f"The molecule is a {kind} compound number {i} that has a role as a {role} metabolite."
    for i, (kind, role) in enumerate(
        zip(["primary", "secondary", "tertiary"] * 8, ["plant", "human"] * 12, strict=True)
    )
]


def _records():
    return [(str(1000 + i), SMILES[i], CAPTIONS[i]) for i in range(N)]


def _write_data(root: Path) -> Path:
    folder = root / "data"
    folder.mkdir()
    lines = ["CID\tSMILES\tdescription", *("\t".join(r) for r in _records())]
    (folder / "test.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _degrade(text: str, i: int) -> str:
    words = text.split()
    return " ".join(words[: max(2, len(words) // 2 - i % 3)])


def _write_inputs(root: Path) -> Path:
    inputs = root / "inputs"
    inputs.mkdir()
    recs = _records()
    # perfect: outputs are the references (MolT5 TSV, rows shuffled: matched to documents by caption)
    order = list(range(N))
    random.Random(0).shuffle(order)
    tsv_m2c = ["SMILES\tground truth\toutput"] + [f"{recs[i][1]}\t{recs[i][2]}\t{recs[i][2]}" for i in order]
    tsv_c2m = ["description\tground truth\toutput"] + [
        f"{recs[i][2]}\t{recs[i][1]}\t{recs[i][1]}" for i in order
    ]
    (inputs / "perfect-m2c.txt").write_text("\n".join(tsv_m2c) + "\n", encoding="utf-8")
    (inputs / "perfect-c2m.txt").write_text("\n".join(tsv_c2m) + "\n", encoding="utf-8")
    # near-perfect: one document differs (not significantly different from perfect)
    near = [{"cid": c, "prediction": d if i else _degrade(d, i)} for i, (c, _, d) in enumerate(recs)]
    (inputs / "near.jsonl").write_text("".join(json.dumps(r) + "\n" for r in near), encoding="utf-8")
    # weak: every caption cut short, every SMILES wrong (JSONL matched by reference)
    weak = [{"reference": d, "prediction": _degrade(d, i)} for i, (_, _, d) in enumerate(recs)]
    (inputs / "weak-m2c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in weak), encoding="utf-8")
    weak_c2m = [
        {"cid": c, "prediction": "N" * (i % 3 + 1) if i % 2 else "xx("} for i, (c, _, _) in enumerate(recs)
    ]
    (inputs / "weak-c2m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in weak_c2m), encoding="utf-8")
    # API model in MolReGPT's format, one caption2mol cell N/A (a missing output, counted)
    mrg = ["CID\tmolecule2caption\tcaption2molecule"] + [
        f"{c}\t{_degrade(d, 0)}\t{'N/A' if i == 3 else s}" for i, (c, s, d) in enumerate(recs)
    ]
    (inputs / "api.txt").write_text("\n".join(mrg) + "\n", encoding="utf-8")
    source = "{name: fixture, url: 'https://example.org/x'}"
    (inputs / "runs.yaml").write_text(
        f"""kind: predictions
dataset: chebi20
defaults: {{training_data: chebi20-train, decoding: greedy, source: {source}, method: fine-tuned}}
runs:
  - {{model: Perfect-2B, family: Perfect, params: 2000000000, format: molt5-tsv, reported_as: perfect,
     mol2caption: perfect-m2c.txt, caption2mol: perfect-c2m.txt}}
  - {{model: Near-1B, family: Perfect, params: 1000000000, format: jsonl, mol2caption: near.jsonl}}
  - {{model: Weak-100M, family: Weak, params: 100000000, format: jsonl,
     mol2caption: weak-m2c.jsonl, caption2mol: weak-c2m.jsonl}}
  - {{model: API-model, family: API, params: null, method: in-context, shots: 2, retriever: bm25,
     training_data: none, format: molregpt-tsv, mol2caption: api.txt, caption2mol: api.txt}}
""",
        encoding="utf-8",
    )
    (inputs / "reported.yaml").write_text(
        f"""kind: reported
dataset: chebi20
rows:
  - {{model: Perfect-2B, id: perfect, family: Perfect, params: 2000000000, method: fine-tuned,
     training_data: chebi20-train, decoding: greedy, task: mol2caption, convention: icma,
     scores: {{bleu4: 0.999, meteor: 0.5}}, source: {source}}}
""",
        encoding="utf-8",
    )
    return inputs


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("board")
    data, inputs = _write_data(root), _write_inputs(root)
    out = root / "out"
    code = main(
        [
            "leaderboard",
            "build",
            str(inputs),
            "--out",
            str(out),
            "--data",
            f"chebi20={data}",
            "--resamples",
            "400",
        ]
    )
    assert code == 0
    return root, data, inputs, out, json.loads((out / "board.json").read_text(encoding="utf-8"))


def _row(board, rid):
    (row,) = [r for r in board["rows"] if r["id"] == rid]
    return row


def test_every_format_is_written(built):
    _, _, _, out, board = built
    names = {p.name for p in out.iterdir()}
    assert {"board.json", "README.md", "board.csv", "index.html", "plots"} <= names
    plots = sorted(p.name for p in (out / "plots").iterdir())
    assert "mol2caption_molt5_vs_params.png" in plots and "caption2mol_strict_vs_params.svg" in plots
    json.loads(
        (out / "board.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c} in board.json")
    )
    rows = list(csv.DictReader(io.StringIO((out / "board.csv").read_text())))
    assert len(rows) == len(board["rows"]) and {"bleu4", "bleu4_low", "bleu4_high", "bleu4_mark"} <= set(
        rows[0]
    )
    html = (out / "index.html").read_text()
    assert "Weak-100M" in html and "<script" in html
    # Measured rows under their conventions; reported rows apart, with their own convention.
    ids = {r["id"] for r in board["rows"]}
    assert {
        "perfect-2b/mol2caption/molt5",
        "perfect-2b/mol2caption/icma",
        "perfect-2b/caption2mol/strict",
    } <= ids
    assert "perfect-2b/mol2caption/strict" not in ids  # captions: strict == molt5, never repeated
    assert "perfect/mol2caption/reported" in ids


def test_scores_equal_the_metrics_and_a_perfect_row_has_a_degenerate_interval(built):
    _, _, _, _, board = built
    row = _row(board, "perfect-2b/mol2caption/molt5")
    for metric in ("bleu2", "bleu4", "rougeL", "meteor"):
        score = row["scores"][metric]
        assert score["low"] == score["high"] == score["value"]
    refs = [d for _, _, d in _records()]
    weak = compute("mol2caption", [_degrade(d, i) for i, d in enumerate(refs)], refs, protocol="molt5")
    weak_row = _row(board, "weak-100m/mol2caption/molt5")
    for metric in ("bleu2", "bleu4", "rouge1", "meteor"):
        assert weak_row["scores"][metric]["value"] == weak.scores[metric]
        assert weak_row["scores"][metric]["low"] <= weak.scores[metric] <= weak_row["scores"][metric]["high"]


def test_best_marking_and_paired_significance(built):
    _, _, _, out, board = built
    perfect, near = _row(board, "perfect-2b/mol2caption/molt5"), _row(board, "near-1b/mol2caption/molt5")
    weak, api = _row(board, "weak-100m/mol2caption/molt5"), _row(board, "api-model/mol2caption/molt5")
    assert "bleu4" in perfect["best"] and "meteor" in perfect["best"]
    assert "bleu4" in near["tied_with_best"] and "bleu4" not in near["best"]  # one document differs
    assert "bleu4" not in weak["tied_with_best"] and "bleu4" not in api["tied_with_best"]
    reported = _row(board, "perfect/mol2caption/reported")
    assert reported["best"] == [] and reported["scores"]["bleu4"]["low"] is None  # never marked, no interval
    md = (out / "README.md").read_text()
    assert "| Perfect-2B | 2.0B | fine-tuned | – | – | fine-tuned on this train | **1.000** |" in md
    measured_part, reported_part = md.split("### Reported in papers", 1)
    assert "0.999" not in measured_part and "0.999" in reported_part
    # side by side: the reported BLEU-4 next to the measured one under the same and the other convention
    assert "| Perfect-2B | reported (icma) | 0.999 | 0.500 |" in md
    assert (
        "| Perfect-2B | measured, icma | 1.000 | 1.000 |" in md and "| Perfect-2B | measured, molt5 |" in md
    )


def test_counts_keep_missing_outputs(built):
    _, _, _, _, board = built
    api = _row(board, "api-model/caption2mol/strict")
    assert api["counts"]["missing_outputs"] == 1 and api["counts"]["n"] == N
    assert api["params"] is None and api["params_label"] == "API, size unknown"
    assert api["training_flag"] == "in-context only"


def test_vectorised_bootstrap_equals_explicit_resamples():
    refs = [d for _, _, d in _records()]
    preds = [_degrade(d, i) if i % 2 else d for i, d in enumerate(refs)]
    result = compute("mol2caption", preds, refs, protocol="molt5", per_item=True)
    config = BootstrapConfig(resamples=50, seed=3)
    weights = resample_weights(N, config)
    bleu4 = resample_bleu(result.ngrams["molt5"], weights, (0.25, 0.25, 0.25, 0.25))
    rouge = resample_metric(np.array(result.items["molt5"]["rougeL"]), weights)
    ngrams = result.ngrams["molt5"]
    for b in range(5):
        idx = np.repeat(np.arange(N), weights[b].astype(int))
        counts = [[(int(ngrams[i, k]), int(ngrams[i, 4 + k])) for k in range(4)] for i in idx]
        (expected,) = compute_corpus_bleu(counts, ngrams[idx, 8], ngrams[idx, 9], [(0.25,) * 4])
        assert bleu4[b] == pytest.approx(expected, rel=1e-12)
        assert rouge[b] == pytest.approx(np.mean(np.array(result.items["molt5"]["rougeL"])[idx]), rel=1e-12)
    ones = np.ones((1, N))
    assert resample_bleu(ngrams, ones, (0.25,) * 4)[0] == pytest.approx(result.scores["bleu4"], rel=1e-12)


def test_bernoulli_interval_matches_the_normal_approximation():
    """A known case: the share of 1s among 2,000 documents with p = 0.3 has a 95 % interval of about ±1.96·σ."""
    values = np.array([1.0] * 600 + [0.0] * 1400)
    replicates = resample_metric(values, resample_weights(values.size, BootstrapConfig(resamples=2000)))
    low, high = compute_interval(replicates, 0.95)
    half = 1.96 * np.sqrt(0.3 * 0.7 / values.size)
    assert low == pytest.approx(0.3 - half, abs=0.003) and high == pytest.approx(0.3 + half, abs=0.003)
    assert compute_paired_p(replicates, replicates, 0.3, 0.3) == 1.0
    assert compute_paired_p(replicates, replicates - 0.2, 0.3, 0.1) < 0.01


def test_nan_metric_means_leave_documents_out():
    values = np.array([1.0, np.nan, 0.0, np.nan])
    assert resample_metric(values, np.ones((1, 4)))[0] == 0.5
    assert np.isnan(resample_metric(np.full(3, np.nan), np.ones((1, 3)))[0])


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: (d / "api.txt").write_text("CID\tm\tc\n1000\ta\tb\n"), "1 rows but the split has 24"),
        (
            lambda d: (d / "near.jsonl").write_text('{"cid": "99", "prediction": "x"}\n' * N),
            "its cid is not a document of the split",
        ),
        (
            lambda d: (d / "runs.yaml").write_text(
                (d / "runs.yaml").read_text().replace("params: 100000000, ", "")
            ),
            "missing field(s) ['params']",
        ),
        (
            lambda d: (d / "runs.yaml").write_text(
                (d / "runs.yaml").read_text().replace("format: jsonl", "format: xls", 1)
            ),
            "format 'xls' is not one of",
        ),
        (
            lambda d: (d / "reported.yaml").write_text(
                (d / "reported.yaml").read_text().replace("bleu4:", "blue4:")
            ),
            "scores must map mol2caption metrics",
        ),
        (
            lambda d: (d / "results_x.json").write_text('{"results": {"icma_chebi20_mol2caption": {}}}'),
            "no icma-bench signature",
        ),
        (lambda d: (d / "results_x.json").write_text('{"results": '), "not a readable lm-eval results file"),
        (
            lambda d: (d / "results_x.json").write_text(
                json.dumps(
                    {
                        "results": {
                            "icma_chebi20_mol2caption": {"signature,none": "protocol:molt5|task:mol2caption"},
                            "icma_chebi20_caption2mol": {
                                "signature,none": "protocol:molt5+strict|task:caption2mol"
                            },
                        }
                    }
                )
            ),
            "mixed metric protocols",
        ),
    ],
)
def test_bad_inputs_give_one_error_naming_the_file(built, tmp_path, edit, message, capsys):
    import shutil

    _, data, inputs, _, _ = built
    copy = tmp_path / "inputs"
    shutil.copytree(inputs, copy)
    edit(copy)
    with pytest.raises(BoardInputError) as info:
        build_boards(collect_inputs([copy]), data_paths={"chebi20": data}, config=BootstrapConfig(10))
    assert message in str(info.value) and str(copy) in str(info.value)
    # The CLI says it in one line, exit 2.
    code = main(
        ["leaderboard", "build", str(copy), "--out", str(tmp_path / "o"), "--data", f"chebi20={data}"]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_verify_detects_stale_and_hand_edited_boards(built, tmp_path, capsys):
    import shutil

    root, data, inputs, out, _ = built
    copy = tmp_path / "pub"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("plots"))
    assert main(["leaderboard", "verify", str(copy / "out")]) == 0
    readme = copy / "out" / "README.md"
    readme.write_text(readme.read_text().replace("**1.000**", "**0.999**", 1))
    assert main(["leaderboard", "verify", str(copy / "out")]) == 1
    assert "README.md: differs from a rendering of board.json" in capsys.readouterr().err
    (copy / "inputs" / "weak-m2c.jsonl").write_text("changed\n")
    (copy / "inputs" / "new.yaml").write_text("kind: reported\n")
    assert main(["leaderboard", "verify", str(copy / "out")]) == 1
    err = capsys.readouterr().err
    assert "weak-m2c.jsonl: input changed since the board was built" in err
    assert "new.yaml: a new input the board was not built from" in err


def _real_results_text() -> str:
    (path,) = (
        Path(__file__).resolve().parents[1] / "leaderboards/chebi20/inputs/finetune_miniature/tiny-icmt"
    ).glob("results_*.json")
    return path.read_text(encoding="utf-8")


def test_truncated_or_foreign_result_files_fail_with_one_line(tmp_path):
    """Property (hypothesis): any truncation of a real results file, and any JSON value, either collects or raises
    BoardInputError naming the file; never another exception."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    text = _real_results_text()
    folder = tmp_path / "r"
    folder.mkdir()
    target = folder / "results_2026.json"
    json_values = st.recursive(
        st.none() | st.booleans() | st.floats(allow_nan=True) | st.text(max_size=20) | st.integers(),
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=30), kids, max_size=4),
        max_leaves=20,
    )

    def attempt(payload: str) -> None:
        target.write_text(payload, encoding="utf-8", errors="surrogatepass")
        try:
            collect_inputs([folder])
        except BoardInputError as exc:
            assert str(target) in str(exc) or "no board inputs" in str(exc)
            assert "\n" not in str(exc)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(cut=st.integers(min_value=0, max_value=len(text)))
    def truncated(cut):
        attempt(text[:cut])

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        value=json_values,
        where=st.sampled_from(["task", "config", "configs", "n-samples", "model_args", "whole"]),
    )
    def foreign(value, where):
        doc = json.loads(text)
        if where == "task":  # a hostile value where our task entry should be
            doc["results"]["icma_chebi20_mol2caption"] = value
        elif where == "model_args":
            doc["config"]["model_args"] = value
        elif where != "whole":
            doc[where] = value
        attempt(json.dumps(doc if where != "whole" else value))

    truncated()
    foreign()


def test_jsonl_cls_prefix_is_stripped_and_counted_as_score_does(tmp_path):
    from icma_bench.data import Record
    from icma_bench.leaderboard.predictions import read_predictions

    records = [Record(c, s, d) for c, s, d in _records()]
    path = tmp_path / "cls.jsonl"
    path.write_text(
        "".join(json.dumps({"cid": r.cid, "prediction": "[CLS] " + r.description}) + "\n" for r in records)
    )
    aligned = read_predictions(path, "jsonl", "mol2caption", records)
    assert aligned.predictions == [r.description for r in records]
    assert aligned.counts["cls_prefix_stripped"] == N
