"""Top-k selection over a dense block of scores: most similar first, ties broken by pool position.

This is the order of ICMA's ``sorted(range(n), key=lambda i: scores[i], reverse=True)[:k]`` (Python's sort is
stable, so equal scores keep pool order), computed with ``np.partition`` instead of a full sort.
"""

from __future__ import annotations

import numpy as np


def select_topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(indices int64 [b, k], scores float64 [b, k])`` of the ``k`` best columns of each row.

    Rows may hold ``-inf`` for excluded columns (never selected while ``k`` finite entries exist). NaN is not
    allowed: retrievers map undefined similarities to a number before calling this.
    """
    b, n = scores.shape
    if not 0 < k <= n:
        raise ValueError(f"k={k} must be between 1 and the pool size ({n})")
    if k == n:
        order = np.argsort(-scores, axis=1, kind="stable")
        return order.astype(np.int64), np.take_along_axis(scores, order, axis=1).astype(np.float64)
    # The k-th largest value of each row.
    kth = np.partition(scores, n - k, axis=1)[:, n - k][:, None]
    greater = scores > kth
    equal = scores == kth
    need = k - greater.sum(axis=1, keepdims=True)
    # Of the entries equal to the k-th value, keep the first `need` in pool order.
    keep = greater | (equal & (np.cumsum(equal, axis=1) <= need))
    rows, cols = np.nonzero(keep)  # row-major: within a row, ascending pool position
    cols = cols.reshape(b, k)
    vals = np.take_along_axis(scores, cols, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")  # stable: equal scores stay in pool order
    return np.take_along_axis(cols, order, axis=1).astype(np.int64), np.take_along_axis(
        vals, order, axis=1
    ).astype(np.float64)
