"""Recipes: every shipped YAML validates; bad keys and values fail naming the key, before any weights load."""

from __future__ import annotations

import json

import pytest
import yaml

from icma_bench.cli import main
from icma_bench.finetune import config as config_mod
from icma_bench.finetune.config import (
    ConfigError,
    build_config,
    config_dir,
    dump_config,
    load_config,
    parse_overrides,
    shipped_recipes,
)


def test_every_shipped_recipe_validates():
    recipes = shipped_recipes()
    assert {
        "galactica-125m",
        "galactica-1.3b",
        "mistral-7b-instruct",
        "llama-3-8b-instruct",
        "molt5-base",
    } <= set(recipes)
    for name, path in recipes.items():
        cfg = load_config(path)
        assert cfg.name == name
        assert load_config(name) == cfg  # a shipped recipe by name
        header = path.read_text().split("\nmodel:", 1)[0]
        for word in ("Command:", "GPU memory:", "Time / epoch:", "estimate"):
            assert word in header, (name, word)
    icma = load_config("galactica-125m")
    assert (icma.method, icma.learning_rate, icma.batch_size, icma.epochs, icma.shots, icma.cutoff_len) == (
        "full",
        2e-4,
        32,
        10.0,
        2,
        1024,
    )
    for name in ("galactica-1.3b", "mistral-7b-instruct"):
        cfg = load_config(name)
        assert (
            cfg.method,
            cfg.lora_r,
            cfg.lora_alpha,
            cfg.lora_dropout,
            cfg.learning_rate,
            cfg.cutoff_len,
        ) == ("lora", 32, 64, 0.1, 3e-4, 2048)
    assert load_config("mistral-7b-instruct").load_in == "8bit"
    assert load_config("molt5-base").model_type == "seq2seq"
    assert load_config("galactica-125m-sft").template == "direct"


def test_shipped_accelerate_configs_parse():
    files = sorted((config_dir() / "accelerate").glob("*.yaml"))
    kinds = {yaml.safe_load(p.read_text())["distributed_type"] for p in files}
    assert kinds == {"MULTI_GPU", "FSDP", "DEEPSPEED"}
    assert all("accelerate launch --config_file" in p.read_text() for p in files)


def test_unknown_key_names_the_closest_and_the_list():
    with pytest.raises(ConfigError) as err:
        build_config({"model": "m", "lerning_rate": 1e-4})
    msg = str(err.value)
    assert "'lerning_rate'" in msg and "did you mean 'learning_rate'?" in msg and "cutoff_len" in msg


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"shots": -1}, "shots"),
        ({"shots": "two"}, "shots: expected an integer"),
        ({"precision": "fp8"}, "precision: 'fp8'"),
        ({"task": "mol2text"}, "task: 'mol2text'"),
        ({"random_walk_p": 1.0}, "random_walk_p"),
        ({"batch_size": 30, "micro_batch_size": 4}, "batch_size"),
        ({"m2c_method": "bm25"}, "m2c_method"),
        ({"load_in": "8bit", "method": "full"}, "load_in"),
        ({"train_on_inputs": "yes"}, "train_on_inputs: expected true or false"),
        ({"eval_split": "train"}, "eval_split"),
        ({"model": None}, "model: a value is required"),
    ],
)
def test_bad_value_names_its_key(values, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        build_config({"model": "m", **values})


def test_missing_model_is_named():
    with pytest.raises(ConfigError, match=r"missing required key\(s\) \['model'\]"):
        build_config({})


def test_overrides_and_resolved_yaml_round_trip(tmp_path):
    assert parse_overrides(["shots=4", "report_to=[wandb]", "limit=null", "model=a=b"]) == {
        "shots": 4, "report_to": ["wandb"], "limit": None, "model": "a=b",
    }  # fmt: skip
    cfg = load_config("galactica-1.3b", ["shots=4", "learning_rate=1e-4", "report_to=tensorboard"])
    assert (cfg.shots, cfg.learning_rate, cfg.report_to) == (4, 1e-4, ("tensorboard",))
    path = tmp_path / "resolved.yaml"
    path.write_text(dump_config(cfg))
    assert load_config(path) == cfg
    with pytest.raises(ConfigError, match="not key=value"):
        parse_overrides(["shots"])


def test_bad_recipe_fails_before_any_weights_load(tmp_path, monkeypatch, capsys):
    """Bad keys, bad values and an unrunnable setting all exit 2 with one line; no model code is reached."""
    from icma_bench.finetune import model as model_mod
    from icma_bench.finetune import recipe as recipe_mod

    def boom(*args, **kwargs):
        raise AssertionError("weights or model config loaded before validation")

    for name in ("load_model", "load_model_config", "load_tokenizer", "build_empty_model"):
        monkeypatch.setattr(model_mod, name, boom)
        monkeypatch.setattr(recipe_mod, name, boom)
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(
        yaml.safe_dump({"model": "some/model", "output_dir": str(tmp_path / "out"), "cutof_len": 10})
    )
    assert main(["finetune", str(recipe)]) == 2
    assert "unknown key 'cutof_len': did you mean 'cutoff_len'?" in capsys.readouterr().err
    recipe.write_text(yaml.safe_dump({"model": "some/model", "output_dir": str(tmp_path / "out")}))
    assert main(["finetune", str(recipe), "lora_dropout=2"]) == 2
    assert "lora_dropout" in capsys.readouterr().err
    # Valid recipe, but no bitsandbytes / CUDA here: the runtime check fails before the model is touched.
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert main(["finetune", str(recipe), "load_in=8bit", "precision=fp16"]) == 2
    assert "fp16 needs a CUDA device" in capsys.readouterr().err
    assert main(["finetune", str(recipe), "load_in=4bit"]) == 2
    assert "load_in: 4bit" in capsys.readouterr().err
    assert not (tmp_path / "out" / "adapter_model.safetensors").exists()
    assert main(["finetune", "no-such-recipe"]) == 2
    assert "shipped:" in capsys.readouterr().err


def test_dry_run_resolves_lora_targets_without_weights(tmp_path, capsys):
    from tiny_models import build_tiny_gpt2, build_tiny_t5

    gpt2 = build_tiny_gpt2(tmp_path / "gpt2")
    t5 = build_tiny_t5(tmp_path / "t5")
    (gpt2 / "model.safetensors").unlink()  # the dry run must not need the weights
    assert main(["finetune", "galactica-1.3b", f"model={gpt2}", "--dry-run"]) == 0
    out = capsys.readouterr().out
    plan = json.loads(out.rsplit("# plan: ", 1)[1])
    assert plan["lora_targets"] == ["c_attn", "c_fc", "c_proj"] and plan["model_type"] == "causal"
    assert plan["accumulation_steps"] == 32
    assert yaml.safe_load(out.rsplit("# plan: ", 1)[0])["model"] == str(gpt2)
    assert main(["finetune", "galactica-1.3b", f"model={t5}", "--dry-run"]) == 0
    plan = json.loads(capsys.readouterr().out.rsplit("# plan: ", 1)[1])
    assert plan["lora_targets"] == ["k", "o", "q", "v", "wi", "wo"] and plan["model_type"] == "seq2seq"


def test_field_names_are_the_dataclass():
    assert config_mod.FIELD_NAMES[0] == "model" and "extra" in config_mod.FIELD_NAMES


@pytest.mark.parametrize(
    ("arch", "expected"),
    [
        ("opt", ["fc1", "fc2", "k_proj", "out_proj", "q_proj", "v_proj"]),  # Galactica
        ("mistral", ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]),
        ("llama", ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]),
    ],
)
def test_lora_targets_per_architecture(arch, expected):
    """Every linear layer but the head, from the module tree of a meta-device model (no weights)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, MistralConfig, OPTConfig

    from icma_bench.finetune.model import resolve_lora_targets

    small = {"vocab_size": 64, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = {
        "opt": lambda: OPTConfig(
            vocab_size=64,
            hidden_size=16,
            word_embed_proj_dim=16,
            ffn_dim=32,
            num_hidden_layers=1,
            num_attention_heads=2,
        ),  # fmt: skip
        "mistral": lambda: MistralConfig(**small, intermediate_size=32, num_key_value_heads=2),
        "llama": lambda: LlamaConfig(**small, intermediate_size=32, num_key_value_heads=2),
    }[arch]()
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    assert resolve_lora_targets(model) == expected
