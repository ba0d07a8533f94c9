"""Benchmark: In-Context Molecule Tuning on CPU, in miniature.

Everything is built here, offline: a byte-level BPE tokenizer trained on the training texts and a randomly
initialised GPT-2-shaped causal LM of a few million parameters. Training data and retrieval pool: ChEBI-20
``validation`` + ``train_partial`` from ``../shared/data`` (5,811 records; the full train split is not on these
machines), written as the ``train`` split of a scratch data folder; evaluation: the ChEBI-20 ``test`` split.

1. ``throughput``: the same ICMT examples through our recipe's batching (length-grouped micro-batches, dynamic
   padding) and through ICMA's settings on a plain ``Trainer`` (random order, ``DataCollatorForSeq2Seq`` padding to
   a multiple of 8); tokens per second (real, non-pad tokens) and peak memory (max RSS of each run's process).
2. ``miniature``: the paper's comparison: the same model tuned on the same records for the same epochs (a) with ICMT
   (2 retrieved shots) and (b) with naive SFT (the direct prompt), each evaluated with stock ``lm_eval`` on the first
   ``--limit`` ChEBI-20 test documents, beside the untuned floor and the ``icma-copy`` baseline. The lm-eval result
   files are copied to ``leaderboards/inputs/finetune_miniature/``.

    python benchmarks/bench_finetune.py all              # both parts; figures in benchmarks/README.md
    python benchmarks/bench_finetune.py throughput --throughput-records 400 --repeats 2
    python benchmarks/bench_finetune.py miniature --records 1500 --epochs 2 --limit 100

Scratch files go to ``benchmarks/out/finetune/`` (git-ignored). One torch thread (``--threads``) throughout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO.parent / "shared" / "data").resolve()
WORK = REPO / "benchmarks" / "out" / "finetune"
RESULTS = REPO / "leaderboards" / "inputs" / "finetune_miniature"
TASK = "mol2caption"


def _env(threads: int) -> dict[str, str]:
    return {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "ICMA_BENCH_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "ICMA_BENCH_CACHE": str(WORK / "cache"),
        "NLTK_DATA": str(SHARED / "nltk_data"),
        "ICMA_BENCH_SCIBERT": str(SHARED / "scibert_scivocab_uncased"),
        "ICMA_BENCH_T5_TOKENIZER": str(SHARED / "molt5_t5_tokenizer"),  # the icma metric protocol's tokenizer
    }


# --------------------------------------------------------------------------------------------------- preparation


def prepare(n_embd: int, n_layer: int, vocab: int) -> dict:
    """Data folder (train = train_partial + validation; test = the shared test split), tokenizer, model."""
    data = WORK / "data" / "chebi20"
    data.mkdir(parents=True, exist_ok=True)
    rows = []
    for src in (SHARED / "chebi20" / "train_partial.tsv", SHARED / "chebi20" / "molt5" / "validation.txt"):
        lines = src.read_text(encoding="utf-8").splitlines()
        rows += [line for line in lines[1:] if line.strip()]
    (data / "train.txt").write_text("CID\tSMILES\tdescription\n" + "\n".join(rows) + "\n", encoding="utf-8")
    shutil.copyfile(SHARED / "chebi20" / "molt5" / "test.txt", data / "test.txt")
    model_dir = WORK / "tiny-lm"
    if not (model_dir / "model.safetensors").is_file():
        build_model(model_dir, rows, n_embd=n_embd, n_layer=n_layer, vocab=vocab)
    from transformers import AutoConfig

    params = _count_params(model_dir)
    cfg = AutoConfig.from_pretrained(model_dir)
    return {"train_records": len(rows), "parameters": params, "n_embd": cfg.n_embd, "n_layer": cfg.n_layer,
            "vocab": cfg.vocab_size, "n_positions": cfg.n_positions}  # fmt: skip


def build_model(path: Path, rows: list[str], *, n_embd: int, n_layer: int, vocab: int) -> None:
    """A byte-level BPE tokenizer trained on the training records and prompt templates, and a random GPT-2."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from icma_bench.prompts import C2M_QUERY, C2M_SHOT, M2C_DIRECT, M2C_QUERY, M2C_SHOT

    texts = []
    for line in rows:
        _cid, smiles, caption = line.split("\t")
        texts += [
            M2C_SHOT.format(smiles=smiles, caption=caption),
            C2M_SHOT.format(smiles=smiles, caption=caption),
        ]
    texts += [M2C_QUERY, C2M_QUERY, M2C_DIRECT] * 100
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    core.train_from_iterator(texts, trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|endoftext|>", bos_token="<|endoftext|>", pad_token="<|endoftext|>",
        model_max_length=1024,
    )  # fmt: skip
    config = GPT2Config(
        vocab_size=len(tok), n_positions=1024, n_embd=n_embd, n_layer=n_layer, n_head=4, bos_token_id=0,
        eos_token_id=0,
    )  # fmt: skip
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(path)
    tok.save_pretrained(path)


def _count_params(path: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), "pt") as fh:
        return sum(_prod(fh.get_slice(k).get_shape()) for k in fh.keys())  # noqa: SIM118 (safe_open is no dict)


def _prod(shape) -> int:
    out = 1
    for s in shape:
        out *= int(s)
    return out


def recipe(name: str, **kw):
    from icma_bench.finetune.config import build_config

    values = {
        "name": name, "model": str(WORK / "tiny-lm"), "data_path": str(WORK / "data"), "task": TASK,
        "method": "full", "shots": 2, "cutoff_len": 1024, "epochs": 2, "learning_rate": 1e-3, "batch_size": 16,
        "micro_batch_size": 8, "warmup_steps": 20, "logging_steps": 10, "eval_limit": 0, "eval_strategy": "no",
        "save_strategy": "no", "output_dir": str(WORK / "runs" / name), "overwrite": True, "show_progress": False,
        **kw,
    }  # fmt: skip
    return build_config(values)


# --------------------------------------------------------------------------------------------------- throughput


def train_once(mode: str, records: int, threads: int) -> dict:
    """One timed training run (in its own process, so max RSS is this run's peak)."""
    import torch
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from icma_bench.finetune.examples import PromptDataset, build_examples
    from icma_bench.finetune.model import load_model, load_tokenizer
    from icma_bench.finetune.recipe import build_trainer_class, training_arguments

    torch.set_num_threads(threads)
    cfg = recipe(f"throughput-{mode}", epochs=1, limit=records)
    tok = load_tokenizer(cfg)
    examples = build_examples(cfg, tok, "train", limit=records)[0]  # the same examples for both modes
    dataset = PromptDataset(lambda _e: examples, redraw=False)
    model = load_model(cfg, seq2seq=False)
    counted = {"real": 0, "padded": 0, "batches": 0}

    def counting(collator):
        def collate(features):
            batch = collator(features)
            counted["real"] += int(batch["attention_mask"].sum())
            counted["padded"] += int(batch["input_ids"].numel())
            counted["batches"] += 1
            return batch

        return collate

    out = WORK / "runs" / f"throughput-{mode}"
    if mode == "ours":
        args = training_arguments(cfg, out, has_eval=False)
        trainer = build_trainer_class()(
            model=model, args=args, train_dataset=dataset, processing_class=tok,
            data_collator=counting(DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)),
            icmt={"group_by_length": True, "generate_docs": [], "seq2seq": False, "max_new_tokens": 0,
                  "protocol": "molt5"},
        )  # fmt: skip
    else:  # ICMA's icma_train.py settings on a plain Trainer: random order, pad to a multiple of 8
        args = TrainingArguments(
            output_dir=str(out), per_device_train_batch_size=cfg.micro_batch_size,
            gradient_accumulation_steps=cfg.batch_size // cfg.micro_batch_size, num_train_epochs=1,
            learning_rate=cfg.learning_rate, warmup_steps=cfg.warmup_steps, optim="adamw_torch", logging_steps=10,
            save_strategy="no", report_to="none", seed=cfg.seed, disable_tqdm=True, remove_unused_columns=False,
            dataloader_pin_memory=False,
        )  # fmt: skip
        trainer = Trainer(
            model=model, args=args, train_dataset=dataset,
            data_collator=counting(DataCollatorForSeq2Seq(tok, pad_to_multiple_of=8, return_tensors="pt", padding=True)),
        )  # fmt: skip
    start = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - start
    return {
        "mode": mode, "examples": len(examples), "seconds": seconds, "real_tokens": counted["real"],
        "padded_tokens": counted["padded"], "tokens_per_s": counted["real"] / seconds,
        "padding_share": 1 - counted["real"] / counted["padded"], "train_loss": result.training_loss,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }  # fmt: skip


def throughput(records: int, repeats: int, threads: int) -> list[dict]:
    rows = []
    for rep in range(repeats):
        for mode in ("ours", "plain"):
            proc = subprocess.run(
                [sys.executable, __file__, "_train", "--mode", mode, "--throughput-records", str(records),
                 "--threads", str(threads)],
                capture_output=True, text=True, env=_env(threads),
            )  # fmt: skip
            if proc.returncode != 0:
                sys.exit(proc.stderr[-4000:])
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row["repeat"] = rep
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


# --------------------------------------------------------------------------------------------------- miniature


def lm_eval(
    model_args: str, model: str, task: str, limit: int, max_gen: int, name: str, threads: int
) -> tuple[dict, float]:
    """Stock ``lm_eval`` in a subprocess from WORK (relative paths: no machine paths in the result files)."""
    exe = shutil.which("lm_eval")
    cmd = [exe] if exe else [sys.executable, "-m", "lm_eval"]
    # NOTE: the recorded run also passed max_gen_toks in --metadata, as the harness then required for the budget;
    # the harness now reads it from --gen_kwargs alone (and rejects it in --metadata).
    meta = json.dumps({"data_path": "data"})
    out = WORK / "results" / name
    shutil.rmtree(out, ignore_errors=True)
    args = [
        *cmd, "--model", model, "--model_args", model_args, "--tasks", task, "--limit", str(limit),
        "--batch_size", "16", "--gen_kwargs", f"max_gen_toks={max_gen}", "--metadata", meta,
        "--output_path", f"results/{name}", "--log_samples",
    ]  # fmt: skip
    if model == "hf":
        args[3:3] = ["--device", "cpu"]
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=WORK, capture_output=True, text=True, env=_env(threads))
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"lm_eval failed ({name}):\n{proc.stderr[-4000:]}")
    (results,) = out.rglob("results_*.json")
    dest = RESULTS / name
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    shutil.copy2(results, dest / results.name)
    data = json.loads(results.read_text())
    print("   $", " ".join(args[len(cmd) :]), f"({seconds:.0f} s)", flush=True)
    return data["results"][task], seconds


def miniature(records: int, epochs: int, limit: int, max_gen: int, threads: int) -> dict:
    import torch

    from icma_bench.finetune.recipe import run_finetune

    torch.set_num_threads(threads)
    out: dict = {"records": records, "epochs": epochs, "limit": limit, "runs": {}}
    for name, template in (("icmt", "icma"), ("sft", "direct")):
        cfg = recipe(f"tiny-{name}", template=template, epochs=epochs, limit=records)
        start = time.perf_counter()
        run_dir = run_finetune(cfg)
        summary = json.loads((run_dir / "train_summary.json").read_text())
        summary["wall_seconds"] = time.perf_counter() - start
        out["runs"][name] = summary
        print(
            name,
            json.dumps(
                {k: summary[k] for k in ("train_examples", "tokens_seen", "train_loss", "train_seconds")}
            ),
            flush=True,
        )
    evals = {
        "icmt": ("hf", "pretrained=runs/tiny-icmt", "icma_chebi20_mol2caption"),
        "sft": ("hf", "pretrained=runs/tiny-sft", "icma_chebi20_mol2caption_direct"),
        "untuned_icma": ("hf", "pretrained=tiny-lm", "icma_chebi20_mol2caption"),
        "untuned_direct": ("hf", "pretrained=tiny-lm", "icma_chebi20_mol2caption_direct"),
        "icma_copy": ("icma-copy", "pretrained=icma-copy", "icma_chebi20_mol2caption"),
    }
    out["scores"] = {}
    for name, (model, margs, task) in evals.items():
        row, seconds = lm_eval(
            margs, model, task, limit, max_gen, f"tiny-{name}" if model == "hf" else name, threads
        )
        out["scores"][name] = {"task": task, "seconds": seconds, **{
            k.split(",")[0]: v for k, v in row.items() if k.endswith(",none") and "stderr" not in k}}  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["all", "prepare", "throughput", "miniature", "_train"])
    p.add_argument("--records", type=int, default=1500, help="training records of the miniature")
    p.add_argument(
        "--throughput-records", type=int, default=400, help="training records of the throughput runs"
    )
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--limit", type=int, default=100, help="ChEBI-20 test documents evaluated")
    p.add_argument("--max-gen-toks", type=int, default=96)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--n-embd", type=int, default=192)
    p.add_argument("--n-layer", type=int, default=3)
    p.add_argument("--vocab", type=int, default=2048)
    p.add_argument("--mode", choices=["ours", "plain"], default="ours")
    p.add_argument("--json", default=None, help="write every figure to this file")
    a = p.parse_args(argv)
    for key, value in _env(a.threads).items():
        os.environ.setdefault(key, value)
    if a.what == "_train":
        print(json.dumps(train_once(a.mode, a.throughput_records, a.threads)))
        return 0
    report: dict = {"setup": prepare(a.n_embd, a.n_layer, a.vocab)}
    print(json.dumps(report["setup"]), flush=True)
    if a.what in ("all", "throughput"):
        report["throughput"] = throughput(a.throughput_records, a.repeats, a.threads)
    if a.what in ("all", "miniature"):
        report["miniature"] = miniature(a.records, a.epochs, a.limit, a.max_gen_toks, a.threads)
        print(json.dumps(report["miniature"]["scores"], indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
