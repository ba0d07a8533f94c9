"""Training examples from the evaluation's own prompt code: documents, tokenised examples, the epoch-aware dataset,
and the length-grouped sampler.

Every prompt comes from :func:`icma_bench.prompts.build_documents` (leave-one-out over the training split when the
pool is the training split) and :func:`icma_bench.prompts.fit_budget`, so a training prompt is byte for byte what the
evaluation task renders for the same record and settings. The answer follows it as the evaluation expects to read
it back: what ICMA's ``.strip()`` removed from the query line, ``Caption: `` / ``Molecule: ``, the target, EOS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from icma_bench.finetune.config import FinetuneConfig
from icma_bench.prompts import C2M_QUERY, GALACTICA_SMILES, M2C_QUERY, PromptDoc, build_documents, fit_budget

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100  # label of a token the loss skips (the prompt, padding)
ANSWER_PREFIX = {"mol2caption": "Caption: ", "caption2mol": "Molecule: "}
ASSISTANT_TURN = "## Assistant: "


def answer_lead(task: str, template: str) -> str:
    """The text between the prompt as evaluation renders it and the answer itself.

    ICMA trains on ``prompt + "Caption: " + caption`` with the prompt *before* its final ``.strip()``: the
    whitespace that ends the query line (``". \\n"`` for mol2caption, ``"\\n"`` for caption2mol) and the answer
    prefix. The direct prompt keeps its trailing newline, so only the prefix follows it.
    """
    if template == "direct":
        return ANSWER_PREFIX[task]
    tail = (M2C_QUERY if task == "mol2caption" else C2M_QUERY).format(smiles="x", caption="x")
    return tail[len(tail.rstrip()) :] + ANSWER_PREFIX[task]


def answer_text(doc: PromptDoc) -> str:
    """The answer the model learns to write after the prompt (without EOS)."""
    target = doc["target"].strip()  # ICMA strips every field
    if doc["task"] == "caption2mol" and doc["galactica"]:
        target = GALACTICA_SMILES.format(smiles=target)
    if doc["prompt"].endswith(ASSISTANT_TURN):
        # ICMA's Galactica zero-shot frame (ZeroShotDataset(add_special_token=True)): the tagged SMILES follows
        # "## Assistant: " directly, with no "Molecule: " prefix.
        return target
    return answer_lead(doc["task"], doc["template"]) + target


def build_task_documents(
    cfg: FinetuneConfig,
    task: str,
    split: str,
    *,
    epoch: int = 0,
    limit: int | None = None,
    budget: int | None = None,
    count: Callable[[str], int] | None = None,
) -> list[PromptDoc]:
    """Prompt documents of ``split`` for ``task`` with the recipe's retrieval settings (``budget``: none for
    training, where :func:`tokenize_document` fits each example; a prompt budget for validation generation).

    The random walk of epoch ``e`` uses seed ``cfg.seed + e``: re-drawn every epoch, reproducible.
    """
    return build_documents(
        cfg.dataset,
        split,
        task,
        shots=cfg.shots if cfg.template == "icma" else 0,
        method=cfg.m2c_method if task == "mol2caption" else cfg.c2m_method,
        pool_split=cfg.resolved_pool_split,
        k=cfg.candidates,
        random_walk_p=cfg.random_walk_p,
        seed=cfg.seed + epoch,
        reverse=cfg.reverse,
        galactica=cfg.galactica,
        template=cfg.template,
        budget=budget,
        count_tokens=count,
        data_path=cfg.data_path,
        limit=limit,
        show_progress=cfg.show_progress,
    )


@dataclass(frozen=True)
class Example:
    """One tokenised training example."""

    input_ids: list[int]
    labels: list[int]
    prompt: str
    answer: str
    n_shots_used: int
    n_shots_requested: int
    cid: str
    task: str
    n_answer_tokens: int = 0  # answer + EOS


def count_tokens(tokenizer: Any, text: str) -> int:
    """Prompt length as evaluation counts it (special tokens included, as lm-eval's encoder adds them)."""
    return len(tokenizer(text, verbose=False)["input_ids"])


def tokenize_document(
    doc: PromptDoc,
    tokenizer: Any,
    *,
    cutoff_len: int,
    seq2seq: bool = False,
    train_on_inputs: bool = False,
    add_eos: bool = True,
    reverse: bool = True,
) -> Example | None:
    """Fit one document into ``cutoff_len`` tokens and tokenise it; None when the query and answer alone do not fit.

    The prompt is tokenised on its own, exactly as lm-eval encodes a context, and the answer after it without
    special tokens, so the token boundary is the one the model meets at inference.
    NOTE: ICMA tokenises ``prompt + answer`` in one call and right-truncates at ``cutoff_len`` (cutting the target);
    here whole shots are dropped, least similar first, and neither the query nor the target is ever cut.
    """
    answer = answer_text(doc)
    if seq2seq:
        answer = answer.lstrip()  # the decoder starts from its own start token, no separator to learn
    eos = [tokenizer.eos_token_id] if add_eos and tokenizer.eos_token_id is not None else []
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + eos
    budget = cutoff_len if seq2seq else cutoff_len - len(answer_ids)
    if budget <= 0 or (seq2seq and len(answer_ids) > cutoff_len):
        return None
    shots = sorted(doc["shots"], key=lambda s: s["rank"])  # rank order, as build_documents chose them
    pairs = [(s["smiles"], s["description"]) for s in shots]
    prompt, n_used, length = fit_budget(
        doc["task"],
        doc["query"],
        pairs,
        budget,
        count_tokens=lambda text: count_tokens(tokenizer, text),
        template=doc["template"],
        galactica=doc["galactica"],
        reverse=reverse,
    )
    if length is not None and length > budget:
        return None
    prompt_ids = tokenizer(prompt, verbose=False)["input_ids"]
    if seq2seq:
        input_ids, labels = prompt_ids, answer_ids
    else:
        input_ids = prompt_ids + answer_ids
        labels = list(input_ids) if train_on_inputs else [IGNORE_INDEX] * len(prompt_ids) + answer_ids
    return Example(
        input_ids=input_ids,
        labels=labels,
        prompt=prompt,
        answer=answer,
        n_shots_used=n_used,
        n_shots_requested=doc["n_shots_requested"],
        cid=doc["cid"],
        task=doc["task"],
        n_answer_tokens=len(answer_ids),
    )


def build_examples(
    cfg: FinetuneConfig,
    tokenizer: Any,
    split: str,
    *,
    epoch: int = 0,
    limit: int | None = None,
    seq2seq: bool = False,
    train: bool = True,
) -> tuple[list[Example], int]:
    """Tokenised examples of every task of the recipe; also the number of records dropped (query too long)."""
    examples: list[Example] = []
    dropped = 0
    for task in cfg.tasks:
        for doc in build_task_documents(cfg, task, split, epoch=epoch, limit=limit):
            ex = tokenize_document(
                doc,
                tokenizer,
                cutoff_len=cfg.cutoff_len,
                seq2seq=seq2seq,
                train_on_inputs=cfg.train_on_inputs and train,
                add_eos=cfg.add_eos,
                reverse=cfg.reverse,
            )
            if ex is None:
                dropped += 1
            else:
                examples.append(ex)
    if dropped:
        logger.warning(
            "%s: %d records dropped: their query and target alone exceed cutoff_len=%d",
            split,
            dropped,
            cfg.cutoff_len,
        )
    return examples, dropped


class PromptDataset(torch.utils.data.Dataset):
    """Examples of the current epoch. ``set_epoch`` rebuilds them when the random walk re-draws the shots.

    The records kept never change between epochs (a record is dropped only when its query and target alone exceed
    the cutoff), so the length and the step count are fixed.
    """

    def __init__(self, build: Callable[[int], list[Example]], *, redraw: bool, seq2seq: bool = False) -> None:
        self._build = build
        self._seq2seq = seq2seq
        self._redraw = redraw
        self._key: int | None = None
        self.examples: list[Example] = []
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        key = int(epoch) if self._redraw else 0
        if key == self._key:
            return
        examples = self._build(key)
        if self._key is not None and len(examples) != len(self.examples):
            raise RuntimeError(
                f"epoch {key} holds {len(examples)} examples, epoch {self._key} {len(self.examples)}"
            )
        self.examples, self._key = examples, key

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        ex = self.examples[i]
        return {"input_ids": ex.input_ids, "attention_mask": [1] * len(ex.input_ids), "labels": ex.labels}

    @property
    def lengths(self) -> list[int]:
        """Tokens per example (encoder + decoder for seq2seq): what a batch pads to."""
        return [len(ex.input_ids) + (len(ex.labels) if self._seq2seq else 0) for ex in self.examples]

    def stats(self) -> dict[str, Any]:
        n_in = sum(len(ex.input_ids) for ex in self.examples)
        n_target = sum(ex.n_answer_tokens for ex in self.examples)
        n_loss = sum(sum(1 for t in ex.labels if t != IGNORE_INDEX) for ex in self.examples)
        shots = [ex.n_shots_used for ex in self.examples]
        return {
            "examples": len(self.examples),
            "input_tokens": n_in,
            "target_tokens": n_target,
            "loss_tokens": n_loss,
            "mean_shots_used": float(np.mean(shots)) if shots else 0.0,
            "short_of_shots": sum(ex.n_shots_used < ex.n_shots_requested for ex in self.examples),
        }


class EpochSampler(torch.utils.data.Sampler[int]):
    """A seeded order per epoch: a permutation from ``default_rng([seed, epoch])``; with ``group_by_length``, cut into
    mega-batches of ``50 x group`` examples, each sorted by length into micro-batches, and the micro-batches
    shuffled. Independent of any global RNG, so a resumed run skips into exactly the same order.
    """

    def __init__(
        self, dataset: PromptDataset, micro_batch_size: int, *, group: int, seed: int, group_by_length: bool
    ) -> None:
        self.dataset = dataset
        self.micro = micro_batch_size
        self.mega = max(group, micro_batch_size) * 50
        self.seed = seed
        self.group_by_length = group_by_length
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.dataset.set_epoch(epoch)  # accelerate skips the dataset's set_epoch when the sampler has one

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[int]:
        return iter(
            order_indices(
                self.dataset.lengths, self.micro, self.mega, [self.seed, self.epoch], self.group_by_length
            )
        )


def order_indices(
    lengths: Sequence[int], micro: int, mega: int, seed: Sequence[int], group_by_length: bool
) -> list[int]:
    """The sampler's order (see :class:`EpochSampler`); the longest micro-batch first, to fail early on memory."""
    rng = np.random.default_rng(list(seed))
    perm = rng.permutation(len(lengths)).tolist()
    if not group_by_length:
        return perm
    batches: list[list[int]] = []
    for start in range(0, len(perm), mega):
        chunk = sorted(perm[start : start + mega], key=lambda i: -lengths[i])
        batches.extend(chunk[j : j + micro] for j in range(0, len(chunk), micro))
    if not batches:
        return []
    # A short micro-batch (the remainder) goes last, so the loader's micro-batches stay the sorted ones.
    tail = [len(batches) - 1] if len(batches[-1]) < micro else []
    full = len(batches) - len(tail)
    order = rng.permutation(full).tolist()
    longest = max(range(full), key=lambda b: lengths[batches[b][0]]) if full else None
    if longest is not None:
        order.remove(longest)
        order.insert(0, longest)
    return [i for b in [*order, *tail] for i in batches[b]]
