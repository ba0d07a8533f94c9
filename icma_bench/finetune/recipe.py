"""The In-Context Molecule Tuning recipe: one config in, an adapter (or model) folder out.

``run_finetune(cfg)``: check the runtime, load the tokenizer, build the training examples from the evaluation's prompt
code, load the weights (LoRA or full), train with transformers' ``Trainer`` (gradient accumulation, mixed precision,
length-grouped batches with dynamic padding, checkpoints and exact resume, a validation slice scored with our
metrics), then write adapter/model, tokenizer, resolved config, training log and model card.

``describe_run(cfg)`` is the dry run: the resolved config and the LoRA targets, from the model config alone.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from icma_bench.finetune.card import render_model_card
from icma_bench.finetune.config import ConfigError, FinetuneConfig, dump_config
from icma_bench.finetune.examples import (
    EpochSampler,
    PromptDataset,
    build_examples,
    build_task_documents,
    count_tokens,
)
from icma_bench.finetune.model import (
    apply_lora,
    build_empty_model,
    check_runtime,
    count_parameters,
    is_seq2seq,
    load_model,
    load_model_config,
    load_tokenizer,
    resolve_lora_targets,
)

logger = logging.getLogger(__name__)

CONFIG_FILE = "finetune_config.yaml"
LOG_FILE = "train_log.jsonl"
SUMMARY_FILE = "train_summary.json"
CHECKPOINTS = "checkpoints"


def is_main_process() -> bool:
    """Rank 0 (or a single process): the one that checks and writes the output folder."""
    return int(os.environ.get("RANK", "0")) == 0


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def accumulation_steps(cfg: FinetuneConfig) -> int:
    """Micro-batches per optimiser step on each process: global batch / (micro batch x processes)."""
    per_step = cfg.micro_batch_size * world_size()
    if cfg.batch_size % per_step:
        raise ConfigError(
            f"batch_size: {cfg.batch_size} is not a multiple of micro_batch_size x processes = {per_step}"
        )
    return cfg.batch_size // per_step


def describe_run(cfg: FinetuneConfig) -> dict[str, Any]:
    """What a run would do, without loading weights: resolved config, model kind, LoRA targets, batch plan."""
    info: dict[str, Any] = {"config": cfg.to_dict(), "accumulation_steps": accumulation_steps(cfg)}
    try:
        model_config = load_model_config(cfg)
    except (OSError, ValueError) as exc:
        info["model"] = (
            f"config of {cfg.model!r} not readable here ({type(exc).__name__}); resolved at load time"
        )
        return info
    seq2seq = is_seq2seq(cfg, model_config)
    info["model_type"] = "seq2seq" if seq2seq else "causal"
    if cfg.method == "lora":
        info["lora_targets"] = (
            list(cfg.lora_targets)
            if cfg.lora_targets
            else resolve_lora_targets(build_empty_model(cfg, seq2seq, model_config))
        )
    return info


def _latest_checkpoint(folder: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(folder)) if folder.is_dir() else None


def resolve_resume(cfg: FinetuneConfig, out: Path) -> str | None:
    if cfg.resume is None:
        return None
    if cfg.resume == "latest":
        last = _latest_checkpoint(out / CHECKPOINTS)
        if last is None:
            raise ConfigError(f"resume: no checkpoint in {out / CHECKPOINTS} to resume from")
        return last
    if not Path(cfg.resume).is_dir():
        raise ConfigError(f"resume: checkpoint folder {cfg.resume} does not exist")
    return cfg.resume


def _check_output(cfg: FinetuneConfig, out: Path) -> None:
    # A folder holding only the resolved config is a run that failed before training: reuse it.
    leftovers = [p for p in out.iterdir() if p.name != CONFIG_FILE] if out.is_dir() else []
    if cfg.resume is None and not cfg.overwrite and leftovers:
        raise ConfigError(
            f"output_dir: {out} is not empty; set overwrite=true, resume=latest, or another output_dir"
        )


def build_trainer_class():
    """``Trainer`` with our epoch-seeded sampler and the validation slice scored with our metrics."""
    from transformers import Trainer

    class ICMTTrainer(Trainer):
        def __init__(self, *args: Any, icmt: dict[str, Any], **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.icmt = icmt

        def _get_train_sampler(self, train_dataset=None):
            dataset = train_dataset if train_dataset is not None else self.train_dataset
            return EpochSampler(
                dataset,
                self.args.per_device_train_batch_size,
                group=self.args.per_device_train_batch_size * self.args.gradient_accumulation_steps,
                seed=self.args.seed,
                group_by_length=self.icmt["group_by_length"],
            )

        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"):
            metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
            docs = self.icmt.get("generate_docs")
            if docs:
                from icma_bench.finetune.validate import score_documents

                scores = score_documents(
                    self.model,
                    self.processing_class,
                    docs,
                    seq2seq=self.icmt["seq2seq"],
                    max_new_tokens=self.icmt["max_new_tokens"],
                    protocol=self.icmt["protocol"],
                    batch_size=self.args.per_device_eval_batch_size,
                )
                generated = {f"{metric_key_prefix}_{k}": v for k, v in scores.items()}
                self.log(generated)
                metrics.update(generated)
            return metrics

    return ICMTTrainer


def build_log_callback(path: Path):
    """A callback writing every log entry (loss, learning rate, validation scores) as one JSON line."""
    from transformers import TrainerCallback

    class JsonlLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                with path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"step": state.global_step, "epoch": state.epoch, **logs}) + "\n")

    return JsonlLog()


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def training_arguments(cfg: FinetuneConfig, out: Path, has_eval: bool) -> Any:
    """Trainer's arguments; fails when the launcher's WORLD_SIZE and Trainer's process group disagree."""
    from transformers import TrainingArguments

    args = _training_arguments(cfg, out, has_eval, TrainingArguments)
    if args.world_size != world_size():
        raise ConfigError(
            f"WORLD_SIZE={world_size()} but Trainer runs {args.world_size} process(es): every process would train "
            "alone. Use accelerate launch (on CPU: accelerate launch --cpu, or ACCELERATE_USE_CPU=1 with torchrun)"
        )
    return args


def _training_arguments(cfg: FinetuneConfig, out: Path, has_eval: bool, TrainingArguments: Any) -> Any:  # noqa: N803
    return TrainingArguments(
        output_dir=str(out / CHECKPOINTS),
        per_device_train_batch_size=cfg.micro_batch_size,
        per_device_eval_batch_size=cfg.micro_batch_size,
        gradient_accumulation_steps=accumulation_steps(cfg),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay,
        optim=cfg.optim,
        max_grad_norm=cfg.max_grad_norm,
        bf16=cfg.precision == "bf16",
        fp16=cfg.precision == "fp16",
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        eval_strategy=cfg.eval_strategy if has_eval else "no",
        eval_steps=cfg.eval_steps,
        save_strategy=cfg.save_strategy,
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to=list(cfg.report_to),
        run_name=cfg.name or None,
        disable_tqdm=not cfg.show_progress,
        remove_unused_columns=False,
        dataloader_num_workers=cfg.dataloader_num_workers,
        dataloader_pin_memory=_cuda(),
        include_num_input_tokens_seen="all",
        # NOTE: as ICMA under DDP: every parameter takes part in each step, so DDP need not search for unused ones.
        ddp_find_unused_parameters=False,
        # NOTE: ICMA sets load_best_model_at_end with --valid; the output here is the last step's weights (what
        # their scripts evaluate: checkpoint-8000), the validation scores are logged per evaluation instead.
    )


def run_finetune(cfg: FinetuneConfig) -> Path:
    """Train one recipe; returns the output folder."""
    from transformers import DataCollatorForSeq2Seq, set_seed

    out = cfg.resolved_output_dir
    if is_main_process():  # under accelerate launch, the other ranks would see rank 0's files
        _check_output(cfg, out)
    resume = resolve_resume(cfg, out)
    check_runtime(cfg)
    accumulation = accumulation_steps(cfg)
    if is_main_process():
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_FILE).write_text(dump_config(cfg), encoding="utf-8")
    set_seed(cfg.seed)

    model_config = load_model_config(cfg)
    seq2seq = is_seq2seq(cfg, model_config)
    tokenizer = load_tokenizer(cfg, model_config)

    def build(epoch: int):
        examples, _dropped = build_examples(
            cfg, tokenizer, cfg.train_split, epoch=epoch, limit=cfg.limit, seq2seq=seq2seq
        )
        return examples

    train = PromptDataset(build, redraw=cfg.template == "icma" and cfg.random_walk_p > 0, seq2seq=seq2seq)
    if not len(train):
        raise ConfigError(f"cutoff_len: no training example fits in {cfg.cutoff_len} tokens")
    stats = train.stats()
    logger.info("training examples (epoch 0): %s", stats)
    eval_ds, gen_docs = None, []
    if cfg.eval_limit and cfg.eval_strategy != "no":
        eval_examples = build_examples(
            cfg, tokenizer, cfg.eval_split, limit=cfg.eval_limit, seq2seq=seq2seq, train=False
        )[0]
        eval_ds = PromptDataset(lambda _epoch: eval_examples, redraw=False, seq2seq=seq2seq)
        budget = cfg.cutoff_len - (0 if seq2seq else cfg.eval_max_new_tokens)
        for task in cfg.tasks:
            gen_docs += build_task_documents(
                cfg, task, cfg.eval_split, limit=cfg.eval_limit, budget=max(budget, 1),
                count=lambda text: count_tokens(tokenizer, text),
            )  # fmt: skip

    model = load_model(cfg, seq2seq)
    targets: list[str] = []
    if cfg.method == "lora":
        model, targets = apply_lora(model, cfg, seq2seq)
        logger.warning("LoRA targets (%s): %s", type(model.get_base_model()).__name__, ", ".join(targets))
    trainable, total = count_parameters(model)
    logger.warning(
        "trainable parameters: %d of %d (%.2f%%)", trainable, total, 100.0 * trainable / max(total, 1)
    )
    if hasattr(model, "config"):
        model.config.use_cache = False

    trainer_cls = build_trainer_class()
    trainer = trainer_cls(
        model=model,
        args=training_arguments(cfg, out, eval_ds is not None),
        train_dataset=train,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        data_collator=DataCollatorForSeq2Seq(
            tokenizer, padding=True, pad_to_multiple_of=cfg.pad_to_multiple_of, label_pad_token_id=-100
        ),
        callbacks=[build_log_callback(out / LOG_FILE)],
        icmt={
            "group_by_length": cfg.group_by_length,
            "generate_docs": gen_docs,
            "seq2seq": seq2seq,
            "max_new_tokens": cfg.eval_max_new_tokens,
            "protocol": cfg.eval_protocol,
        },
    )
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - start
    if hasattr(model, "config"):
        model.config.use_cache = True
    trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        # NOTE: Trainer also writes its arguments as a pickle (training_args.bin); the resolved YAML replaces it here.
        (out / "training_args.bin").unlink(missing_ok=True)
        tokenizer.save_pretrained(str(out))
        summary = {
            "model_type": "seq2seq" if seq2seq else "causal",
            "method": cfg.method,
            "lora_targets": targets,
            "trainable_parameters": trainable,
            "total_parameters": total,
            "accumulation_steps": accumulation,
            "world_size": world_size(),
            "train_examples": stats,
            "global_steps": result.global_step,
            "train_loss": result.training_loss,
            "train_seconds": seconds,
            "tokens_seen": int(getattr(trainer.state, "num_input_tokens_seen", 0) or 0),
            "resumed_from": resume,
        }
        (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        (out / "README.md").write_text(render_model_card(cfg, summary, out), encoding="utf-8")
    return out
