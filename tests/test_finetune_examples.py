"""Training examples: the prompt is the evaluation task's prompt, the answer follows as evaluation reads it back,
the cutoff drops whole shots, the random walk is re-drawn every epoch, and batches are grouped by length."""

from __future__ import annotations

import pytest
from conftest import FIXTURES

from icma_bench.finetune.config import build_config
from icma_bench.finetune.examples import (
    IGNORE_INDEX,
    PromptDataset,
    answer_lead,
    build_examples,
    build_task_documents,
    order_indices,
    tokenize_document,
)
from icma_bench.prompts import build_documents

DATA = FIXTURES / "retrieval"  # chebi20 train (12 rows), validation (2), test (3)


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    from tiny_models import build_tiny_gpt2, build_tiny_t5
    from transformers import AutoTokenizer

    root = tmp_path_factory.mktemp("tok")
    gpt2 = AutoTokenizer.from_pretrained(build_tiny_gpt2(root / "gpt2"))
    t5 = AutoTokenizer.from_pretrained(build_tiny_t5(root / "t5"))
    return gpt2, t5


def _cfg(**kw):
    return build_config({"model": "tiny", "data_path": str(DATA), "task": "both", "cutoff_len": 4096, **kw})


def test_answer_lead_is_what_icma_strip_removed():
    assert answer_lead("mol2caption", "icma") == " \nCaption: "
    assert answer_lead("caption2mol", "icma") == "\nMolecule: "
    assert answer_lead("mol2caption", "direct") == "Caption: "
    assert answer_lead("caption2mol", "direct") == "Molecule: "


@pytest.mark.parametrize("template", ["icma", "direct"])
def test_training_prompt_equals_the_evaluation_prompt(tokenizers, template):
    """Leave-one-out over the training split, byte for byte what the evaluation task renders for the record."""
    from icma_bench.harness.hooks import load_documents

    tok = tokenizers[0]
    cfg = _cfg(template=template)
    examples, dropped = build_examples(cfg, tok, "train")
    assert dropped == 0 and len(examples) == 2 * 12
    for task in ("mol2caption", "caption2mol"):
        ours = [ex for ex in examples if ex.task == task]
        task_docs = load_documents(
            dataset="chebi20", direction=task, variant=template, eval_split="train", pool_split="train",
            data_path=str(DATA), budget="off",
        )["test"]  # fmt: skip
        assert [ex.prompt for ex in ours] == list(task_docs["prompt"])
        assert [ex.cid for ex in ours] == list(task_docs["cid"])
        if template == "icma":  # leave-one-out: a record never sees itself
            assert all(
                ex.cid not in [s["cid"] for s in doc["shots"]]
                for ex, doc in zip(ours, task_docs, strict=True)
            )
            assert all(doc["n_shots_used"] == 2 for doc in task_docs)
        for ex, doc in zip(ours, task_docs, strict=True):
            text = tok.decode(ex.input_ids)
            target = doc["target"].strip()
            assert text == doc["prompt"] + answer_lead(task, template) + target + tok.eos_token
            assert (
                tok.decode([t for t in ex.labels if t != IGNORE_INDEX])
                == answer_lead(task, template) + target + tok.eos_token
            )


def test_loss_on_target_only_or_on_every_token(tokenizers):
    tok = tokenizers[0]
    (ex, *_), _ = build_examples(_cfg(task="mol2caption"), tok, "train")
    n_prompt = len(tok(ex.prompt)["input_ids"])
    assert (
        ex.labels[:n_prompt] == [IGNORE_INDEX] * n_prompt and ex.labels[n_prompt:] == ex.input_ids[n_prompt:]
    )
    (ex2, *_), _ = build_examples(_cfg(task="mol2caption", train_on_inputs=True), tok, "train")
    assert ex2.labels == ex2.input_ids == ex.input_ids


def test_cutoff_drops_whole_shots_never_the_query_or_target(tokenizers):
    tok = tokenizers[0]
    docs = build_task_documents(_cfg(), "mol2caption", "train")
    full = tokenize_document(docs[1], tok, cutoff_len=4096)
    assert full.n_shots_used == 2
    answer = len(tok(full.answer, add_special_tokens=False)["input_ids"]) + 1
    # Room for the query and one shot, not two.
    one_shot = build_documents(
        "chebi20", "train", "mol2caption", shots=1, pool_split="train", data_path=DATA
    )[1]["prompt"]
    cutoff = len(one_shot) + answer + 5
    ex = tokenize_document(docs[1], tok, cutoff_len=cutoff)
    assert ex.n_shots_used == 1 and len(ex.input_ids) <= cutoff
    assert ex.prompt == one_shot  # the least similar shot went, the most similar stayed
    assert ex.prompt.endswith(docs[1]["query"] + ".") and tok.decode(ex.input_ids).endswith(
        full.answer + tok.eos_token
    )
    # The evaluation's own budget logic gives the same prompt for the same budget.
    same = build_documents(
        "chebi20", "train", "mol2caption", shots=2, pool_split="train", data_path=DATA,
        budget=cutoff - answer, count_tokens=lambda t: len(tok(t)["input_ids"]),
    )[1]  # fmt: skip
    assert same["prompt"] == ex.prompt
    # Not even the query and the target fit: the record is dropped, never cut.
    assert tokenize_document(docs[1], tok, cutoff_len=answer + 10) is None
    examples, dropped = build_examples(_cfg(task="mol2caption", cutoff_len=150), tok, "train")
    assert dropped > 0 and len(examples) + dropped == 12
    assert all(len(e.input_ids) <= 150 and e.n_shots_used == 0 for e in examples)


def test_random_walk_is_redrawn_every_epoch_and_seeded(tokenizers):
    tok = tokenizers[0]
    cfg = _cfg(task="mol2caption", random_walk_p=0.6, candidates=10, seed=3)
    epoch = {e: [ex.prompt for ex in build_examples(cfg, tok, "train", epoch=e)[0]] for e in (0, 1)}
    assert epoch[0] != epoch[1]
    assert epoch[1] == [ex.prompt for ex in build_examples(cfg, tok, "train", epoch=1)[0]]
    walk = build_documents(
        "chebi20", "train", "mol2caption", shots=2, pool_split="train", data_path=DATA, k=10,
        random_walk_p=0.6, seed=4,
    )  # fmt: skip
    assert epoch[1] == [
        d["prompt"] for d in walk
    ]  # epoch e draws with seed + e, as the task's random_walk_seed

    calls = []

    def build(e):
        calls.append(e)
        return build_examples(cfg, tok, "train", epoch=e)[0]

    ds = PromptDataset(build, redraw=True)
    ds.set_epoch(0)
    ds.set_epoch(1)
    ds.set_epoch(1)
    assert (
        calls == [0, 1] and ds[0]["input_ids"] == build_examples(cfg, tok, "train", epoch=1)[0][0].input_ids
    )
    static = PromptDataset(build, redraw=False)
    static.set_epoch(5)
    assert calls == [0, 1, 0]


def test_seq2seq_examples(tokenizers):
    t5 = tokenizers[1]
    docs = build_task_documents(_cfg(), "caption2mol", "train")
    ex = tokenize_document(docs[0], t5, cutoff_len=4096, seq2seq=True)
    assert ex.input_ids == t5(docs[0]["prompt"])["input_ids"] and ex.input_ids[-1] == t5.eos_token_id
    assert t5.decode(ex.labels) == "Molecule: " + docs[0]["target"].strip() + "</s>"
    ds = PromptDataset(lambda e: [ex], redraw=False, seq2seq=True)
    assert ds.lengths == [len(ex.input_ids) + len(ex.labels)]


def test_length_grouped_order_is_seeded_and_groups_lengths():
    lengths = [((i * 37) % 101) + 1 for i in range(400)]
    a = order_indices(lengths, 4, 200, [1, 0], True)
    assert sorted(a) == list(range(400))
    assert a == order_indices(lengths, 4, 200, [1, 0], True)
    assert a != order_indices(lengths, 4, 200, [1, 1], True)
    assert lengths[a[0]] == max(lengths)  # longest batch first
    pad = lambda order: sum(max(lengths[i] for i in order[j : j + 4]) * 4 for j in range(0, 400, 4))  # noqa: E731
    plain = order_indices(lengths, 4, 200, [1, 0], False)
    assert sorted(plain) == list(range(400))
    assert pad(a) < 0.8 * pad(plain)  # much less padding than a random order
    longer = [*lengths, 5, 5]
    short = order_indices(longer, 4, 200, [0, 0], True)
    assert sorted(short) == list(range(402))
    # every full micro-batch is one sorted run (the 2-example remainder comes last, so none straddles two)
    assert all(longer[short[j]] >= longer[short[j + 1]] for b in range(0, 400, 4) for j in range(b, b + 3))
