"""METEOR without importing NLTK: the mirror equals NLTK's meteor_score bitwise, and is used only for the NLTK
source it mirrors; a warm caption score imports neither NLTK nor transformers."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import SHARED_DATA
from molt5_reference import read_molt5
from nltk.corpus import wordnet
from nltk.translate.meteor_score import meteor_score as nltk_meteor

from icma_bench.metrics import load_caption_tokenizer
from icma_bench.metrics import meteor as meteor_module
from icma_bench.metrics.meteor import (
    MemoWordNet,
    build_meteor,
    load_stems,
    load_wordnet_names,
    meteor_score,
    nltk_meteor_is_mirrored,
)
from icma_bench.metrics.text import tokenize_captions

RELEASED = SHARED_DATA / "released_outputs" / "molt5"


def test_the_installed_nltk_is_the_mirrored_source():
    assert nltk_meteor_is_mirrored()


@pytest.mark.skipif(not RELEASED.is_dir(), reason=f"released outputs not found under {RELEASED}")
@pytest.mark.parametrize("name", ["molt5-large-smiles2caption.txt", "t5-v1_1-small-smiles2caption.txt"])
def test_mirror_equals_nltk_bitwise_on_real_captions(name):
    pairs = read_molt5(RELEASED / name, strip_cls=True)[:800]
    tok = load_caption_tokenizer(None)
    refs = tokenize_captions([g for g, _ in pairs], tok).tokens
    hyps = tokenize_captions([o for _, o in pairs], tok).tokens
    words = {w.lower() for toks in refs + hyps for w in toks}
    stems = load_stems(words)
    memo = MemoWordNet(load_wordnet_names(set(stems.values())))
    for ref, hyp in zip(refs, hyps, strict=True):
        ours = meteor_score(ref, hyp, stems.__getitem__, memo.synonyms)
        assert ours == nltk_meteor([ref], hyp, wordnet=wordnet)


@pytest.mark.parametrize(
    ("ref", "hyp"),
    [
        ([], []),
        (["a"], []),
        ([], ["a"]),
        (["the", "acid", "is", "big"], ["the", "acid", "is", "big"]),
        (["it", "works", "as", "a", "medication"], ["it", "functions", "as", "a", "medicine"]),  # synonyms
        (["The", "ACIDS", "acid"], ["acid", "the", "acids", "acid"]),  # case, stems, repeats
    ],
)
def test_mirror_edge_cases(ref, hyp):
    words = {w.lower() for w in ref + hyp}
    stems = load_stems(words)
    memo = MemoWordNet(load_wordnet_names(set(stems.values())))
    assert meteor_score(ref, hyp, stems.__getitem__, memo.synonyms) == nltk_meteor(
        [ref], hyp, wordnet=wordnet
    )


def test_another_nltk_source_falls_back_to_nltk(monkeypatch):
    monkeypatch.setattr(meteor_module, "MIRRORED_SOURCES", frozenset())
    meteor_module.nltk_meteor_is_mirrored.cache_clear()
    try:
        stems = load_stems({"acid", "acids"})
        fn = build_meteor(stems, MemoWordNet(load_wordnet_names(set(stems.values()))))
        assert fn(["acid", "acids"], ["acids"]) == nltk_meteor(
            [["acid", "acids"]], ["acids"], wordnet=wordnet
        )
        assert "nltk.translate.meteor_score" in repr(fn.__code__.co_names) or fn.__closure__
    finally:
        meteor_module.nltk_meteor_is_mirrored.cache_clear()


def test_a_warm_caption_score_imports_neither_nltk_nor_transformers(tmp_path):
    code = (
        "import sys; from icma_bench.metrics import compute; "
        "r = compute('mol2caption', ['The molecule is an acid.'], ['The molecule is a carboxylic acid.']); "
        "print(sorted(m for m in ('nltk', 'transformers', 'rouge_score.rouge_scorer') if m in sys.modules))"
    )
    cold = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    warm = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert warm.stdout.strip() == "[]", warm.stdout + warm.stderr
    assert cold.returncode == 0
