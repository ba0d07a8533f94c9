"""Streaming exact search: pool chunks, query blocks and a streamed BM25 build give bitwise the unchunked results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rank_bm25

from icma_bench.retrieval import bm25, fingerprint, search

REPO = Path(__file__).resolve().parents[1]

# Ties (duplicates), a bond-less molecule (empty fingerprint), an unparsable SMILES, mixed folded sizes.
SMILES = [
    "CCO", "CCO", "CC(=O)O", "c1ccccc1", "c1ccccc1O", "[Na+]", "C", "not a smiles", "CCN(CC)CC",
    "O=C(O)c1ccccc1O", "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "C1CCCCC1", "OCC(O)CO", "N[C@@H](C)C(=O)O",
    "CC12CCC3C(CCC4=CC(=O)CCC34C)C1CCC2O", "c1ccc2ccccc2c1", "CCCCCCCCCCCCCCCC(=O)O", "[Cl-]", "O",
    "C1=CC=C(C=C1)C2=CC=CC=C2", "CC(=O)Nc1ccc(O)cc1", "OC1C(O)C(O)C(O)C(O)C1O", "CCOC(=O)C", "CCO",
]  # fmt: skip
CAPTIONS = [
    "The molecule is a steroid ester (an oxo steroid).",
    "The molecule is an amino acid, a conjugate acid of an anion.",
    "The molecule is a steroid ester (an oxo steroid).",
    "It has a role as a metabolite.",
    "The molecule is a fatty acid.",
    "",
    "The molecule is a monocarboxylic acid anion; a conjugate base of a fatty acid.",
    "acid acid acid base",
    "It derives from a propionic acid.",
    "The molecule is an aromatic ether and a member of benzenes.",
    "salt",
    "It has a role as a human metabolite and a plant metabolite.",
]


def _same(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> None:
    assert np.array_equal(a[0], b[0])
    assert a[1].tobytes() == b[1].tobytes()  # bitwise, not approximately


def test_chunk_bounds_cover_the_pool_with_chunks_of_at_least_k():
    assert search.chunk_bounds(10, 4, 3) == [(0, 4), (4, 10)]  # a 2-column tail joins the chunk before it
    assert search.chunk_bounds(10, 4, 2) == [(0, 4), (4, 8), (8, 10)]
    assert search.chunk_bounds(10, 2, 5) == [(0, 5), (5, 10)]  # never narrower than k
    assert search.chunk_bounds(7, 100, 3) == [(0, 7)]


@pytest.mark.parametrize("kind", ["rdkit_fp", "morgan"])
@pytest.mark.parametrize("exclude_self", [False, True])
def test_fingerprint_search_chunked_is_bitwise_unchunked(kind, exclude_self):
    pool = fingerprint.compute_fingerprints(SMILES, kind, workers=1)
    queries = pool if exclude_self else fingerprint.compute_fingerprints(SMILES[::-1][:10], kind, workers=1)
    k = 5
    ref = search.search_fingerprints(
        queries, pool, k, exclude_self=exclude_self, workers=1, pool_chunk=len(pool)
    )
    if exclude_self:
        assert not (ref[0] == np.arange(len(pool))[:, None]).any()
    for chunk in (1, 5, 7, 11, len(SMILES) - 1):
        for workers in (1, 2):
            got = search.search_fingerprints(
                queries, pool, k, exclude_self=exclude_self, workers=workers, pool_chunk=chunk
            )
            _same(got, ref)


def test_level_table_for_present_sizes_only_gives_the_same_block():
    fps = fingerprint.compute_fingerprints(SMILES, "rdkit_fp", workers=1)
    full = fingerprint.build_level_table(fps)
    levels = set(np.unique(fps.sizes).tolist())
    some = fingerprint.build_level_table(fps, levels)
    assert set(some) == levels and len(levels) < len(full)
    rows = np.arange(len(fps))
    a = fingerprint.compute_tanimoto_block(fps.sizes, full, fps.sizes, full, rows)
    b = fingerprint.compute_tanimoto_block(fps.sizes, some, fps.sizes, some, rows)
    assert a.tobytes() == b.tobytes()
    sliced = fingerprint.compute_tanimoto_block(
        fps.sizes, some, fps.sizes[5:17], fingerprint.slice_level_table(some, 5, 17), rows
    )
    assert sliced.tobytes() == a[:, 5:17].tobytes()


def test_streamed_bm25_index_is_bitwise_the_in_memory_one_and_rank_bm25():
    corpus = [bm25.tokenize_icma(t) for t in CAPTIONS * 3]
    whole = bm25.build_bm25_index(corpus)
    for chunk_docs in (1, 4, 7):
        streamed = bm25.build_bm25_index((doc for doc in corpus), chunk_docs=chunk_docs)
        assert streamed.vocab == whole.vocab
        assert streamed.average_idf == whole.average_idf and streamed.avgdl == whole.avgdl
        assert streamed.idf.tobytes() == whole.idf.tobytes()
        for name in ("data", "indices", "indptr"):
            assert np.array_equal(getattr(streamed.weights, name), getattr(whole.weights, name))
    ref = rank_bm25.BM25Okapi(corpus)
    queries = [bm25.tokenize_icma(t) for t in CAPTIONS[:6]] + [["unknown"], []]
    got = bm25.compute_bm25_scores(whole, bm25.build_query_matrix(whole, queries))
    for i, q in enumerate(queries):
        assert got[i].tobytes() == np.asarray(ref.get_scores(q), dtype=np.float64).tobytes()
    with pytest.raises(ValueError, match="empty pool"):
        bm25.build_bm25_index(iter([]))


@pytest.mark.parametrize("exclude_self", [False, True])
def test_bm25_search_chunked_is_bitwise_unchunked(exclude_self):
    corpus = [bm25.tokenize_icma(t) for t in CAPTIONS * 3]
    index = bm25.build_bm25_index(corpus)
    queries = corpus if exclude_self else [bm25.tokenize_icma(t) for t in CAPTIONS[::-1]]
    ref = search.search_bm25(index, queries, 4, exclude_self=exclude_self, workers=1, pool_chunk=index.n_docs)
    for chunk in (1, 4, 5, 13):
        _same(
            search.search_bm25(index, queries, 4, exclude_self=exclude_self, workers=2, pool_chunk=chunk), ref
        )


def test_default_chunk_is_used_through_build_neighbours(monkeypatch):
    from icma_bench.retrieval import build_neighbours

    ref = build_neighbours(SMILES, SMILES, "rdkit_fp", 3, exclude_self=True, cache_dir=False)
    widths = []
    real_bounds = search.chunk_bounds

    def spy(n_pool, pool_chunk, k):
        bounds = real_bounds(n_pool, pool_chunk, k)
        widths.append([hi - lo for lo, hi in bounds])
        return bounds

    monkeypatch.setattr(search, "chunk_bounds", spy)
    monkeypatch.setattr(search, "POOL_CHUNK", 4)
    got = build_neighbours(SMILES, SMILES, "rdkit_fp", 3, exclude_self=True, cache_dir=False)
    # the search really ran in 4-column chunks (a 24-molecule pool: six of them), and gave the one-pass result
    assert widths == [[4] * (len(SMILES) // 4)], widths
    _same((got.indices, got.scores), (ref.indices, ref.scores))


@pytest.mark.slow
def test_million_item_pools_stay_under_4_gib(tmp_path, shared_data):
    """10^6 synthetic molecules (fingerprints) and captions, 200 queries each, in a fresh process each."""
    out = tmp_path / "scale.json"
    cmd = [
        sys.executable,
        str(REPO / "benchmarks" / "bench_scale.py"),
        "--sizes",
        "1000000",
        "--queries",
        "200",
    ]
    cmd += ["--methods", "rdkit_fp", "bm25", "--data", str(shared_data), "--json", str(out)]
    subprocess.run(cmd, check=True, timeout=3600)
    rows = json.loads(out.read_text())["runs"]
    assert {r["method"] for r in rows} == {"rdkit_fp", "bm25"}
    for r in rows:
        assert r["pool"] == 1_000_000
        assert r["peak_rss_gib"] < 4.0, r


def test_approx_fingerprint_search_rescores_exactly_and_finds_all_on_a_small_pool():
    pytest.importorskip("usearch")
    from icma_bench.retrieval import approx

    pool = fingerprint.compute_fingerprints(SMILES, "rdkit_fp", workers=1)
    queries = fingerprint.compute_fingerprints(SMILES[::-1][:10], "rdkit_fp", workers=1)
    exact = search.search_fingerprints(queries, pool, 3, exclude_self=False, workers=1)
    # Exact rescoring: bitwise the exact block's scores for any pair.
    rows, cols = np.repeat(np.arange(len(queries)), len(pool)), np.tile(np.arange(len(pool)), len(queries))
    block = fingerprint.compute_tanimoto_block(
        queries.sizes,
        fingerprint.build_level_table(queries),
        pool.sizes,
        fingerprint.build_level_table(pool),
        np.arange(len(queries)),
    )
    block[:, ~pool.valid] = 0.0
    block[~queries.valid] = 0.0
    assert approx.compute_pair_tanimoto(queries, rows, pool, cols).tobytes() == block.ravel().tobytes()
    # A 24-item pool with candidates = the pool: the index finds everything, so the result is the exact one.
    got = approx.search_fingerprints_approx(queries, pool, 3, candidates=len(pool), threads=1)
    _same(got, exact)
