"""Approximate fingerprint top-k: an HNSW index (usearch, optional extra ``ann``) proposes, exact Tanimoto decides.

The index holds every fingerprint as 2,048 bits: a fingerprint folded to ``s`` bits is *tiled* 2,048 / ``s``
times, so two fingerprints of the same size have exactly their Tanimoto in the index (pairs of different folded
sizes only approximately: the exact rule folds the larger to the smaller). The index proposes ``candidates``
neighbours per query; they are rescored with the exact arithmetic (same integers, same division: bitwise the
scores of :func:`icma_bench.retrieval.search.search_fingerprints`) and ranked with ties by pool position. What
can differ from exact search is only *which* items are found: measure recall against the exact search
(``benchmarks/bench_scale.py --ann``). Not used by :func:`build_neighbours`; benchmark numbers use exact search.
"""

from __future__ import annotations

import logging

import numpy as np

from icma_bench.retrieval import fingerprint
from icma_bench.retrieval.topk import select_topk

logger = logging.getLogger(__name__)

WIDTH = fingerprint.MORGAN_BITS  # 2,048 bits = 32 words


def tile_words(fps: fingerprint.Fingerprints) -> np.ndarray:
    """Packed bytes uint8 [n, 256]: each fingerprint's ``size`` bits repeated to fill 2,048 bits."""
    out = np.empty((len(fps), WIDTH // fingerprint.WORD_BITS), dtype=np.uint64)
    for s in np.unique(fps.sizes):
        rows = np.flatnonzero(fps.sizes == s)
        w = int(s) // fingerprint.WORD_BITS
        out[rows] = np.tile(fps.words[rows, :w], (1, WIDTH // int(s)))
    return out.view(np.uint8)


def compute_pair_tanimoto(
    q: fingerprint.Fingerprints,
    q_rows: np.ndarray,
    p: fingerprint.Fingerprints,
    p_rows: np.ndarray,
    *,
    empty_similarity: float = fingerprint.EMPTY_SIMILARITY,
) -> np.ndarray:
    """Exact Tanimoto of the pairs ``(q[q_rows[i]], p[p_rows[i]])``, each compared at the smaller folded size."""
    out = np.zeros(q_rows.shape[0], dtype=np.float64)
    qs, ps = q.sizes[q_rows], p.sizes[p_rows]
    for sq in np.unique(qs):
        for sp in np.unique(ps[qs == sq]):
            sel = np.flatnonzero((qs == sq) & (ps == sp))
            s = int(min(sq, sp))
            a = fingerprint.fold_words(q.words[q_rows[sel]], int(sq), s)
            b = fingerprint.fold_words(p.words[p_rows[sel]], int(sp), s)
            c = np.bitwise_count(a & b).sum(axis=1, dtype=np.int64)
            na = np.bitwise_count(a).sum(axis=1, dtype=np.int64)
            nb = np.bitwise_count(b).sum(axis=1, dtype=np.int64)
            denom = (na + nb - c).astype(np.float64)
            val = np.full(sel.shape[0], empty_similarity, dtype=np.float64)
            np.divide(c.astype(np.float64), denom, out=val, where=denom > 0)
            out[sel] = val
    out[~q.valid[q_rows] | ~p.valid[p_rows]] = 0.0
    return out


def build_ann_index(
    p_fps: fingerprint.Fingerprints, *, connectivity: int = 16, expansion_add: int = 128, threads: int = 2
):
    """An HNSW index (usearch, Tanimoto on 2,048-bit vectors) over the pool; keys are pool positions."""
    try:
        from usearch.index import Index
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("approximate fingerprint search needs usearch: pip install -e '.[ann]'") from exc
    index = Index(
        ndim=WIDTH, metric="tanimoto", dtype="b1", connectivity=connectivity, expansion_add=expansion_add
    )
    index.add(np.arange(len(p_fps), dtype=np.uint64), tile_words(p_fps), threads=threads)
    return index


def search_fingerprints_approx(
    q_fps: fingerprint.Fingerprints,
    p_fps: fingerprint.Fingerprints,
    k: int,
    *,
    index=None,
    candidates: int | None = None,
    expansion_search: int = 128,
    empty_similarity: float = fingerprint.EMPTY_SIMILARITY,
    threads: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate top ``k`` (``indices``, exact ``scores``); ``candidates`` (default 10·k) are rescored exactly."""
    n_pool = len(p_fps)
    if not 0 < k <= n_pool:
        raise ValueError(f"k={k} must be between 1 and the pool size ({n_pool})")
    index = build_ann_index(p_fps, threads=threads) if index is None else index
    c = min(n_pool, candidates or 10 * k)
    index.expansion_search = max(expansion_search, c)
    found = index.search(tile_words(q_fps), c, threads=threads)
    keys = np.asarray(found.keys, dtype=np.int64).reshape(len(q_fps), c)
    counts = np.asarray(found.counts).reshape(len(q_fps))
    # Missing candidates (fewer found than asked) are filled with items already found: they cannot displace any.
    for i in np.flatnonzero(counts < c):
        keys[i, counts[i] :] = keys[i, 0] if counts[i] else 0
    keys = np.sort(keys, axis=1)  # pool order: ties then rank by pool position, as the exact search does
    rows = np.repeat(np.arange(len(q_fps)), c)
    scores = compute_pair_tanimoto(q_fps, rows, p_fps, keys.ravel(), empty_similarity=empty_similarity)
    scores = scores.reshape(len(q_fps), c)
    dup = np.zeros_like(keys, dtype=bool)
    dup[:, 1:] = keys[:, 1:] == keys[:, :-1]
    scores[dup] = -np.inf  # a key listed twice counts once
    pos, top = select_topk(scores, min(k, c))
    return np.take_along_axis(keys, pos, axis=1), top
