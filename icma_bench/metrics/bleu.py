"""Corpus BLEU exactly as NLTK's ``corpus_bleu`` computes it (one reference per hypothesis, no smoothing), from
per-pair clipped n-gram counts, without importing NLTK (its package import alone costs ~2.7 s of a short command).

Statement for statement the arithmetic of ``nltk.translate.bleu_score.corpus_bleu`` 3.9/3.10: numerators and
denominators summed per order, ``brevity_penalty`` on the summed lengths, ``SmoothingFunction().method0`` (an order
with no match contributes ``sys.float_info.min``), ``bp * exp(fsum(w * log p))`` with ``p = numerator / denominator``
as ``Fraction.__float__`` divides. ``tests/test_metrics_bleu.py`` pins it to NLTK bitwise.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

MAX_ORDER = 4


def brevity_penalty(closest_ref_len: int, hyp_len: int) -> float:
    """NLTK's ``brevity_penalty``."""
    if hyp_len > closest_ref_len:
        return 1
    if hyp_len == 0:
        return 0
    return math.exp(1 - closest_ref_len / hyp_len)


def compute_corpus_bleu(
    counts: Sequence[Sequence[tuple[int, int]]],
    hyp_lengths: Sequence[int],
    ref_lengths: Sequence[int],
    weights: Sequence[tuple[float, ...]],
) -> list[float]:
    """NLTK ``corpus_bleu`` (single reference, no smoothing) for each weight tuple, from per-pair
    ``modified_precision`` fractions given as ``(numerator, denominator)`` integers per order."""
    order = max(len(w) for w in weights)
    num = [0] * (order + 1)
    den = [0] * (order + 1)
    for pair in counts:
        for i in range(1, order + 1):
            num[i] += pair[i - 1][0]
            den[i] += pair[i - 1][1]
    # One reference per hypothesis: NLTK's closest_ref_length is that reference's length.
    bp = brevity_penalty(int(sum(ref_lengths)), int(sum(hyp_lengths)))
    if num[1] == 0:
        return [0.0] * len(weights)
    # method0: an order without any match becomes the smallest float (log -> a ~0 precision).
    p_n = [num[i] / den[i] if num[i] != 0 else sys.float_info.min for i in range(1, order + 1)]
    out = []
    for weight in weights:
        s = (w_i * math.log(p_i) for w_i, p_i in zip(weight, p_n, strict=False) if p_i > 0)
        out.append(bp * math.exp(math.fsum(s)))
    return out


def ngram_matrix(
    counts: Sequence[Sequence[tuple[int, int]]], hyp_lengths: Sequence[int], ref_lengths: Sequence[int]
):
    """Per-pair sufficient statistics of corpus BLEU as one int64 array ``[n, 2 * MAX_ORDER + 2]``: the clipped
    numerators of orders 1..4, their denominators, the hypothesis length and the reference length. Summing any
    subset of rows (a bootstrap resample) and passing the sums to :func:`compute_bleu_from_sums` gives that
    subset's corpus BLEU."""
    import numpy as np

    out = np.zeros((len(hyp_lengths), 2 * MAX_ORDER + 2), dtype=np.int64)
    for row, pair in enumerate(counts):
        for i, (num, den) in enumerate(pair[:MAX_ORDER]):
            out[row, i] = num
            out[row, MAX_ORDER + i] = den
    out[:, 2 * MAX_ORDER] = np.asarray(hyp_lengths, dtype=np.int64)
    out[:, 2 * MAX_ORDER + 1] = np.asarray(ref_lengths, dtype=np.int64)
    return out


def compute_bleu_from_sums(sums, weights: tuple[float, ...]):
    """Corpus BLEU of many corpora at once from summed :func:`ngram_matrix` rows (``sums``: ``[b, 2*MAX_ORDER+2]``),
    vectorised with the arithmetic of :func:`compute_corpus_bleu` (method0: an order without matches contributes
    the smallest float; no unigram match -> 0)."""
    import numpy as np

    sums = np.asarray(sums, dtype=np.float64)
    order = len(weights)
    num = sums[:, :order]
    den = sums[:, MAX_ORDER : MAX_ORDER + order]
    hyp, ref = sums[:, 2 * MAX_ORDER], sums[:, 2 * MAX_ORDER + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(num > 0, num / np.maximum(den, 1), sys.float_info.min)
        log_sum = (np.log(p) * np.asarray(weights)).sum(axis=1)
        bp = np.where(hyp > ref, 1.0, np.where(hyp == 0, 0.0, np.exp(1 - ref / np.maximum(hyp, 1))))
    return np.where(num[:, 0] == 0, 0.0, bp * np.exp(log_sum))
