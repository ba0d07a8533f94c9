"""Choosing the n shots of one query from its ranked candidates: top-n, random walk, or ICMA's bucket selection.

Sequence reversal (putting the most similar shot right before the query) is a prompt-rendering step, see
:func:`icma_bench.prompts.render_prompt`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def select_positions(
    n_candidates: int, n: int, *, random_walk_p: float = 0.0, seed: int = 0, query_index: int = 0
) -> list[int]:
    """Rank positions (0 = most similar) of the shots, in rank order.

    Random walk (ours; ICMA's released code lacks it): walk down the ranked list and skip each candidate with
    probability ``random_walk_p``, using ``np.random.default_rng([seed, query_index])`` (reproducible per query, one
    draw per candidate visited), but never skip so far that fewer than ``n`` shots remain; ``p = 0`` is top-n.
    With fewer than ``n`` candidates, all of them are returned.
    """
    if n < 0:
        raise ValueError(f"the number of shots must be >= 0, got {n}")
    if not 0.0 <= random_walk_p < 1.0:
        raise ValueError(f"random_walk_p must be in [0, 1), got {random_walk_p}")
    if n >= n_candidates:
        return list(range(n_candidates))
    if random_walk_p == 0.0:
        return list(range(n))
    rng = np.random.default_rng([seed, query_index])
    chosen: list[int] = []
    for pos in range(n_candidates):
        need = n - len(chosen)
        if need == 0:
            break
        if n_candidates - pos <= need or rng.random() >= random_walk_p:
            chosen.append(pos)
    return chosen


def select_bucket_positions(n_candidates: int, n: int, *, start_pos: int = 0) -> list[int]:
    """ICMA's deterministic "bucket sampling": positions ``start_pos + i * step``, ``step = (N - start_pos) // n``.

    This is what ``RetrievalDataset(bucket_sampling=True)`` picks from its N = 10 candidates (it keeps position ``j``
    when ``(j - start_pos) % int((10 - start_pos) / n_shot) == 0``), generalised to N candidates.
    """
    if n <= 0:
        return []
    if not 0 <= start_pos < n_candidates:
        raise ValueError(f"start_pos={start_pos} must be in [0, {n_candidates})")
    step = (n_candidates - start_pos) // n
    if step < 1:
        raise ValueError(
            f"bucket selection of {n} shots needs at least {n + start_pos} candidates, got {n_candidates}"
        )
    return [start_pos + i * step for i in range(n)]


def select_shots(
    row: Sequence[int] | np.ndarray,
    n: int,
    *,
    random_walk_p: float = 0.0,
    seed: int = 0,
    query_index: int = 0,
) -> list[int]:
    """The pool indices of the shots chosen from ``row`` (one query's candidates in rank order), in rank order."""
    row = list(np.asarray(row).tolist())
    pos = select_positions(len(row), n, random_walk_p=random_walk_p, seed=seed, query_index=query_index)
    return [row[p] for p in pos]
