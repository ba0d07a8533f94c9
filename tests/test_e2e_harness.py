"""End to end through real lm-eval, offline, on CPU: the stock CLI in a subprocess (no --include_path) and the
Python API, with the retrieval baseline and with a tiny GPT-2 built here (1 layer, 32 dims, a character tokenizer,
700 positions: small enough that the context budget must drop shots)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from icma_bench.harness.hooks import reported_metrics

M2C, C2M = "icma_chebi20_mol2caption", "icma_chebi20_caption2mol"
N_POSITIONS, MAX_GEN_TOKS, LIMIT = 700, 24, 20


def build_tiny_gpt2(path: Path, n_positions: int = N_POSITIONS) -> Path:
    """A randomly initialised 1-layer GPT-2 with a character-level tokenizer, saved as an HF model folder."""
    import torch
    from tokenizers import Tokenizer, decoders, models
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    chars = [chr(i) for i in range(32, 127)] + ["\n", "\t"]
    vocab = {"<unk>": 0, "<|endoftext|>": 1, **{c: i + 2 for i, c in enumerate(chars)}}
    core = Tokenizer(
        models.BPE(vocab=vocab, merges=[], unk_token="<unk>")
    )  # no merges: one token per character
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="<unk>",
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        model_max_length=n_positions,
    )
    config = GPT2Config(
        vocab_size=len(vocab),
        n_positions=n_positions,
        n_embd=32,
        n_layer=1,
        n_head=2,
        bos_token_id=1,
        eos_token_id=1,
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> Path:
    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny_gpt2"))


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One retrieval cache for every end-to-end run here (the per-test cache would redo the retrieval each time)."""
    return tmp_path_factory.mktemp("e2e_cache")


def _metadata(shared_data: Path, **extra) -> str:
    """Data from ../shared with validation as the pool (no full train split here); only the documents evaluated."""
    return json.dumps({"data_path": str(shared_data), "pool_split": "validation", "limit": LIMIT, **extra})


def _run_lm_eval(args: list[str], cache: Path, out: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("lm_eval") or shutil.which("lm-eval")
    cmd = [exe] if exe else [sys.executable, "-m", "lm_eval"]
    env = {**os.environ, "ICMA_BENCH_CACHE": str(cache)}
    env.pop("ICMA_BENCH_NO_HOOK", None)
    proc = subprocess.run(
        [*cmd, *args, "--output_path", str(out), "--log_samples"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


def _results(out: Path) -> tuple[dict, dict[str, list[dict]]]:
    (results_file,) = out.rglob("results_*.json")
    samples = {}
    for path in results_file.parent.glob("samples_*.jsonl"):
        task = path.name[len("samples_") :].rsplit("_", 1)[0]
        samples[task] = [json.loads(line) for line in path.read_text().splitlines()]
    return json.loads(results_file.read_text()), samples


def _context(sample: dict) -> str:
    """The context the model received (the samples file nests it as gen_args_0/arg_0; in memory it is args[0])."""
    arguments = sample["arguments"]
    return arguments["gen_args_0"]["arg_0"] if isinstance(arguments, dict) else arguments[0][0]


def _check_report(results: dict, samples: dict[str, list[dict]], tasks=(M2C, C2M)) -> None:
    for task in tasks:
        direction = task.rsplit("_", 1)[-1]
        row = results["results"][task]
        for key in reported_metrics(direction):
            assert f"{key},none" in row, key
        assert row["signature,none"].startswith(f"protocol:both|task:{direction}|")
        assert row["counts,none"].startswith(f"n:{LIMIT}|")
        assert results["n-samples"][task]["effective"] == LIMIT
        logged = samples[task]
        assert len(logged) == LIMIT
        for sample in logged:
            doc = sample["doc"]
            assert doc["prompt"] == _context(sample)  # what the model saw is the documented prompt
            assert doc["n_shots_used"] == len(doc["shots"])
            record = sample["signature"]
            assert record["reference"] == doc["target"] == sample["target"]


def _check_icma_prompts(samples: list[dict]) -> None:
    """The 2-shot ICMA prompt: shots in reversed rank order, the most similar right before the query."""
    for sample in samples:
        shots = sample["doc"]["shots"]
        assert [s["rank"] for s in shots] == [2, 1]
        assert (
            shots[-1]["description"] in sample["doc"]["prompt"]
            or shots[-1]["smiles"] in sample["doc"]["prompt"]
        )


def test_stock_cli_copy_baseline(shared_data, shared_cache, tmp_path):
    proc = _run_lm_eval(
        [
            "--model", "icma-copy",
            "--model_args", "pretrained=icma-copy",
            "--tasks", "icma_chebi20",
            "--limit", str(LIMIT),
            "--metadata", _metadata(shared_data),
        ],
        shared_cache,
        tmp_path,
    )  # fmt: skip
    results, samples = _results(tmp_path)
    _check_report(results, samples)
    for task in (M2C, C2M):
        _check_icma_prompts(samples[task])
        for sample in samples[task]:  # the copy baseline answers with the rank-1 shot's target
            rank1 = sample["doc"]["shots"][-1]
            expected = rank1["description"] if task == M2C else rank1["smiles"]
            assert sample["signature"]["prediction"] == expected
    group = results["groups"]["icma_chebi20"]
    for key in ("bleu4", "meteor", "strict_bleu4", "exact_match", "validity", "strict_morgan_fts"):
        owner = M2C if key.removeprefix("strict_") in ("bleu4", "meteor") else C2M
        assert group[f"{key},none"] == pytest.approx(results["results"][owner][f"{key},none"])
    assert results["results"][C2M]["validity,none"] == 1.0  # the copied training molecules all parse
    assert "Left truncation" not in proc.stderr
    assert (tmp_path / "icma-copy").is_dir()  # results folder named after pretrained=


def test_stock_cli_tiny_gpt2_fits_the_budget(shared_data, shared_cache, tiny_gpt2, tmp_path):
    proc = _run_lm_eval(
        [
            "--model", "hf",
            "--model_args", f"pretrained={tiny_gpt2}",
            "--device", "cpu",
            "--batch_size", "8",
            "--tasks", f"{M2C},{C2M}",
            "--limit", str(LIMIT),
            "--gen_kwargs", f"max_gen_toks={MAX_GEN_TOKS}",
            "--metadata", _metadata(shared_data, max_gen_toks=MAX_GEN_TOKS),
        ],
        shared_cache,
        tmp_path,
    )  # fmt: skip
    results, samples = _results(tmp_path)
    _check_report(results, samples)
    assert "Left truncation" not in proc.stderr + proc.stdout
    used = []
    for task in (M2C, C2M):
        for sample in samples[task]:
            doc = sample["doc"]
            assert (
                doc["prompt_length"] == len(doc["prompt"]) <= N_POSITIONS - MAX_GEN_TOKS
            )  # 1 token per character
            assert doc["budget"].startswith(f"{N_POSITIONS - MAX_GEN_TOKS} tokens")
            used.append(doc["n_shots_used"])
    assert min(used) < 2  # the budget had to drop shots ...
    assert max(used) > 0  # ... but not always all of them


def test_python_api_tiny_gpt2(shared_data, shared_cache, tiny_gpt2, monkeypatch):
    """simple_evaluate with an explicit TaskManager(include_path=task_dir()) and the model args in its metadata."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    from icma_bench.harness import task_dir

    monkeypatch.setenv("ICMA_BENCH_CACHE", str(shared_cache))
    model_args = {"pretrained": str(tiny_gpt2), "device": "cpu"}
    meta = json.loads(_metadata(shared_data, max_gen_toks=MAX_GEN_TOKS, protocol="strict"))
    manager = TaskManager(
        include_path=str(task_dir()), include_defaults=False, metadata={**model_args, **meta}
    )
    results = lm_eval.simple_evaluate(
        model="hf",
        model_args=model_args,
        tasks=[C2M, "icma_chebi20_caption2mol_direct"],
        task_manager=manager,
        limit=LIMIT,
        batch_size=8,
        gen_kwargs={"max_gen_toks": MAX_GEN_TOKS},
        log_samples=True,
    )
    for task in (C2M, "icma_chebi20_caption2mol_direct"):
        row = results["results"][task]
        assert {k.split(",")[0] for k in row if k.endswith(",none") and "_stderr" not in k} == set(
            reported_metrics("caption2mol", "strict")
        )
        assert row["signature,none"].startswith("protocol:strict|")
        assert 0.0 <= row["strict_validity,none"] <= 1.0
        docs = [s["doc"] for s in results["samples"][task]]
        assert all(d["prompt_length"] <= N_POSITIONS - MAX_GEN_TOKS for d in docs)
    direct = [s["doc"] for s in results["samples"]["icma_chebi20_caption2mol_direct"]]
    assert all(d["shots"] == [] and d["prompt"].startswith("Generate a molecule that: ") for d in direct)
