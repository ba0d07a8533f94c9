"""The model card of a fine-tuned output folder, and the exact ``lm_eval`` command that evaluates it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from icma_bench.finetune.config import FinetuneConfig
from icma_bench.finetune.examples import answer_lead


def eval_tasks(cfg: FinetuneConfig) -> list[str]:
    """The icma-bench tasks matching the recipe: ``icma_<dataset>_<task>`` (``_direct`` for naive SFT)."""
    suffix = "_direct" if cfg.template == "direct" else ""
    return [f"icma_{cfg.dataset}_{task}{suffix}" for task in cfg.tasks]


def eval_metadata(cfg: FinetuneConfig) -> dict[str, Any]:
    """The ``--metadata`` that makes evaluation render prompts the way training did."""
    meta: dict[str, Any] = {}
    if cfg.template == "icma":
        meta.update(shots=cfg.shots, m2c_method=cfg.m2c_method, c2m_method=cfg.c2m_method)
        if not cfg.reverse:
            meta["reverse"] = False
        if cfg.candidates:
            meta["candidates"] = cfg.candidates
        if cfg.resolved_pool_split != "train":
            meta["pool_split"] = cfg.resolved_pool_split
    if cfg.galactica:
        meta["galactica"] = True
    if cfg.data_path:
        meta["data_path"] = cfg.data_path
    return meta


def lm_eval_command(
    cfg: FinetuneConfig, out: str | Path, *, limit: int | None = None, results: str = "results/"
) -> str:
    """The stock ``lm_eval`` command for the output folder: ``peft=`` for an adapter, ``pretrained=`` for a model."""
    out = str(out)
    model_args = f"pretrained={cfg.model},peft={out}" if cfg.method == "lora" else f"pretrained={out}"
    if cfg.tokenizer and cfg.method == "lora":
        model_args += f",tokenizer={out}"
    parts = [
        "lm_eval", "--model", "hf", "--model_args", model_args,
        "--tasks", ",".join(eval_tasks(cfg)), "--batch_size", "8",
    ]  # fmt: skip
    meta = eval_metadata(cfg)
    if meta:
        parts += ["--metadata", json.dumps(meta, separators=(",", ":"))]
    if limit:
        parts += ["--limit", str(limit)]
    parts += ["--output_path", results, "--log_samples"]
    return " ".join(shlex.quote(p) for p in parts)


def render_model_card(cfg: FinetuneConfig, summary: dict[str, Any], out: str | Path) -> str:
    """README.md of the output folder: data, recipe, training figures, and how to evaluate it."""
    kind = "LoRA adapter" if cfg.method == "lora" else "fully fine-tuned model"
    recipe = (
        f"In-Context Molecule Tuning (ICMA): {cfg.shots} retrieved shots (mol2caption: `{cfg.m2c_method}`, "
        f"caption2mol: `{cfg.c2m_method}`), sequence reversal {'on' if cfg.reverse else 'off'}, random walk "
        f"p = {cfg.random_walk_p} re-drawn every epoch"
        if cfg.template == "icma"
        else "naive supervised fine-tuning on the direct (zero-shot) prompt"
    )
    lora = (
        f"LoRA r {cfg.lora_r}, alpha {cfg.lora_alpha}, dropout {cfg.lora_dropout}, targets "
        f"{', '.join(summary.get('lora_targets') or [])}"
        if cfg.method == "lora"
        else "full fine-tuning"
    )
    ex = summary.get("train_examples", {})
    leads = ", ".join(f"{t}: `{answer_lead(t, cfg.template)!r}`" for t in cfg.tasks)
    library = "peft" if cfg.method == "lora" else "transformers"
    return f"""---
base_model: {cfg.model}
library_name: {library}
tags: [icma-bench, in-context-molecule-tuning, {cfg.dataset}, {", ".join(cfg.tasks)}]
---

# {cfg.name or Path(out).name}: {cfg.model} tuned for {cfg.task} ({kind})

Trained with `icma-bench finetune` on **{cfg.dataset} {cfg.train_split}** (retrieval pool: `{cfg.resolved_pool_split}`,
leave-one-out when it is the training split; limit: {cfg.limit or "none"}).

- Recipe: {recipe}.
- Training: {lora}; {cfg.epochs:g} epochs (max_steps {cfg.max_steps or "none"}), learning rate {cfg.learning_rate:g},
  global batch {cfg.batch_size} (micro batch {cfg.micro_batch_size} x {summary.get("accumulation_steps")} accumulation
  x {summary.get("world_size")} processes), warm-up {cfg.warmup_steps} steps, precision {cfg.precision},
  {f"{cfg.load_in} weights, " if cfg.load_in else ""}cutoff {cfg.cutoff_len} tokens (whole shots dropped to fit),
  loss on {"the whole sequence" if cfg.train_on_inputs else "the answer only"}, seed {cfg.seed}.
- Answer format: the evaluation prompt, then {leads}, the target{", EOS" if cfg.add_eos else ""}.
- Examples: {ex.get("examples")} ({ex.get("input_tokens")} tokens, {ex.get("target_tokens")} of them answer tokens, per
  epoch, mean shots used {ex.get("mean_shots_used", 0):.2f}); {summary.get("global_steps")} optimiser steps,
  {summary.get("tokens_seen")} tokens seen in all, final training loss {summary.get("train_loss", float("nan")):.4f}.
- Parameters: {summary.get("trainable_parameters")} trainable of {summary.get("total_parameters")}.

Files: the {"adapter (`adapter_config.json`, `adapter_model.safetensors`)" if cfg.method == "lora" else "model"},
the tokenizer, `finetune_config.yaml` (the resolved recipe: `icma-bench finetune finetune_config.yaml overwrite=true` re-runs it),
`train_log.jsonl` (loss, learning rate and validation scores per logging step), `train_summary.json`.

## Evaluate

```bash
{lm_eval_command(cfg, out)}
```

`--model hf` needs `accelerate`{" and `peft=` needs `peft`" if cfg.method == "lora" else ""} (icma-bench installs
both). The metadata renders the evaluation prompts with the retrieval settings used in training.
"""
