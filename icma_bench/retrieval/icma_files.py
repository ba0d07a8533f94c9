"""ICMA's neighbour-file format: ``query_cid<TAB>pool_cid<TAB>score``, k lines per query in rank order (the layout
of the authors' released ``test_10_shot_*.txt`` files)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def format_score(score: float) -> str:
    """A score as ICMA's files print it (Python's shortest round-trip repr, e.g. ``0.8211764705882353``)."""
    return repr(float(score))


def render_icma_neighbours(
    indices: np.ndarray, scores: np.ndarray, query_ids: Sequence[str], pool_ids: Sequence[str]
) -> str:
    """ICMA's neighbour file: ``query_cid<TAB>pool_cid<TAB>score``, k lines per query, in rank order."""
    if indices.shape[0] != len(query_ids):
        raise ValueError(f"{indices.shape[0]} neighbour rows but {len(query_ids)} query ids")
    lines = []
    for qid, row, srow in zip(query_ids, indices.tolist(), scores.tolist(), strict=True):
        lines.extend(f"{qid}\t{pool_ids[j]}\t{format_score(s)}\n" for j, s in zip(row, srow, strict=True))
    return "".join(lines)


def load_icma_neighbours(path: str | Path) -> dict[str, list[tuple[str, float]]]:
    """Read an ICMA neighbour file into ``{query_cid: [(pool_cid, score), ...]}`` (rank order, file order kept)."""
    out: dict[str, list[tuple[str, float]]] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            parts = line.rstrip("\r\n").split("\t")
            if len(parts) != 3:
                raise ValueError(f"{path}:{lineno}: expected query_cid<TAB>pool_cid<TAB>score, got {line!r}")
            out.setdefault(parts[0], []).append((parts[1], float(parts[2])))
    return out
