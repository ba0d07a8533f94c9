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

import itertools
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

logger = logging.getLogger(__name__)

K1 = 1.5
B = 0.75
EPSILON = 0.25
INDEX_CHUNK = 1 << 16  # documents tokenised and paired at a time while indexing

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


def _index_chunk(docs: list[Sequence[str]], vocab: dict[str, int], first_doc: int) -> tuple[np.ndarray, ...]:
    """Unique (document, term) pairs of a chunk of documents, document-major: (doc, term, tf, doc lengths)."""
    doc_len = np.fromiter((len(doc) for doc in docs), dtype=np.int64, count=len(docs))
    term_ids = np.fromiter(
        (vocab.setdefault(tok, len(vocab)) for doc in docs for tok in doc),
        dtype=np.int64,
        count=int(doc_len.sum()),
    )
    local = np.repeat(np.arange(len(docs), dtype=np.int64), doc_len)
    n_terms = max(len(vocab), 1)
    uniq, tf = np.unique(local * n_terms + term_ids, return_counts=True)
    return (uniq // n_terms + first_doc).astype(np.int32), (uniq % n_terms).astype(np.int32), tf, doc_len


def build_bm25_index(
    corpus: Iterable[Sequence[str]],
    *,
    k1: float = K1,
    b: float = B,
    epsilon: float = EPSILON,
    chunk_docs: int = INDEX_CHUNK,
) -> BM25Index:
    """Index tokenised documents exactly as ``rank_bm25.BM25Okapi(corpus, k1=k1, b=b, epsilon=epsilon)`` does.

    ``corpus`` may be any iterable (a generator of token lists): it is read once, ``chunk_docs`` documents at a
    time, so only the index (~12 bytes per stored (term, document) pair, plus ~20 during the build) and one chunk
    of token lists are ever held.
    """
    vocab: dict[str, int] = {}
    parts: list[tuple[np.ndarray, ...]] = []
    it = iter(corpus)
    n_docs = 0
    while True:
        docs = list(itertools.islice(it, chunk_docs))
        if not docs:
            break
        parts.append(_index_chunk(docs, vocab, n_docs))
        n_docs += len(docs)
    if n_docs == 0:
        raise ValueError("cannot build a BM25 index over an empty pool; pass at least one document")
    if n_docs >= 2**31:
        raise ValueError(f"{n_docs} documents: a BM25 index holds at most 2**31 - 1; shard the pool")
    n_terms = len(vocab)
    pair_doc = np.concatenate([p[0] for p in parts])
    pair_term = np.concatenate([p[1] for p in parts])
    tf = np.concatenate([p[2] for p in parts])
    doc_len = np.concatenate([p[3] for p in parts])
    del parts
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
    del tf
    w = idf[pair_term] * (tf_f * (k1 + 1) / (tf_f + norm[pair_doc]))
    del tf_f
    # Canonical CSR (rows = terms, ascending documents within a row) built directly: the pairs are in document
    # order, so a stable sort by term orders each row by document (what scipy's COO conversion + sort_indices gave).
    order = np.argsort(pair_term, kind="stable")
    indptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    weights = sp.csr_matrix((w[order], pair_doc[order], indptr), shape=(n_terms, n_docs))
    weights.has_sorted_indices = True
    weights.has_canonical_format = True
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
