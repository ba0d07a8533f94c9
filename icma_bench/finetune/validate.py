"""The validation slice scored with our metrics during training: greedy answers, read back as evaluation reads them,
scored by :func:`icma_bench.metrics.compute`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from icma_bench.prompts import PromptDoc, extract_answer

logger = logging.getLogger(__name__)


def generate_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    seq2seq: bool,
    max_new_tokens: int,
    batch_size: int = 8,
) -> list[str]:
    """Greedy continuations of ``prompts`` (left-padded batches for decoder-only models)."""
    import torch

    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "right" if seq2seq else "left"
    device = next(model.parameters()).device
    out: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            batch = list(prompts[start : start + batch_size])
            enc = tokenizer(batch, return_tensors="pt", padding=True).to(device)
            with torch.no_grad():
                gen = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
            if not seq2seq:
                gen = gen[:, enc["input_ids"].shape[1] :]
            out.extend(tokenizer.batch_decode(gen, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = side
        if was_training:
            model.train()
    return out


def score_documents(
    model: Any,
    tokenizer: Any,
    docs: Sequence[PromptDoc],
    *,
    seq2seq: bool,
    max_new_tokens: int,
    protocol: str = "molt5",
    batch_size: int = 8,
) -> dict[str, float]:
    """Generate for ``docs`` and score per task: ``{"<task>/<metric>": value}``."""
    from icma_bench.metrics import compute

    scores: dict[str, float] = {}
    for task in sorted({d["task"] for d in docs}):
        subset = [d for d in docs if d["task"] == task]
        raw = generate_answers(
            model,
            tokenizer,
            [d["prompt"] for d in subset],
            seq2seq=seq2seq,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
        )
        predictions = [extract_answer(text, task) for text in raw]
        result = compute(task, predictions, [d["target"] for d in subset], protocol=protocol, n_jobs=1)
        for name, value in result.scores.items():
            scores[f"{task}/{name}"] = float(value)
    return scores
