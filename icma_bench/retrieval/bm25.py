"""Exact, vectorised BM25Okapi (``rank_bm25`` defaults) with ICMA's caption tokenisation.

The index is built once (a sparse term x document weight matrix); a block of queries is scored as one sparse
matrix product. Scores equal ``rank_bm25.BM25Okapi(corpus).get_scores(query)`` bit for bit:

- idf and the epsilon floor are computed with ``math.log`` and summed in ``rank_bm25``'s order (vocabulary in
  first-occurrence order), so ``average_idf`` is the same float;
- each (term, document) weight is evaluated with the same floating-point operations in the same order;
- the query matrix keeps one entry per query *token*, in token order, duplicates included, so scipy's CSR product
  (which accumulates over the left operand's stored entries in order) adds the per-token contributions to each
  document score in exactly the order ``get_scores`` does.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

logger = logging.getLogger(__name__)

K1 = 1.5
B = 0.75
EPSILON = 0.25

_SPACES = re.compile(r" +")


def tokenize_icma(text: str) -> list[str]:
    """ICMA's caption tokenisation (``remove_punctuation`` then ``split(" ")``), applied to the stripped text.

    ``-``, ``,``, ``(``, ``)`` become spaces, ``.`` is deleted, runs of spaces collapse to one, and the text is split
    on single spaces. No lowercasing. Empty tokens (e.g. from a trailing ``" )"``) are kept, as in ICMA.
    """
    # NOTE: ICMA strips each TSV line before splitting out the caption, so the caption is stripped here too.
    text = text.strip()
    text = text.replace("-", " ").replace(",", " ").replace(".", "").replace("(", " ").replace(")", " ")
    return _SPACES.sub(" ", text).split(" ")


@dataclass(frozen=True)
class BM25Index:
    """A BM25Okapi index: ``weights[t, d]`` is term ``t``'s contribution to document ``d``'s score."""

    vocab: dict[str, int]
    idf: np.ndarray  # float64 [n_terms], after the epsilon floor
    average_idf: float
    avgdl: float
    weights: sp.csr_matrix  # float64 [n_terms, n_docs]

    @property
    def n_docs(self) -> int:
        return int(self.weights.shape[1])


def build_bm25_index(
    corpus: Sequence[Sequence[str]], *, k1: float = K1, b: float = B, epsilon: float = EPSILON
) -> BM25Index:
    """Index tokenised documents exactly as ``rank_bm25.BM25Okapi(corpus, k1=k1, b=b, epsilon=epsilon)`` does."""
    n_docs = len(corpus)
    if n_docs == 0:
        raise ValueError("cannot build a BM25 index over an empty pool; pass at least one document")
    vocab: dict[str, int] = {}
    doc_len = np.fromiter((len(doc) for doc in corpus), dtype=np.int64, count=n_docs)
    term_ids = np.fromiter(
        (vocab.setdefault(tok, len(vocab)) for doc in corpus for tok in doc),
        dtype=np.int64,
        count=int(doc_len.sum()),
    )
    doc_ids = np.repeat(np.arange(n_docs, dtype=np.int64), doc_len)
    n_terms = len(vocab)
    # Unique (term, doc) pairs with their term frequencies.
    pair = term_ids * n_docs + doc_ids
    uniq, tf = np.unique(pair, return_counts=True)
    pair_term = uniq // n_docs
    pair_doc = uniq % n_docs
    df = np.bincount(pair_term, minlength=n_terms)

    # idf exactly as rank_bm25: math.log, summed sequentially in vocabulary (first-occurrence) order.
    idf_list = [math.log(n_docs - f + 0.5) - math.log(f + 0.5) for f in df.tolist()]
    idf_sum = 0.0
    for v in idf_list:
        idf_sum += v
    average_idf = idf_sum / n_terms if n_terms else 0.0
    eps = epsilon * average_idf
    idf = np.array([eps if v < 0 else v for v in idf_list], dtype=np.float64)

    avgdl = int(doc_len.sum()) / n_docs
    # Same operations, same order as BM25Okapi.get_scores: (1 - b) + (b * dl) / avgdl, times k1.
    norm = k1 * (1 - b + b * doc_len / avgdl)
    tf_f = tf.astype(np.float64)
    w = idf[pair_term] * (tf_f * (k1 + 1) / (tf_f + norm[pair_doc]))
    weights = sp.csr_matrix((w, (pair_term, pair_doc)), shape=(n_terms, n_docs))
    weights.sort_indices()
    return BM25Index(vocab=vocab, idf=idf, average_idf=average_idf, avgdl=avgdl, weights=weights)


def build_query_matrix(index: BM25Index, queries: Sequence[Sequence[str]]) -> sp.csr_matrix:
    """One row per query, one stored entry per known token *in token order* (duplicates kept, never summed)."""
    indptr = [0]
    indices: list[int] = []
    vocab = index.vocab
    for q in queries:
        indices.extend(vocab[t] for t in q if t in vocab)  # unknown tokens score 0 in rank_bm25 too
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float64)
    # Built from raw arrays: scipy keeps the entries as given (non-canonical), which fixes the summation order.
    m = sp.csr_matrix(
        (data, np.asarray(indices, dtype=np.int32), np.asarray(indptr, dtype=np.int64)),
        shape=(len(queries), len(vocab)),
    )
    m.has_sorted_indices = False
    return m


def compute_bm25_scores(index: BM25Index, query_matrix: sp.csr_matrix) -> np.ndarray:
    """Dense float64 scores [n_queries, n_docs] for a block of queries (rows of :func:`build_query_matrix`)."""
    return (query_matrix @ index.weights).toarray()
