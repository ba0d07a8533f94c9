"""Models for fine-tuning: the architecture kind, the tokenizer, the weights (optionally 8/4-bit), and LoRA.

LoRA targets (ICMA): every linear layer except the output head, resolved per architecture from the module tree
(``nn.Linear`` and GPT-2's ``Conv1D``), so it works on any model without a per-model table.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from icma_bench.finetune.config import ConfigError, FinetuneConfig

logger = logging.getLogger(__name__)


def load_model_config(cfg: FinetuneConfig) -> Any:
    """The model's ``config.json`` (no weights)."""
    from transformers import AutoConfig

    kwargs = {"revision": cfg.revision} if cfg.revision else {}
    return AutoConfig.from_pretrained(cfg.model, trust_remote_code=cfg.trust_remote_code, **kwargs)


def is_seq2seq(cfg: FinetuneConfig, model_config: Any | None = None) -> bool:
    """Whether the recipe trains an encoder-decoder (``model_type`` auto reads ``is_encoder_decoder``)."""
    if cfg.model_type != "auto":
        return cfg.model_type == "seq2seq"
    model_config = model_config if model_config is not None else load_model_config(cfg)
    return bool(getattr(model_config, "is_encoder_decoder", False))


def load_tokenizer(cfg: FinetuneConfig, model_config: Any | None = None) -> Any:
    """The tokenizer (the model's unless ``tokenizer`` is set), with an EOS and a pad token.

    A tokenizer that names no EOS token (Galactica's) gets the model config's ``eos_token_id``.
    """
    from transformers import AutoTokenizer

    kwargs = {"revision": cfg.revision} if cfg.revision else {}
    tok = AutoTokenizer.from_pretrained(
        cfg.tokenizer or cfg.model, trust_remote_code=cfg.trust_remote_code, **kwargs
    )
    eos_id = getattr(model_config, "eos_token_id", None)
    if tok.eos_token_id is None and isinstance(eos_id, int) and 0 <= eos_id < len(tok):
        tok.eos_token = tok.convert_ids_to_tokens(eos_id)
    if tok.eos_token_id is None and cfg.add_eos:
        raise ConfigError(
            f"add_eos: the tokenizer of {cfg.tokenizer or cfg.model} has no EOS token; set add_eos=false"
        )
    if tok.pad_token_id is None:
        # NOTE: ICMA sets pad_token_id = 0 (Llama's <unk>); padded labels are ignored either way, so any pad id works.
        # EOS as pad keeps the vocabulary unchanged for every architecture.
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"  # training pads on the right; generation below switches to the left
    return tok


def check_runtime(cfg: FinetuneConfig) -> None:
    """Fail before loading weights when the hardware or the installed packages cannot run the recipe."""
    import torch

    if cfg.precision == "fp16" and not torch.cuda.is_available():
        raise ConfigError("precision: fp16 needs a CUDA device; use precision=fp32 (or bf16) on CPU")
    if cfg.precision == "bf16" and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        raise ConfigError("precision: this GPU has no bf16; use precision=fp16")
    if cfg.load_in:
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise ConfigError(
                f"load_in: {cfg.load_in} loading needs bitsandbytes (pip install bitsandbytes); or set load_in=null"
            ) from None
        if not torch.cuda.is_available():
            raise ConfigError(f"load_in: {cfg.load_in} loading needs a CUDA device; set load_in=null on CPU")


def _dtype(cfg: FinetuneConfig) -> Any:
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[cfg.precision]


def load_model(cfg: FinetuneConfig, seq2seq: bool) -> Any:
    """The weights, as ``AutoModelForSeq2SeqLM`` / ``AutoModelForCausalLM``; 8/4-bit through bitsandbytes."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    kwargs: dict[str, Any] = {"trust_remote_code": cfg.trust_remote_code}
    if cfg.revision:
        kwargs["revision"] = cfg.revision
    if cfg.load_in:
        from transformers import BitsAndBytesConfig

        compute = torch.bfloat16 if cfg.precision == "bf16" else torch.float16
        kwargs["quantization_config"] = (
            BitsAndBytesConfig(load_in_8bit=True)
            if cfg.load_in == "8bit"
            else BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_compute_dtype=compute, bnb_4bit_quant_type="nf4"
            )
        )
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0))}
    # NOTE: full fine-tuning keeps fp32 master weights under bf16/fp16 autocast (Trainer's mixed precision);
    # ICMA loads fp16 weights with --fp16, which only works with LoRA.
    kwargs["dtype"] = _dtype(cfg) if cfg.method == "lora" and cfg.precision != "fp32" else torch.float32
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    model = cls.from_pretrained(cfg.model, **kwargs)
    if cfg.load_in:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    elif cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        if cfg.method == "lora":
            model.enable_input_require_grads()
    return model


def build_empty_model(cfg: FinetuneConfig, seq2seq: bool, model_config: Any | None = None) -> Any:
    """The architecture on the meta device (no weights, no memory): enough to resolve LoRA targets."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    model_config = model_config if model_config is not None else load_model_config(cfg)
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    with torch.device("meta"):
        return cls.from_config(model_config, trust_remote_code=cfg.trust_remote_code)


def resolve_lora_targets(model: Any) -> list[str]:
    """Leaf names of every linear layer except the output head (ICMA's rule), sorted.

    NOTE: ICMA collects ``torch.nn.Linear`` only, which finds nothing but the head in GPT-2 (its layers are
    ``Conv1D``); both kinds count here, and the head is found with ``get_output_embeddings`` rather than by the name
    ``lm_head`` (T5's tied head, OPT's ``lm_head``, ...). bitsandbytes' 8/4-bit layers subclass ``nn.Linear``.
    """
    import torch
    from transformers.pytorch_utils import Conv1D

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names = set()
    for name, module in model.named_modules():
        if module is head or not name:
            continue
        if isinstance(module, torch.nn.Linear | Conv1D):
            names.add(name.rsplit(".", 1)[-1])
    head_names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if m is head and n}
    names -= head_names  # a leaf name shared with the head would adapt the head too
    if not names:
        raise ConfigError(
            f"lora_targets: no linear layers found in {type(model).__name__}; set lora_targets explicitly or method=full"
        )
    return sorted(names)


def apply_lora(model: Any, cfg: FinetuneConfig, seq2seq: bool) -> tuple[Any, list[str]]:
    """Wrap ``model`` with a LoRA adapter (ICMA: r 32, alpha 64, dropout 0.1, no bias). Returns the model, targets."""
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers.pytorch_utils import Conv1D

    targets = list(cfg.lora_targets) if cfg.lora_targets else resolve_lora_targets(model)
    conv1d = any(isinstance(m, Conv1D) and n.rsplit(".", 1)[-1] in targets for n, m in model.named_modules())
    lora = LoraConfig(
        fan_in_fan_out=conv1d,  # GPT-2's Conv1D stores its weight transposed
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
        bias="none",
        task_type=TaskType.SEQ_2_SEQ_LM if seq2seq else TaskType.CAUSAL_LM,
    )
    return get_peft_model(model, lora), targets


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
