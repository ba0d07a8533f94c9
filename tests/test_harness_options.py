"""Task options: every --metadata key checked (unknown keys, types, ranges), model arguments told apart."""

from __future__ import annotations

import logging

import pytest

from icma_bench.harness.options import (
    OPTIONS,
    RUN,
    RunContext,
    TaskOptionError,
    parse_gen_max_tokens,
    parse_model_args,
    validate_options,
)

LM_EVAL = {"version": 1.2, "config_source": "/x.yaml"}
RUN_HF = RunContext(model="hf", model_arg_keys=frozenset({"pretrained", "dtype", "peft", "device"}))


def test_defaults_and_lm_eval_keys():
    opts = validate_options(LM_EVAL, run=RUN_HF)
    assert opts.shots == 2 and opts.reverse is True and opts.protocol == "molt5+icma+strict"
    assert opts.candidates is None and opts.data_path is None


def test_unknown_key_names_the_closest_and_the_list():
    with pytest.raises(TaskOptionError) as exc:
        validate_options({"shot": 4}, run=RUN_HF)
    msg = str(exc.value)
    assert "unknown key 'shot'" in msg and "Did you mean 'shots'?" in msg
    for key in OPTIONS:
        if key != "max_gen_toks":
            assert key in msg
    with pytest.raises(TaskOptionError, match="Did you mean 'random_walk_p'"):
        validate_options({"random_walk": 0.3}, run=RUN_HF)
    with pytest.raises(TaskOptionError, match="unknown key 'temperature'"):
        validate_options({"temperature": 0.7}, run=RUN_HF)  # not a model argument of this run either


def test_model_arguments_of_the_run_are_not_options():
    opts = validate_options({"pretrained": "gpt2", "dtype": "bfloat16", "peft": "/a", "shots": 3}, run=RUN_HF)
    assert opts.shots == 3 and opts.model_args == {"pretrained": "gpt2", "dtype": "bfloat16", "peft": "/a"}


def test_outside_simple_evaluate_typos_still_fail(caplog):
    assert RUN.get() is None
    with pytest.raises(TaskOptionError, match="Did you mean 'shots'"):
        validate_options({"shotss": 2})
    with caplog.at_level(logging.WARNING, logger="icma_bench.harness.options"):
        opts = validate_options({"dtype": "bfloat16"})
    assert opts.model_args == {"dtype": "bfloat16"} and "taken for model arguments" in caplog.text


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("shots", -1, "whole number >= 0"),
        ("shots", 1.5, "whole number >= 0"),
        ("shots", "abc", "whole number >= 0"),
        ("shots", True, "whole number >= 0"),
        ("limit", 0, "whole number >= 1"),
        ("candidates", 0, "whole number >= 1"),
        ("random_walk_p", 1.0, "in [0, 1)"),
        ("random_walk_p", -0.1, "in [0, 1)"),
        ("random_walk_p", "often", "in [0, 1)"),
        ("random_walk_seed", -1, "whole number >= 0"),
        ("reverse", "maybe", "true or false"),
        ("galactica", 1, "true or false"),
        ("m2c_method", "bm25", "one of"),  # would search the reference captions
        ("c2m_method", "rdkit_fp", "one of"),  # would search the reference molecules
        ("pool_split", "dev", "one of"),
        ("protocol", "lenient", "unknown protocol"),
        ("budget", -3, "auto, off or a whole number"),
        ("data_path", "/nonexistent/place", "does not exist"),
        ("graph_weights", "/nonexistent/gin.pth", "does not exist"),
        ("max_gen_toks", 64, "--gen_kwargs max_gen_toks=64"),
    ],
)
def test_bad_values_fail_naming_the_key(key, value, message):
    with pytest.raises(TaskOptionError) as exc:
        validate_options({key: value}, run=RUN_HF)
    assert message in str(exc.value)
    assert str(exc.value).startswith(f"--metadata {key}=")


def test_candidates_must_cover_the_shots():
    with pytest.raises(TaskOptionError, match="candidates must be >= shots"):
        validate_options({"shots": 5, "candidates": 3}, run=RUN_HF)
    assert validate_options({"shots": 5, "candidates": 5}, run=RUN_HF).candidates == 5


def test_values_from_the_command_line_are_coerced():
    opts = validate_options(
        {"shots": "4", "reverse": "false", "random_walk_p": "0.25", "protocol": "icma", "budget": "off"},
        run=RUN_HF,
    )
    assert (opts.shots, opts.reverse, opts.random_walk_p, opts.protocol, opts.budget) == (
        4,
        False,
        0.25,
        "icma",
        "off",
    )


def test_run_context_parsers():
    assert parse_model_args("pretrained=gpt2,dtype=bfloat16") == {"pretrained": "gpt2", "dtype": "bfloat16"}
    assert parse_model_args({"pretrained": "x"}) == {"pretrained": "x"} and parse_model_args(None) == {}
    assert parse_gen_max_tokens("max_gen_toks=64,temperature=0") == 64
    assert parse_gen_max_tokens({"max_new_tokens": 32}) == 32 and parse_gen_max_tokens(None) is None
    with pytest.raises(TaskOptionError, match="max_gen_toks"):
        parse_gen_max_tokens("max_gen_toks=-2")


def test_simple_evaluate_records_the_run(monkeypatch):
    """The install hook wraps simple_evaluate: inside it the hook knows the model args and the generation length."""
    import lm_eval.evaluator

    from icma_bench.harness import discovery

    seen = {}

    def fake_simple_evaluate(model=None, model_args=None, gen_kwargs=None, **kwargs):
        seen["run"] = RUN.get()
        return "ok"

    monkeypatch.setattr(lm_eval.evaluator, "simple_evaluate", fake_simple_evaluate)
    discovery._patch_simple_evaluate()
    import lm_eval

    assert getattr(lm_eval.simple_evaluate, "__icma_bench__", False)  # what lm-eval's CLI calls
    wrapped = lm_eval.evaluator.simple_evaluate
    assert getattr(wrapped, "__icma_bench__", False)
    assert wrapped(model="hf", model_args="pretrained=x,dtype=float32", gen_kwargs="max_gen_toks=77") == "ok"
    run = seen["run"]
    assert run.model == "hf" and run.model_arg_keys == {"pretrained", "dtype"} and run.max_gen_toks == 77
    assert RUN.get() is None


def test_sbert_model_takes_a_local_path(shared_data, tmp_path):
    """--metadata sbert_model=PATH: the sbert retriever works offline from a local sentence-transformers folder."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from icma_bench.harness.hooks import load_documents

    model_dir = tmp_path / "tiny-sbert"
    tok = BertTokenizerFast(
        vocab=str(shared_data / "scibert_scivocab_uncased" / "vocab.txt"), do_lower_case=True
    )
    config = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    lines = (shared_data / "chebi20" / "molt5" / "validation.txt").read_text(encoding="utf-8").splitlines()
    data = tmp_path / "data" / "chebi20"
    data.mkdir(parents=True)
    (data / "test.txt").write_text("\n".join(lines[:4]) + "\n", encoding="utf-8")
    (data / "validation.txt").write_text("\n".join([lines[0], *lines[4:40]]) + "\n", encoding="utf-8")
    docs = load_documents(
        dataset="chebi20",
        direction="caption2mol",
        variant="icma",
        data_path=str(tmp_path / "data"),
        pool_split="validation",
        limit=2,
        c2m_method="sbert",
        sbert_model=str(model_dir),
        pretrained="icma-copy",
    )["test"]
    assert [d["method"] for d in docs] == ["sbert", "sbert"]
    assert all(len(d["shots"]) == 2 for d in docs)


def test_missing_icma_tokenizer_fails_before_the_model_runs(monkeypatch, tmp_path):
    """Metric resources are resolved when the documents are built, with the way out named."""
    from icma_bench.harness.hooks import check_metric_resources
    from icma_bench.metrics import ResourceNotFoundError, load_icma_tokenizer

    monkeypatch.setenv("ICMA_BENCH_T5_TOKENIZER", str(tmp_path / "missing"))
    load_icma_tokenizer.cache_clear()
    try:
        with pytest.raises(ResourceNotFoundError, match=r"ICMA_BENCH_T5_TOKENIZER.*protocol=molt5\+strict"):
            check_metric_resources("mol2caption", "molt5+icma+strict")
        check_metric_resources("mol2caption", "molt5+strict")  # no icma: nothing missing
        check_metric_resources("caption2mol", "molt5+icma+strict")  # molecules need no caption tokenizer
    finally:
        load_icma_tokenizer.cache_clear()
