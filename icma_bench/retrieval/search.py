"""Exact top-k search that streams over query blocks and pool chunks, so memory stays bounded at any pool size.

A scorer returns the similarities of a block of queries against one chunk of pool columns ``[c0, c1)``. Each
(block, chunk) pair keeps its own top k; the per-chunk candidates are concatenated in chunk order and the top k of
those is the answer. That is exactly the unchunked top k: ranking is a total order (score descending, then pool
position ascending), an item in the global top k is in its own chunk's top k, and the candidates of equal score
sit in ascending pool position, which is the tie order :func:`select_topk` keeps. Scores are computed per pair by
the same operations whatever the chunking, so results are bitwise identical to scoring the whole pool at once.

Working memory is ``workers x block x chunk`` float64 scores plus the scorer's temporaries (a few times that),
whatever the pool size: ~32 MiB of scores per block by default (:data:`BLOCK_BYTES`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm.auto import tqdm

from icma_bench.retrieval import bm25, fingerprint
from icma_bench.retrieval.topk import select_topk

logger = logging.getLogger(__name__)

BLOCK_BYTES = 1 << 25  # ~32 MiB of float64 scores per (query block, pool chunk)
# Pool columns scored at once; a pool up to this size is one chunk. Measured (benchmarks/README.md, "Scale"):
# 16,384 fingerprints (4 MiB of packed words) stay in cache across a query block's word passes, 3.4x faster per
# query for Morgan at 10^5 than 262,144 on this machine.
POOL_CHUNK = 1 << 14

Scorer = Callable[[np.ndarray, int, int], np.ndarray]  # (query rows, c0, c1) -> float64 [len(rows), c1 - c0]


def chunk_bounds(n_pool: int, pool_chunk: int, k: int) -> list[tuple[int, int]]:
    """Column ranges of at most ``pool_chunk`` (at least ``k``) columns; a short tail joins the chunk before it."""
    size = max(int(pool_chunk), k, 1)
    starts = list(range(0, n_pool, size))
    bounds = [(s, min(s + size, n_pool)) for s in starts]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < k:
        bounds[-2:] = [(bounds[-2][0], n_pool)]
    return bounds


def search_blocks(
    score_chunk: Scorer,
    n_queries: int,
    n_pool: int,
    k: int,
    *,
    exclude_self: bool,
    workers: int,
    show_progress: bool = False,
    desc: str = "search",
    pool_chunk: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of every query: blocks of queries in ``workers`` threads (numpy/scipy release the GIL), each
    scored chunk by chunk over the pool (``pool_chunk`` columns, default :data:`POOL_CHUNK`; ``n_pool``: the
    whole pool at once)."""
    bounds = chunk_bounds(n_pool, POOL_CHUNK if pool_chunk is None else pool_chunk, k)
    width = max(c1 - c0 for c0, c1 in bounds)
    block = int(max(8, min(1024, BLOCK_BYTES // (8 * max(width, 1)))))
    indices = np.empty((n_queries, k), dtype=np.int64)
    scores = np.empty((n_queries, k), dtype=np.float64)

    def run(start: int) -> tuple[int, np.ndarray, np.ndarray]:
        rows = np.arange(start, min(start + block, n_queries))
        cand_i, cand_s = [], []
        for c0, c1 in bounds:
            s = score_chunk(rows, c0, c1)
            if exclude_self:
                hit = (rows >= c0) & (rows < c1)
                s[np.flatnonzero(hit), rows[hit] - c0] = -np.inf  # leave-one-out by position
            idx, sc = select_topk(s, k)
            cand_i.append(idx + c0)
            cand_s.append(sc)
        if len(bounds) == 1:
            return start, cand_i[0], cand_s[0]
        pos, sc = select_topk(np.concatenate(cand_s, axis=1), k)
        return start, np.take_along_axis(np.concatenate(cand_i, axis=1), pos, axis=1), sc

    with (
        tqdm(total=n_queries, desc=desc, unit="query", disable=not show_progress) as bar,
        ThreadPoolExecutor(max_workers=max(1, workers)) as ex,
    ):
        for start, idx, sc in ex.map(run, range(0, n_queries, block)):
            indices[start : start + idx.shape[0]] = idx
            scores[start : start + idx.shape[0]] = sc
            bar.update(idx.shape[0])
    return indices, scores


def search_fingerprints(
    q_fps: fingerprint.Fingerprints,
    p_fps: fingerprint.Fingerprints,
    k: int,
    *,
    exclude_self: bool,
    empty_similarity: float = fingerprint.EMPTY_SIMILARITY,
    workers: int = 2,
    show_progress: bool = False,
    desc: str = "fingerprints",
    pool_chunk: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact Tanimoto top ``k`` of packed fingerprints (``exclude_self``: ``q_fps`` is ``p_fps``)."""
    # Only the sizes some pair is compared at (min of the two sizes: a size present on either side) are tabled.
    levels = set(np.unique(p_fps.sizes).tolist()) | set(np.unique(q_fps.sizes).tolist())
    p_table = fingerprint.build_level_table(p_fps, levels)
    q_table = p_table if exclude_self else fingerprint.build_level_table(q_fps, levels)
    bad_pool = ~p_fps.valid

    def score(rows: np.ndarray, c0: int, c1: int) -> np.ndarray:
        s = fingerprint.compute_tanimoto_block(
            q_fps.sizes,
            q_table,
            p_fps.sizes[c0:c1],
            fingerprint.slice_level_table(p_table, c0, c1),
            rows,
            empty_similarity=empty_similarity,
        )
        s[~q_fps.valid[rows]] = 0.0  # an unparsable SMILES is similar to nothing (its fingerprint is empty)
        s[:, bad_pool[c0:c1]] = 0.0
        return s

    n_q, n_p = len(q_fps), len(p_fps)
    return search_blocks(
        score,
        n_q,
        n_p,
        k,
        exclude_self=exclude_self,
        workers=workers,
        show_progress=show_progress,
        desc=desc,
        pool_chunk=pool_chunk,
    )


def search_bm25(
    index: bm25.BM25Index,
    query_tokens: Sequence[Sequence[str]],
    k: int,
    *,
    exclude_self: bool,
    workers: int = 2,
    show_progress: bool = False,
    pool_chunk: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact BM25 top ``k`` of tokenised queries against ``index``.

    Scores are bitwise those of the whole-pool product: scipy's CSR product accumulates each score over the query
    row's entries in stored order, whichever columns of the weight matrix are kept.
    """
    n_pool = index.n_docs
    bounds = chunk_bounds(n_pool, POOL_CHUNK if pool_chunk is None else pool_chunk, k)
    # NOTE: with several chunks the weight matrix is held twice (whole + column chunks, ~12 bytes per stored
    # (term, document) pair each; three times while splitting): slicing CSR columns per block would rescan every
    # stored entry each time. The split goes through CSC, where a column range is one contiguous slice.
    if len(bounds) == 1:
        parts = {0: index.weights}
    else:
        by_col = index.weights.tocsc()
        parts = {c0: by_col[:, c0:c1].tocsr() for c0, c1 in bounds}
        del by_col

    def score(rows: np.ndarray, c0: int, c1: int) -> np.ndarray:
        q = bm25.build_query_matrix(index, [query_tokens[r] for r in rows])
        return (q @ parts[c0]).toarray()

    return search_blocks(
        score,
        len(query_tokens),
        n_pool,
        k,
        exclude_self=exclude_self,
        workers=workers,
        show_progress=show_progress,
        desc="bm25",
        pool_chunk=pool_chunk,
    )
