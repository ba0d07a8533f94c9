"""icma_bench.metrics.bleu (no NLTK import) equals NLTK's corpus_bleu bitwise, edge cases included."""

from __future__ import annotations

import random
import warnings

import pytest
from nltk.translate.bleu_score import corpus_bleu

from icma_bench.metrics.bleu import MAX_ORDER, compute_corpus_bleu
from icma_bench.metrics.text import _clipped_counts

WEIGHTS = [(0.5, 0.5), (0.25, 0.25, 0.25, 0.25)]


def _ours(refs, hyps, weights=WEIGHTS):
    counts = [
        [_clipped_counts(r, h, n) for n in range(1, MAX_ORDER + 1)] for r, h in zip(refs, hyps, strict=True)
    ]
    return compute_corpus_bleu(counts, [len(h) for h in hyps], [len(r) for r in refs], weights)


def _nltk(refs, hyps, weights=WEIGHTS):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [corpus_bleu([[r] for r in refs], hyps, weights=w) for w in weights]


@pytest.mark.parametrize("seed", range(20))
def test_random_corpora_bitwise(seed):
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(rng.choice([3, 8, 30]))]
    refs, hyps = [], []
    for _ in range(rng.randint(1, 40)):
        refs.append([rng.choice(vocab) for _ in range(rng.randint(0, 25))])
        hyps.append([rng.choice(vocab) for _ in range(rng.randint(0, 25))])
    assert _ours(refs, hyps) == _nltk(refs, hyps)


@pytest.mark.parametrize(
    ("refs", "hyps"),
    [
        ([["a", "b", "c"]], [[]]),  # empty hypothesis: brevity penalty 0
        ([["a", "b"]], [["c", "d"]]),  # no unigram match: 0
        ([["a", "b", "c", "d"]], [["a", "b", "x", "y"]]),  # no 3-gram: method0's tiny float
        ([["a"] * 3], [["a"] * 9]),  # longer than the reference: brevity penalty 1
        ([["a", "b", "c", "d", "e"]], [["a", "b", "c", "d", "e"]]),  # perfect
        ([[]], [["a"]]),  # empty reference
    ],
)
def test_edge_cases_bitwise(refs, hyps):
    assert _ours(refs, hyps) == _nltk(refs, hyps)
    assert _ours(refs, hyps, [(0.25,) * 4]) == _nltk(refs, hyps, [(0.25,) * 4])


def test_molecule_metrics_do_not_import_nltk():
    """The molecule path of a one-file score needs no NLTK (its package import alone costs seconds)."""
    import subprocess
    import sys

    code = (
        "import sys; from icma_bench.metrics import compute; "
        "compute('caption2mol', ['CCO'], ['CCN']); print('nltk' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
