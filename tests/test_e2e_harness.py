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
from tiny_models import build_tiny_gpt2, build_tiny_t5

from icma_bench.harness.scoring import reported_metrics

M2C, C2M = "icma_chebi20_mol2caption", "icma_chebi20_caption2mol"
N_POSITIONS, MAX_GEN_TOKS, LIMIT = 700, 24, 20


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> Path:
    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny_gpt2"), n_positions=N_POSITIONS)


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
        protocols = "molt5+icma" if direction == "mol2caption" else "molt5+strict"
        assert row["signature,none"].startswith(f"protocol:{protocols}|task:{direction}|")
        assert row["scored,none"] == LIMIT
        assert row["counts,none"].startswith(f"n:{LIMIT}|")
        assert results["n-samples"][task]["effective"] == LIMIT
        logged = samples[task]
        assert len(logged) == LIMIT
        for sample in logged:
            doc = sample["doc"]
            assert doc["prompt"] == _context(sample)  # what the model saw is the documented prompt
            assert doc["n_shots_used"] == len(doc["shots"])
            record = sample["scored"]  # the post-processed prediction, the reference, per-document scores
            assert record["reference"] == doc["target"] == sample["target"]
            assert isinstance(record["prediction"], str)
            assert set(record["scores"]) == set(reported_metrics(direction)[5:])


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
            assert sample["scored"]["prediction"] == expected
    group = results["groups"]["icma_chebi20"]
    for key in ("bleu4", "meteor", "icma_bleu4", "exact_match", "validity", "strict_morgan_fts"):
        owner = M2C if key.removeprefix("icma_") in ("bleu4", "meteor") else C2M
        assert group[f"{key},none"] == pytest.approx(results["results"][owner][f"{key},none"])
    assert results["results"][C2M]["validity,none"] == 1.0  # the copied training molecules all parse
    assert "Left truncation" not in proc.stderr
    assert (tmp_path / "icma-copy").is_dir()  # results folder named after pretrained=
    # the printed tables fit 120 columns, hold no text entries, and label the group's metrics with their direction
    tables = [line for line in proc.stdout.splitlines() if line.startswith("|")]
    assert tables and max(len(line) for line in tables) <= 120
    assert not any("protocol:" in line for line in tables)
    assert any("mol2caption/bleu4" in line for line in tables) and any(
        "caption2mol/validity" in line for line in tables
    )


def test_results_file_is_strict_json_when_a_metric_is_undefined(shared_data, shared_cache, tmp_path):
    """icma-echo answers a caption with the caption: no output parses, so MolT5's fingerprint means are over nothing.
    The results file says null there (never a bare NaN), and the printed table leaves the row out."""
    proc = _run_lm_eval(
        [
            "--model", "icma-echo", "--model_args", "pretrained=icma-echo",
            "--tasks", C2M, "--limit", "3", "--metadata", _metadata(shared_data, limit=3),
        ],
        shared_cache,
        tmp_path,
    )  # fmt: skip
    (results_file,) = tmp_path.rglob("results_*.json")
    results = json.loads(
        results_file.read_text(), parse_constant=lambda c: pytest.fail(f"bare {c} in results")
    )
    entry = results["results"][C2M]
    assert entry["validity,none"] == 0.0 and entry["maccs_fts,none"] is None
    assert entry["strict_maccs_fts,none"] == 0.0  # strict scores every invalid output 0 over all documents
    assert "maccs_fts " not in proc.stdout.replace("strict_maccs_fts", "")


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
            "--metadata", _metadata(shared_data),
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
    meta = json.loads(_metadata(shared_data, protocol="strict"))
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


# ---------------------------------------------------------------------------------- the README's environment


def _table_width(text: str) -> int:
    return max((len(line) for line in text.splitlines() if line.startswith("|")), default=0)


def test_stock_cli_peft_adapter(shared_data, shared_cache, tiny_gpt2, tmp_path):
    """`--model hf --model_args pretrained=BASE,peft=ADAPTER` works in the README's environment (peft installed)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_gpt2)
    adapter = tmp_path / "adapter"
    get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"])).save_pretrained(adapter)
    out = tmp_path / "out"
    proc = _run_lm_eval(
        [
            "--model", "hf",
            "--model_args", f"pretrained={tiny_gpt2},peft={adapter}",
            "--device", "cpu", "--batch_size", "8",
            "--tasks", C2M, "--limit", "4",
            "--gen_kwargs", "max_gen_toks=8",
            "--metadata", _metadata(shared_data, limit=4),
        ],
        shared_cache,
        out,
    )  # fmt: skip
    results, _ = _results(out)
    assert results["results"][C2M]["scored,none"] == 4
    assert "peft" in results["config"]["model_args"]
    assert _table_width(proc.stdout) <= 120


def test_stock_cli_tiny_t5_seq2seq_gets_its_whole_encoder(shared_data, shared_cache, tmp_path):
    """Encoder-decoder: lm-eval feeds the context to the encoder, so the budget is the whole encoder length."""
    t5 = build_tiny_t5(tmp_path / "t5", max_len=600)
    out = tmp_path / "out"
    proc = _run_lm_eval(
        [
            "--model", "hf",
            "--model_args", f"pretrained={t5},backend=seq2seq",
            "--device", "cpu", "--batch_size", "8",
            "--tasks", M2C, "--limit", "6",
            "--gen_kwargs", "max_gen_toks=16",
            "--metadata", _metadata(shared_data, limit=6),
        ],
        shared_cache,
        out,
    )  # fmt: skip
    results, samples = _results(out)
    docs = [s["doc"] for s in samples[M2C]]
    assert all(d["budget"].startswith("600 tokens (model config 600 (encoder; seq2seq)") for d in docs)
    assert all(d["prompt_length"] <= 600 for d in docs)
    assert "Left truncation" not in proc.stderr + proc.stdout
    budget = results["results"][M2C]["budget,none"]
    assert "limit:600 tokens" in budget


def test_budget_that_drops_shots_is_reported(shared_data, shared_cache, tiny_gpt2, tmp_path):
    """The results say what the budget did; the log warns when more than 1 % of the documents lost shots."""
    proc = _run_lm_eval(
        [
            "--model", "hf",
            "--model_args", f"pretrained={tiny_gpt2}",
            "--device", "cpu", "--batch_size", "8",
            "--tasks", M2C, "--limit", str(LIMIT),
            "--gen_kwargs", f"max_gen_toks={MAX_GEN_TOKS}",
            "--metadata", _metadata(shared_data),
        ],
        shared_cache,
        tmp_path,
    )  # fmt: skip
    results, samples = _results(tmp_path)
    row = results["results"][M2C]
    budget = dict(item.split(":", 1) for item in row["budget,none"].split("|"))
    used = [s["doc"]["n_shots_used"] for s in samples[M2C]]
    assert budget["shots_requested"] == "2"
    assert int(budget["docs_lost_shots"]) == sum(u < 2 for u in used) > 0
    assert float(budget["shots_used_mean"]) == pytest.approx(sum(used) / len(used), abs=1e-4)
    assert row["shots_used,none"] == pytest.approx(sum(used) / len(used), abs=1e-4)
    assert budget["limit"].startswith(
        f"{N_POSITIONS - MAX_GEN_TOKS} tokens (model config {N_POSITIONS} - max_gen_toks"
    )
    assert "dropped shots from" in proc.stderr
    assert _table_width(proc.stdout) <= 120


def test_pool_equal_to_the_evaluated_file_is_leave_one_out(shared_data, shared_cache, tmp_path):
    """Adversarial: data_path pointing at test.txt makes every split that file; no query may see its own row."""
    test_file = shared_data / "chebi20" / "molt5" / "test.txt"
    proc = _run_lm_eval(
        [
            "--model", "icma-copy", "--model_args", "pretrained=icma-copy",
            "--tasks", "icma_chebi20", "--limit", str(LIMIT),
            "--metadata", json.dumps({"data_path": str(test_file), "pool_split": "validation", "limit": LIMIT}),
        ],
        shared_cache,
        tmp_path,
    )  # fmt: skip
    results, samples = _results(tmp_path)
    for task in (M2C, C2M):
        for sample in samples[task]:
            doc = sample["doc"]
            assert doc["leave_one_out"] is True and doc["pool_source"] == str(test_file)
            assert all(shot["cid"] != doc["cid"] for shot in doc["shots"])
    assert results["results"][C2M]["exact_match,none"] < 0.5  # not its own answer (was 0.999 when leaking)
    assert "leave-one-out" in proc.stderr


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"shot": 4}, "unknown key 'shot' for the icma tasks. Did you mean 'shots'?"),
        ({"shots": 1.5}, "shots must be a whole number >= 0"),
        ({"data_path": "/nonexistent/icma"}, "that path does not exist"),
    ],
)
def test_icma_bench_eval_one_line_exit_2(shared_data, shared_cache, metadata, message):
    """Option errors inside an lm-eval run: one line naming the fix, exit 2, like every sub-command."""
    meta = {"data_path": str(shared_data), "pool_split": "validation", "limit": 3, **metadata}
    args = ["eval", "--model", "icma-copy", "--model_args", "pretrained=icma-copy", "--tasks", C2M]
    proc = subprocess.run(
        [sys.executable, "-m", "icma_bench", *args, "--metadata", json.dumps(meta)],
        capture_output=True,
        text=True,
        env={**os.environ, "ICMA_BENCH_CACHE": str(shared_cache)},
        timeout=300,
    )
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert err[-1].startswith("icma-bench eval: error: --metadata ") and message in err[-1]
    assert "Traceback" not in proc.stderr
