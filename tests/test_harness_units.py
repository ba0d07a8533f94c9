"""Harness units: answer post-processing, the corpus aggregation, the baselines, the context budget."""

from __future__ import annotations

import logging

import pytest
from conftest import SHARED_DATA
from tiny_models import build_tiny_gpt2

from icma_bench.harness.budget import Budget, resolve_budget
from icma_bench.harness.models import CopyModel, EchoModel, parse_query, parse_shot_answers
from icma_bench.harness.scoring import (
    CorpusAggregation,
    extract_answer,
    process_results,
    reported_metrics,
    reported_protocols,
)
from icma_bench.metrics import metric_names as metrics_names
from icma_bench.prompts import render_prompt

# ------------------------------------------------------------------------------------------ post-processing


@pytest.mark.parametrize(
    ("text", "direction", "expected"),
    [
        (" \nCaption: The molecule is an acid.\n\nGenerate", "mol2caption", "The molecule is an acid."),
        ("Caption:The molecule is x", "mol2caption", "The molecule is x"),
        ("The molecule is x\nCaption: y", "mol2caption", "The molecule is x"),
        ("Molecule: [START_I_SMILES]CCO[END_I_SMILES]\n", "caption2mol", "CCO"),
        ("[START_SMILES]C(=O)O[END_SMILES]", "caption2mol", "C(=O)O"),
        ("Caption: CCO", "caption2mol", "Caption: CCO"),  # the other direction's prefix is part of the answer
        ("Molecule: CCO", "mol2caption", "Molecule: CCO"),
        ("Caption:", "mol2caption", ""),
        ("\n\n  \n", "mol2caption", ""),
        ("", "caption2mol", ""),
        (None, "caption2mol", ""),
    ],
)
def test_extract_answer(text, direction, expected):
    assert extract_answer(text, direction) == expected


# ------------------------------------------------------------------------------------------ aggregation

CAPTIONS = ["The molecule is an alcohol.", "The molecule is a carboxylic acid anion.", "It is a ketone."]
SMILES = ["CCO", "CC(=O)[O-]", "CC(C)=O"]


def _docs(direction: str, targets: list[str], protocol="molt5+strict", used=(2, 2, 2)) -> list[dict]:
    return [
        {
            "task": direction,
            "target": t,
            "protocol": protocol,
            "n_shots_requested": 2,
            "n_shots_used": u,
            "budget": "100 tokens (test)",
        }
        for t, u in zip(targets, used, strict=False)
    ]


def _aggregate_like_lm_eval(direction, outputs, targets, protocol="molt5+strict", used=(2, 2, 2)):
    """What lm-eval does: process_results per doc, then one aggregation call per key, in key order."""
    agg = CorpusAggregation()
    per_doc = [
        process_results(d, [o])
        for d, o in zip(_docs(direction, targets, protocol, used), outputs, strict=True)
    ]
    return {key: agg([r[key] for r in per_doc]) for key in per_doc[0]}, per_doc


@pytest.mark.parametrize(
    ("direction", "outputs", "targets"),
    [
        ("mol2caption", ["Caption: The molecule is an alcohol.", "\nCaption: It is an acid.", ""], CAPTIONS),
        ("caption2mol", ["Molecule: CCO", "CC(=O)O", "not a molecule"], SMILES),
    ],
)
@pytest.mark.parametrize("protocol", ["molt5+strict", "strict", "molt5+icma+strict"])
def test_aggregation_equals_one_direct_compute(monkeypatch, direction, outputs, targets, protocol):
    import icma_bench.metrics as metrics

    monkeypatch.setenv("ICMA_BENCH_T5_TOKENIZER", str(SHARED_DATA / "molt5_t5_tokenizer"))
    calls = []
    real = metrics.compute

    def counting(task, predictions, references, **kw):
        calls.append(kw["protocol"])
        return real(task, predictions, references, **kw)

    monkeypatch.setattr(metrics, "compute", counting)
    got, per_doc = _aggregate_like_lm_eval(direction, outputs, targets, protocol)
    protocols = reported_protocols(direction, protocol)
    assert calls == [protocols]  # once per task, not once per metric
    assert list(got) == reported_metrics(direction, protocol)
    predictions = [extract_answer(o, direction) for o in outputs]
    ref = real(direction, predictions, targets, protocol=protocols, per_item=True)
    assert got["signature"] == ref.signature_string and f"protocol:{'+'.join(protocols)}|" in got["signature"]
    assert got["counts"] == "|".join(f"{k}:{v}" for k, v in ref.counts.items())
    assert got["scored"] == 3 and got["shots_used"] == 2.0
    for p in protocols:
        for name in metrics.metric_names(direction):
            key = name if p == "molt5" else f"{p}_{name}"
            assert got[key] == pytest.approx(ref.scores[ref.key(name, p)], nan_ok=True), key
            # each document's own score, written into the record lm-eval logs
            assert [d["scored"]["scores"][key] for d in per_doc] == ref.items[p][name]
    assert len(got) == 5 + len(ref.scores)


def test_equivalent_protocols_are_reported_once():
    """Captions have no validity notion (strict == molt5); molecules are MolT5's scripts under icma."""
    assert reported_protocols("mol2caption", "molt5+icma+strict") == ("molt5", "icma")
    assert reported_protocols("caption2mol", "molt5+icma+strict") == ("molt5", "strict")
    assert reported_protocols("mol2caption", "strict") == ("strict",)
    assert reported_protocols("caption2mol", "icma") == ("icma",)


def test_budget_report_says_what_the_budget_did():
    got, _ = _aggregate_like_lm_eval("caption2mol", ["CCO", "CC", "C"], SMILES, used=(2, 0, 1))
    budget = dict(item.split(":", 1) for item in got["budget"].split("|"))
    assert budget["shots_requested"] == "2" and budget["shots_used_min"] == "0"
    assert budget["docs_lost_shots"] == "2" and budget["queries_over_budget"] == "0"
    assert budget["limit"] == "100 tokens (test)"
    assert got["shots_used"] == 1.0


def test_reported_metrics_per_protocol():
    head = ["scored", "signature", "counts", "budget", "shots_used"]
    assert reported_metrics("mol2caption", "molt5") == [*head, *metrics_names("mol2caption")]
    strict = reported_metrics("caption2mol", "strict")
    assert strict[5:] == [f"strict_{n}" for n in metrics_names("caption2mol")]
    assert reported_metrics("caption2mol") == [*head, *metrics_names("caption2mol", "both")]


def test_process_results_logs_the_prediction_once():
    out = process_results(_docs("mol2caption", CAPTIONS[:1])[0], ["Caption: The molecule is an alcohol.\n"])
    first, *rest = out.values()
    assert list(out)[0] == "scored"
    assert first["prediction"] == "The molecule is an alcohol." and first["reference"] == CAPTIONS[0]
    assert all(isinstance(v, tuple) and v[1] == first["digest"] for v in rest)


def test_aggregation_refuses_an_unscored_corpus():
    out = process_results(_docs("mol2caption", CAPTIONS[:1])[0], ["x"])
    with pytest.raises(RuntimeError, match="not scored yet"):
        CorpusAggregation()([out["bleu2"]])


# ------------------------------------------------------------------------------------------ baselines


def _prompt(
    direction, template="icma", shots=(("CCO", "The molecule is ethanol."), ("CC", "It is ethane.")), **kw
):
    query = "CC(=O)O" if direction == "mol2caption" else "The molecule is acetic acid."
    return render_prompt(direction, query, shots if template == "icma" else (), template=template, **kw)


def test_copy_model_answers_with_the_most_similar_shot():
    m2c, c2m = _prompt("mol2caption"), _prompt("caption2mol")
    assert parse_shot_answers(m2c) == ["It is ethane.", "The molecule is ethanol."]  # reversed: rank 1 last
    assert CopyModel().answer(m2c) == "The molecule is ethanol."
    assert CopyModel().answer(c2m) == "CCO"
    assert CopyModel(reverse=False).answer(_prompt("caption2mol", reverse=False)) == "CCO"
    assert CopyModel().answer(_prompt("mol2caption", "direct")) == ""
    assert CopyModel().answer(_prompt("mol2caption", shots=())) == ""
    galactica = CopyModel().answer(_prompt("caption2mol", galactica=True))
    assert (
        galactica == "[START_I_SMILES]CCO[END_I_SMILES]" and extract_answer(galactica, "caption2mol") == "CCO"
    )
    with pytest.raises(ValueError, match="reverse"):
        CopyModel(reverse="no")


@pytest.mark.parametrize("template", ["icma", "direct"])
def test_echo_model_answers_with_the_query(template):
    assert EchoModel().answer(_prompt("mol2caption", template)) == "CC(=O)O"
    assert EchoModel().answer(_prompt("caption2mol", template)) == "The molecule is acetic acid."
    assert parse_query("Some other prompt") == ""


def test_baselines_only_generate():
    with pytest.raises(NotImplementedError, match="only generates"):
        CopyModel(pretrained="x", batch_size=1, device="cpu").loglikelihood([])


# ------------------------------------------------------------------------------------------ budget


def test_budget_without_tokenizer(caplog):
    assert resolve_budget("off", pretrained="gpt2") == Budget(None, "tokens", None, "budget=off")
    assert resolve_budget("auto", pretrained="icma-copy").limit is None  # a baseline's label: nothing to load
    plan = resolve_budget(300, pretrained="icma-copy")
    assert (plan.limit, plan.unit, plan.count) == (300, "characters", None)
    with caplog.at_level(logging.WARNING, logger="icma_bench.harness.budget"):
        assert resolve_budget("auto", pretrained="/nonexistent/model").limit is None
    assert "no tokenizer could be loaded" in caplog.text


@pytest.mark.parametrize("bad", [0, -5, "many", 2.5, True])
def test_budget_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="budget must be"):
        resolve_budget(bad)


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny_gpt2"), n_positions=700)


def test_budget_with_a_tokenizer(tiny_gpt2):
    plan = resolve_budget("auto", pretrained=str(tiny_gpt2), max_gen_toks=32)
    assert (plan.limit, plan.unit) == (700 - 32, "tokens")  # n_positions of the saved config
    assert plan.count("CCO\n") == 4  # one token per character
    assert resolve_budget("auto", pretrained=str(tiny_gpt2), max_length=100, max_gen_toks=32).limit == 68
    assert (
        resolve_budget(
            "auto", pretrained="x", tokenizer=str(tiny_gpt2), max_model_len=90, max_gen_toks=10
        ).limit
        == 80
    )
    assert resolve_budget(50, pretrained=str(tiny_gpt2)).limit == 50
    with pytest.raises(ValueError, match="no room"):
        resolve_budget("auto", pretrained=str(tiny_gpt2), max_length=16, max_gen_toks=32)


# ------------------------------------------------------------------------------------------ documents


def test_load_documents_builds_the_eval_split(shared_data):
    from icma_bench.harness.hooks import load_documents

    common = {"dataset": "chebi20", "data_path": str(shared_data), "pool_split": "validation", "limit": 3}
    icma = load_documents(direction="caption2mol", variant="icma", pretrained="icma-copy", **common)["test"]
    direct = load_documents(direction="mol2caption", variant="direct", shots=5, **common)["test"]
    assert len(icma) == len(direct) == 3
    assert [len(d["shots"]) for d in icma] == [2, 2, 2] and icma[0]["protocol"] == "molt5+icma+strict"
    assert icma[0]["method"] == "bm25" and icma[0]["budget"] == "unlimited"
    assert direct[0]["shots"] == [] and direct[0]["prompt"].startswith(
        "Generate a caption for the molecule: "
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"protocol": "lenient"}, "unknown protocol"),
        ({"galactica": "yes"}, "true or false"),
        ({"variant": "x"}, "variant"),
    ],
)
def test_load_documents_rejects_bad_overrides(override, message):
    from icma_bench.harness.hooks import load_documents

    kwargs = {"dataset": "chebi20", "direction": "mol2caption", "variant": "icma", **override}
    with pytest.raises(ValueError, match=message):
        load_documents(**kwargs)


def test_group_warning_filter_only_hides_icma_groups():
    from icma_bench.harness.discovery import _ExpectedGroupWarnings

    def record(msg):
        return logging.LogRecord("lm_eval.api.group", logging.WARNING, __file__, 1, msg, None, None)

    keep = _ExpectedGroupWarnings().filter
    assert not keep(
        record("Group 'icma_chebi20': metric 'bleu2,none' is missing in 1/2 tasks. Missing in: x")
    )
    assert keep(record("Group 'mmlu': metric 'acc,none' is missing in 1/2 tasks. Missing in: x"))
    assert keep(record("Group 'icma': no values found for metric 'x,none' across any tasks."))
