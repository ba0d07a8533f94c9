"""Caption metrics: parity with direct NLTK / rouge_score calls (exact equality) and resource resolution."""

from __future__ import annotations

import csv
import os

import pytest
from conftest import FIXTURES, SHARED_DATA
from molt5_reference import molt5_caption_reference
from nltk.translate.meteor_score import meteor_score

from icma_bench.metrics import ResourceNotFoundError, compute, load_caption_tokenizer, metric_names
from icma_bench.metrics.meteor import MemoStemmer, MemoWordNet, load_wordnet_names
from icma_bench.metrics.text import tokenize_captions

pytestmark = pytest.mark.skipif(
    not (SHARED_DATA / "scibert_scivocab_uncased" / "vocab.txt").is_file(),
    reason=f"SciBERT vocab / WordNet not found under {SHARED_DATA}",
)


def _read_molt5(path):
    with open(path, encoding="utf8") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [
            (row["ground truth"], row["output"][6:] if row["output"].startswith("[CLS] ") else row["output"])
            for row in reader
        ]


def test_known_scibert_tokenisation():
    tok = load_caption_tokenizer(None)
    out = tokenize_captions(["The molecule is a monocarboxylic acid anion; Ça [CLS]!"], tok)
    assert out.tokens == [
        ["the", "molecule", "is", "a", "monoc", "##arbox", "##ylic", "acid", "anion", ";", "ca", "!"]
    ]
    assert len(tok.backend.get_vocab(with_added_tokens=True)) == 31090


def test_truncation_at_512_tokens_is_counted():
    tok = load_caption_tokenizer(None)
    out = tokenize_captions(["word " * 600, "short"], tok)
    assert [len(t) for t in out.tokens] == [512, 1]
    assert out.truncated == 1


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_caption_parity_with_molt5_script(n_jobs, monkeypatch):
    monkeypatch.setattr("icma_bench.metrics.workers.MIN_PARALLEL_ITEMS", 1)
    pairs = _read_molt5(FIXTURES / "metrics" / "mol2caption.tsv")
    expected = molt5_caption_reference(pairs)
    result = compute("mol2caption", [p for _, p in pairs], [g for g, _ in pairs], n_jobs=n_jobs)
    assert list(result.scores) == metric_names("mol2caption")
    for name, value in expected.items():
        assert result.scores[name] == value, name  # exact, not approximate
    assert result.counts["empty"] == 1
    assert result.signature["tokenizer"].startswith("scibert_scivocab_uncased#")
    assert result.signature["nltk"] and result.signature["rouge_score"] and result.signature["wordnet"]


def test_caption_all_empty_outputs_score_zero():
    result = compute("mol2caption", ["", ""], ["The molecule is water.", "An acid."], protocol="both")
    assert all(v == 0 for v in result.scores.values())
    assert result.counts["empty"] == 2


def test_memo_wordnet_matches_nltk_wordnet():
    from nltk.corpus import wordnet

    pairs = [
        (
            ["the", "compound", "is", "a", "big", "acid", "with", "large", "rings"],
            ["the", "compound", "is", "a", "large", "acid", "with", "big", "rings"],
        ),
        (
            ["it", "functions", "as", "a", "medicine", "and", "drug"],
            ["it", "works", "as", "a", "medication", "and", "a", "drug"],
        ),
    ]
    stemmer = MemoStemmer()
    words = {stemmer.stem(w) for hyp, _ in pairs for w in hyp}
    vocab = {stemmer.stem(w) for _, ref in pairs for w in ref}
    memo = MemoWordNet(load_wordnet_names(words), vocabulary=vocab)
    for hyp, ref in pairs:
        assert meteor_score([ref], hyp, stemmer=stemmer, wordnet=memo) == meteor_score(
            [ref], hyp, wordnet=wordnet
        )
    assert meteor_score([pairs[0][1]], pairs[0][0]) > 0.9  # synonyms did match


def test_missing_wordnet_names_the_fix(monkeypatch, tmp_path):
    import nltk.data

    from icma_bench.metrics.resources import find_wordnet

    monkeypatch.setenv("NLTK_DATA", str(tmp_path))
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])  # a loaded NLTK's path is what counts
    with pytest.raises(ResourceNotFoundError, match="NLTK_DATA") as info:
        find_wordnet()
    assert "nltk.downloader wordnet" in str(info.value)


def test_missing_scibert_names_the_fix(monkeypatch, tmp_path):
    load_caption_tokenizer.cache_clear()
    try:
        monkeypatch.setenv("ICMA_BENCH_SCIBERT", str(tmp_path))
        with pytest.raises(ResourceNotFoundError, match="ICMA_BENCH_SCIBERT"):
            load_caption_tokenizer(None)
        monkeypatch.delenv("ICMA_BENCH_SCIBERT")
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
        monkeypatch.setenv("ICMA_BENCH_OFFLINE", "1")
        with pytest.raises(ResourceNotFoundError, match="set ICMA_BENCH_SCIBERT"):
            load_caption_tokenizer(None)
    finally:
        load_caption_tokenizer.cache_clear()


def test_explicit_tokenizer_path_changes_signature(tmp_path):
    vocab = tmp_path / "tiny" / "vocab.txt"
    vocab.parent.mkdir()
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "molecule", "is", "water", "."]
    vocab.write_text("\n".join(words + [f"w{i}" for i in range(100)]) + "\n", encoding="utf-8")
    result = compute(
        "mol2caption", ["The molecule is water."], ["The molecule is water."], tokenizer=str(vocab)
    )
    assert result.scores["meteor"] > 0.99
    assert result.signature["tokenizer"].startswith("tiny#")
    assert os.environ.get("ICMA_BENCH_SCIBERT")  # the default stayed configured
