"""Training on CPU with a tiny GPT-2 and a tiny T5 built here: the loss goes down, a resumed run continues with
identical state, and the saved adapter evaluates in stock lm_eval with peft=."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES

from icma_bench.finetune.config import build_config, load_config
from icma_bench.finetune.recipe import CONFIG_FILE, LOG_FILE, SUMMARY_FILE, run_finetune

DATA = FIXTURES / "retrieval"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run fastest on one thread (two threads on a shared 2-core machine spin for each other)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from tiny_models import build_tiny_gpt2, build_tiny_t5

    root = tmp_path_factory.mktemp("models")
    return build_tiny_gpt2(root / "gpt2"), build_tiny_t5(root / "t5")


def _cfg(model: Path, out: Path, **kw):
    values = {
        "model": str(model), "output_dir": str(out), "data_path": str(DATA), "task": "both",
        "cutoff_len": 600, "batch_size": 4, "micro_batch_size": 2, "learning_rate": 1e-2, "epochs": 3,
        "logging_steps": 1, "eval_limit": 0, "eval_strategy": "no", "save_strategy": "no", "show_progress": False,
        **kw,
    }  # fmt: skip
    return build_config(values)


def _losses(out: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (out / LOG_FILE).read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def test_short_lora_run_lowers_the_loss_and_writes_the_folder(models, shared_data, tmp_path):
    # shared_data: the validation scores need the SciBERT vocabulary and WordNet from ../shared
    out = run_finetune(
        _cfg(models[0], tmp_path / "run", eval_limit=2, eval_strategy="epoch", eval_max_new_tokens=8)
    )
    losses = _losses(out)
    first, last = losses[min(losses)], losses[max(losses)]
    assert last < first
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", CONFIG_FILE, LOG_FILE,
                 SUMMARY_FILE, "README.md"):  # fmt: skip
        assert (out / name).is_file(), name
    assert not (out / "training_args.bin").exists()
    assert load_config(out / CONFIG_FILE).output_dir == str(out)  # the resolved recipe re-runs as is
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert summary["lora_targets"] == ["c_attn", "c_fc", "c_proj"] and summary["tokens_seen"] > 0
    logged = [json.loads(line) for line in (out / LOG_FILE).read_text().splitlines()]
    assert any("eval_mol2caption/bleu4" in r and "eval_caption2mol/validity" in r for r in logged)
    assert any("eval_loss" in r for r in logged)
    card = (out / "README.md").read_text()
    assert (
        f"pretrained={models[0]},peft={out}" in card
        and "icma_chebi20_mol2caption,icma_chebi20_caption2mol" in card
    )


def test_seq2seq_full_run_lowers_the_loss(models, tmp_path):
    out = run_finetune(_cfg(models[1], tmp_path / "t5", method="full", learning_rate=3e-3, epochs=4))
    losses = _losses(out)
    assert losses[max(losses)] < losses[min(losses)]
    assert (out / "model.safetensors").is_file() and json.loads((out / SUMMARY_FILE).read_text())[
        "model_type"
    ] == "seq2seq"


def test_resume_continues_with_identical_state(models, tmp_path):
    """Stop after a checkpoint, resume from it: the next losses equal the uninterrupted run's."""
    common = {
        "max_steps": 6,
        "save_strategy": "steps",
        "save_steps": 3,
        "random_walk_p": 0.5,
        "candidates": 10,
    }
    full = run_finetune(_cfg(models[0], tmp_path / "full", **common))
    ref = _losses(full)
    assert sorted(ref) == [1, 2, 3, 4, 5, 6]
    ckpt = full / "checkpoints" / "checkpoint-3"
    assert ckpt.is_dir()
    resumed = run_finetune(_cfg(models[0], tmp_path / "resumed", resume=str(ckpt), **common))
    again = _losses(resumed)
    assert sorted(again) == [4, 5, 6]
    for step in (4, 5, 6):
        assert again[step] == pytest.approx(ref[step], rel=1e-6, abs=1e-7), step
    # resume=latest finds the newest checkpoint of the run's own folder
    latest = run_finetune(_cfg(models[0], tmp_path / "full", resume="latest", **{**common, "max_steps": 7}))
    assert max(_losses(latest)) == 7


def test_saved_adapter_evaluates_in_stock_lm_eval(models, shared_data, tmp_path):
    out = run_finetune(_cfg(models[0], tmp_path / "adapter", task="mol2caption", max_steps=2))
    exe = shutil.which("lm_eval")
    cmd = [exe] if exe else [sys.executable, "-m", "lm_eval"]
    # the generation length goes in --gen_kwargs only (the harness derives the prompt budget from it)
    meta = {"data_path": str(shared_data), "pool_split": "validation"}
    env = {**os.environ, "ICMA_BENCH_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    env.pop("ICMA_BENCH_NO_HOOK", None)
    proc = subprocess.run(
        [
            *cmd, "--model", "hf", "--model_args", f"pretrained={models[0]},peft={out}", "--device", "cpu",
            "--tasks", "icma_chebi20_mol2caption", "--limit", "4", "--batch_size", "4",
            "--gen_kwargs", "max_gen_toks=16", "--metadata", json.dumps(meta),
            "--output_path", str(tmp_path / "results"),
        ],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    (results,) = (tmp_path / "results").rglob("results_*.json")
    row = json.loads(results.read_text())["results"]["icma_chebi20_mol2caption"]
    assert isinstance(row["bleu4,none"], float) and isinstance(row["meteor,none"], float)
    assert row["counts,none"].startswith("n:4|")


@pytest.mark.slow
def test_two_process_ddp_on_cpu(models, tmp_path):
    """Two processes (torchrun, gloo on CPU): the sampler is sharded, the global batch kept, rank 0 writes."""
    out = tmp_path / "ddp"
    recipe = tmp_path / "ddp.yaml"
    recipe.write_text(
        json.dumps(
            {
                "model": str(models[0]),
                "output_dir": str(out),
                "data_path": str(DATA),
                "task": "both",
                "cutoff_len": 600,
                "batch_size": 4,
                "micro_batch_size": 2,
                "epochs": 1,
                "eval_limit": 0,
                "eval_strategy": "no",
                "save_strategy": "no",
                "show_progress": False,
            }  # fmt: skip
        )
    )
    env = {
        **os.environ,
        "ACCELERATE_USE_CPU": "1",
        "OMP_NUM_THREADS": "1",
        "ICMA_BENCH_CACHE": str(tmp_path / "c"),
    }
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "icma_bench"]
    proc = subprocess.run(
        [*cmd, "finetune", str(recipe)], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads((out / SUMMARY_FILE).read_text())
    # 24 examples / (2 per micro-batch x 2 processes x 1 accumulation step) = 6 optimiser steps
    assert (summary["world_size"], summary["accumulation_steps"], summary["global_steps"]) == (2, 1, 6)
