"""Dense retrievers: cosine similarity over embeddings (``graph``, ``sbert``) and seeded ``random`` neighbours."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

logger = logging.getLogger(__name__)

COSINE_EPS = 1e-8  # torch.nn.functional.cosine_similarity's default eps (ICMA's gnn neighbours use it)
DEFAULT_SBERT_MODEL = "paraphrase-distilroberta-base-v1"  # ICMA's sentence-BERT model


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm in float64 (a zero row stays zero: cosine 0 to everything)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array [n, dim], got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN or infinite values; recompute them before retrieval")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, COSINE_EPS)


def compute_cosine_block(queries_unit: np.ndarray, pool_unit: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Cosine similarities [len(rows), n_pool] of unit-normalised query rows against the unit-normalised pool."""
    return queries_unit[rows] @ pool_unit.T


def encode_sbert(
    texts: Sequence[str],
    model: str = DEFAULT_SBERT_MODEL,
    *,
    batch_size: int = 64,
    show_progress: bool = False,
) -> np.ndarray:
    """Embed texts with a sentence-transformers model (name or local path; needs the ``sbert`` extra)."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the sbert retriever needs sentence-transformers: pip install -e '.[sbert]' in a checkout (the `sbert` extra)"
        ) from exc
    st = SentenceTransformer(model, trust_remote_code=False)
    emb = st.encode(
        list(texts), batch_size=batch_size, show_progress_bar=show_progress, convert_to_numpy=True
    )
    return np.asarray(emb, dtype=np.float32)


def build_random_neighbours(
    n_queries: int, n_pool: int, k: int, *, seed: int = 0, exclude_self: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random neighbours: query ``i`` draws from ``np.random.default_rng([seed, i])`` (score 1.0, as ICMA).

    Each row is a prefix of that query's own random permutation of the pool, so a smaller ``k`` gives a prefix of a
    larger one and the result does not depend on how many other queries there are.
    """
    avail = n_pool - (1 if exclude_self else 0)
    if not 0 < k <= avail:
        raise ValueError(f"k={k} must be between 1 and the number of candidates ({avail})")
    idx = np.empty((n_queries, k), dtype=np.int64)
    for i in range(n_queries):
        perm = np.random.default_rng([seed, i]).permutation(n_pool)
        if exclude_self:
            perm = perm[perm != i]
        idx[i] = perm[:k]
    return idx, np.ones((n_queries, k), dtype=np.float64)
