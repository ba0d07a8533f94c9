"""BM25: ICMA tokenisation and exact parity with rank_bm25.BM25Okapi."""

from __future__ import annotations

import numpy as np
import pytest
import rank_bm25

from icma_bench.data import load_split
from icma_bench.retrieval import build_neighbours
from icma_bench.retrieval.bm25 import build_bm25_index, build_query_matrix, compute_bm25_scores, tokenize_icma


def _ref_topk(scores: np.ndarray, k: int) -> list[int]:
    # ICMA: sorted(range(n), key=lambda i: scores[i], reverse=True)[:k] (stable: ties keep pool order)
    return sorted(range(len(scores)), key=lambda i: scores[i], reverse=True)[:k]


def test_tokenize_icma_exact():
    assert tokenize_icma("The molecule is a 3-oxo-Delta(4) steroid, an 11-oxo steroid.") == [
        "The", "molecule", "is", "a", "3", "oxo", "Delta", "4", "steroid", "an", "11", "oxo", "steroid"
    ]  # fmt: skip
    # "." is deleted (not a separator), no lowercasing, trailing " )" leaves an empty token as in ICMA.
    assert tokenize_icma("  N,N-dimethyl (S)-form.  ") == ["N", "N", "dimethyl", "S", "form"]
    assert tokenize_icma("a (b )") == ["a", "b", ""]
    assert tokenize_icma("e.g. 1.5") == ["eg", "15"]


def test_bm25_bitwise_small_corpus_with_repeats_ties_and_unknowns():
    texts = [
        "acid acid base (x)",
        "acid base",
        "base base base",
        "acid base",  # duplicate of doc 1: exact tie, must stay in pool order
        "salt",
        "acid",
    ]
    corpus = [tokenize_icma(t) for t in texts]
    queries = [["acid", "acid", "acid", "base"], ["unknown"], ["salt", "", "acid", "salt"], []]
    ref = rank_bm25.BM25Okapi(corpus)
    index = build_bm25_index(corpus)
    assert index.average_idf == ref.average_idf and index.avgdl == ref.avgdl
    for word, idf in ref.idf.items():
        assert index.idf[index.vocab[word]] == idf
    ours = compute_bm25_scores(index, build_query_matrix(index, queries))
    for q, row in zip(queries, ours, strict=True):
        expected = ref.get_scores(q)
        assert np.array_equal(row, expected), (q, row, expected)
    nb = build_neighbours(["acid acid, acid-base."], texts, "bm25", 6, cache_dir=False)
    assert nb.indices[0].tolist() == _ref_topk(ref.get_scores(queries[0]), 6) == [1, 3, 5, 0, 2, 4]


def test_bm25_parity_on_shared_validation_pool(shared_data):
    pool = [r.description for r in load_split("chebi20", "validation", shared_data)]
    queries = [r.description for r in load_split("chebi20", "test", shared_data)][:60]
    ref = rank_bm25.BM25Okapi([tokenize_icma(t) for t in pool])
    nb = build_neighbours(queries, pool, "bm25", 10, cache_dir=False)
    full = build_neighbours(queries, pool, "bm25", len(pool), cache_dir=False)
    for i, q in enumerate(queries):
        expected = ref.get_scores(tokenize_icma(q))
        got = np.zeros(len(pool))
        got[full.indices[i]] = full.scores[i]
        assert np.array_equal(got, expected)  # bit for bit
        assert nb.indices[i].tolist() == _ref_topk(expected, 10)
        assert np.array_equal(nb.scores[i], expected[nb.indices[i]])


def test_bm25_options_change_scores():
    pool = ["acid base", "acid acid salt", "base"]
    a = build_neighbours(["acid"], pool, "bm25", 3, cache_dir=False)
    b = build_neighbours(["acid"], pool, "bm25", 3, cache_dir=False, k1=1.2, b=0.5)
    ref = rank_bm25.BM25Okapi([tokenize_icma(t) for t in pool], k1=1.2, b=0.5)
    assert np.array_equal(np.sort(b.scores[0]), np.sort(ref.get_scores(["acid"])))
    assert not np.array_equal(a.scores, b.scores)
    with pytest.raises(ValueError, match="unknown option"):
        build_neighbours(["acid"], pool, "bm25", 2, cache_dir=False, k3=1.0)


def test_bm25_empty_pool_is_a_clear_error():
    with pytest.raises(ValueError, match="between 1 and"):
        build_neighbours(["acid"], [], "bm25", 1, cache_dir=False)
