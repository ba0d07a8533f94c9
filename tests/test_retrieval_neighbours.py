"""build_neighbours: top-k order and ties, leave-one-out, cache (hits, corruption, changed pool), dense, random."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from icma_bench.retrieval import METHODS, build_neighbours
from icma_bench.retrieval.icma_files import load_icma_neighbours, render_icma_neighbours
from icma_bench.retrieval.topk import select_topk

POOL = ["CCO", "CCCO", "CC(=O)O", "c1ccccc1", "Cc1ccccc1", "Oc1ccccc1", "CCO", "NCC(=O)O"]


def test_methods_listed():
    assert set(METHODS) == {"bm25", "rdkit_fp", "morgan", "random", "sbert", "graph"}


def test_select_topk_ties_break_by_pool_order():
    scores = np.array(
        [[0.5, 0.9, 0.5, 0.9, 0.1, 0.5], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [-np.inf, 3, 2, 1, 0, -1]]
    )
    idx, sc = select_topk(scores, 3)
    assert idx.tolist() == [[1, 3, 0], [0, 1, 2], [1, 2, 3]]
    assert sc.tolist() == [[0.9, 0.9, 0.5], [1.0, 1.0, 1.0], [3, 2, 1]]
    ref = sorted(range(6), key=lambda i: scores[0, i], reverse=True)
    assert select_topk(scores[:1], 6)[0][0].tolist() == ref
    with pytest.raises(ValueError, match="pool size"):
        select_topk(scores, 7)


def test_leave_one_out_by_position_keeps_duplicates_under_other_ids():
    nb = build_neighbours(POOL, POOL, "rdkit_fp", 3, exclude_self=True, cache_dir=False, workers=1)
    assert not (nb.indices == np.arange(len(POOL))[:, None]).any()
    # CCO at position 0 and 6: each finds the other (score 1.0) first; only its own position is excluded.
    assert nb.indices[0, 0] == 6 and nb.scores[0, 0] == 1.0
    assert nb.indices[6, 0] == 0
    full = build_neighbours(POOL, POOL, "rdkit_fp", 3, cache_dir=False, workers=1)
    assert full.indices[0, :2].tolist() == [0, 6]
    with pytest.raises(ValueError, match="queries to be the pool"):
        build_neighbours(POOL[:3], POOL, "rdkit_fp", 2, exclude_self=True, cache_dir=False)
    with pytest.raises(ValueError, match="number of candidates"):
        build_neighbours(POOL, POOL, "rdkit_fp", len(POOL), exclude_self=True, cache_dir=False)


def test_cache_hit_prefix_and_icma_file(tmp_path):
    ids = [f"c{i}" for i in range(len(POOL))]
    a = build_neighbours(
        POOL[:3], POOL, "morgan", 4, cache_dir=tmp_path, query_ids=ids[:3], pool_ids=ids, workers=1
    )
    assert not a.from_cache
    b = build_neighbours(POOL[:3], POOL, "morgan", 4, cache_dir=tmp_path, workers=1)
    assert b.from_cache and np.array_equal(a.indices, b.indices) and np.array_equal(a.scores, b.scores)
    c = build_neighbours(POOL[:3], POOL, "morgan", 2, cache_dir=tmp_path, workers=1)  # served as a prefix
    assert c.from_cache and np.array_equal(c.indices, a.indices[:, :2])
    tsv = next(tmp_path.glob("morgan-*.tsv"))
    parsed = load_icma_neighbours(tsv)
    assert list(parsed) == ids[:3] and all(len(v) == 4 for v in parsed.values())
    assert parsed["c0"][0] == ("c0", 1.0)
    assert tsv.read_text() == render_icma_neighbours(a.indices, a.scores, ids[:3], ids)
    assert tsv.read_text().splitlines()[0] == "c0\tc0\t1.0"
    manifest = json.loads(next(tmp_path.glob("morgan-*.json")).read_text())
    assert manifest["k"] == 4 and manifest["params"]["versions"]["rdkit"]


def test_cache_changed_pool_is_a_new_entry(tmp_path):
    a = build_neighbours(["acid"], ["acid x", "base", "salt", "y"], "bm25", 1, cache_dir=tmp_path)
    b = build_neighbours(["acid"], ["base", "salt", "y", "acid x"], "bm25", 1, cache_dir=tmp_path)
    assert not b.from_cache and a.key != b.key
    assert a.indices[0].tolist() == [0] and b.indices[0].tolist() == [3]
    assert len(list(tmp_path.glob("bm25-*.json"))) == 2


@pytest.mark.parametrize("damage", ["truncate_npy", "flip_byte", "bad_json", "missing_npy", "wrong_key"])
def test_corrupt_cache_is_rebuilt_never_trusted(tmp_path, caplog, damage):
    pool = ["acid base", "base salt", "acid", "salt"]
    a = build_neighbours(["acid", "salt"], pool, "bm25", 3, cache_dir=tmp_path)
    npy = next(tmp_path.glob("bm25-*.indices.npy"))
    manifest = next(tmp_path.glob("bm25-*.json"))
    if damage == "truncate_npy":
        npy.write_bytes(npy.read_bytes()[:-8])
    elif damage == "flip_byte":
        raw = bytearray(npy.read_bytes())
        raw[-1] ^= 0x01  # still a loadable array, with a wrong neighbour index
        npy.write_bytes(bytes(raw))
    elif damage == "bad_json":
        manifest.write_text("{not json")
    elif damage == "missing_npy":
        npy.unlink()
    else:
        m = json.loads(manifest.read_text())
        m["key"] = "0" * 64
        manifest.write_text(json.dumps(m))
    with caplog.at_level(logging.WARNING, logger="icma_bench.store"):
        b = build_neighbours(["acid", "salt"], pool, "bm25", 3, cache_dir=tmp_path)
    assert not b.from_cache
    assert "stale or corrupt" in caplog.text
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.scores, b.scores)
    assert build_neighbours(["acid", "salt"], pool, "bm25", 3, cache_dir=tmp_path).from_cache  # repaired


def test_default_cache_dir_is_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("ICMA_BENCH_CACHE", str(tmp_path))
    build_neighbours(["acid"], ["acid", "base"], "bm25", 1)
    assert list((tmp_path / "neighbours").glob("bm25-*.json"))
    assert build_neighbours(["acid"], ["acid", "base"], "bm25", 1).from_cache
    build_neighbours(["base"], ["acid", "base"], "bm25", 1, cache_dir=False)
    assert len(list((tmp_path / "neighbours").glob("*.json"))) == 1


def test_random_is_seeded_per_query_and_prefix_stable():
    pool = [str(i) for i in range(50)]
    a = build_neighbours(pool, pool, "random", 10, exclude_self=True, seed=3, cache_dir=False)
    b = build_neighbours(pool, pool, "random", 4, exclude_self=True, seed=3, cache_dir=False)
    c = build_neighbours(pool, pool, "random", 10, exclude_self=True, seed=4, cache_dir=False)
    assert np.array_equal(a.indices[:, :4], b.indices)
    assert not np.array_equal(a.indices, c.indices)
    assert not (a.indices == np.arange(50)[:, None]).any()
    assert all(len(set(row)) == 10 for row in a.indices.tolist())
    assert (a.scores == 1.0).all()


def test_graph_cosine_over_embeddings():
    rng = np.random.default_rng(0)
    pool = rng.normal(size=(30, 8)).astype(np.float32)
    queries = rng.normal(size=(5, 8)).astype(np.float32)
    pool[7] = 0.0  # a zero vector: cosine 0
    nb = build_neighbours(queries, pool, "graph", 5, cache_dir=False)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    p = pool / np.maximum(np.linalg.norm(pool, axis=1, keepdims=True), 1e-8)
    ref = q.astype(np.float64) @ p.astype(np.float64).T
    for i in range(5):
        order = sorted(range(30), key=lambda j: ref[i, j], reverse=True)[:5]
        assert nb.indices[i].tolist() == order
        np.testing.assert_allclose(nb.scores[i], ref[i, order], rtol=1e-6)
    with pytest.raises(ValueError, match="float array"):
        build_neighbours(["a"], pool, "graph", 2, cache_dir=False)
    with pytest.raises(ValueError, match="dims"):
        build_neighbours(queries[:, :4], pool, "graph", 2, cache_dir=False)


def test_misuse_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown retrieval method"):
        build_neighbours(["a"], ["a"], "tfidf", 1)
    with pytest.raises(ValueError, match="sequence of captions"):
        build_neighbours("acid", ["a"], "bm25", 1)
    with pytest.raises(ValueError, match="pool_ids"):
        build_neighbours(["a"], ["a", "b"], "bm25", 1, query_ids=["q"], pool_ids=["p"], cache_dir=False)
    nb = build_neighbours([], ["a", "b"], "bm25", 2, cache_dir=False)
    assert nb.indices.shape == (0, 2)
