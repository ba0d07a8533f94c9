"""The one entry to retrieval: ``build_neighbours(queries, pool, method, k)`` -> :class:`Neighbours` (cached)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from icma_bench import data, files, store
from icma_bench.retrieval import bm25, dense, fingerprint, icma_files, search

logger = logging.getLogger(__name__)

METHODS = ("bm25", "rdkit_fp", "morgan", "random", "sbert", "graph")
TEXT_METHODS = ("bm25", "sbert")  # queries/pool are captions
MOLECULE_METHODS = ("rdkit_fp", "morgan")  # queries/pool are SMILES
ARRAY_METHODS = ("graph",)  # queries/pool are embedding matrices, or SMILES embedded by the shipped GIN
# Bump when an algorithm change alters any number: every cached entry then misses and is rebuilt.
ALGORITHM_VERSION = 2
_OPTIONS = {
    "bm25": {"k1": bm25.K1, "b": bm25.B, "epsilon": bm25.EPSILON},
    "sbert": {"model": dense.DEFAULT_SBERT_MODEL, "batch_size": 64},
    "rdkit_fp": {"empty_similarity": fingerprint.EMPTY_SIMILARITY},
    "morgan": {"empty_similarity": fingerprint.EMPTY_SIMILARITY},
    "graph": {"weights": None, "batch_size": 256},
}
_NOT_IN_KEY = (
    "batch_size",
    "weights",
)  # no effect on the numbers / keyed by content (the embeddings themselves)


@dataclass(frozen=True)
class Neighbours:
    """Top-k neighbours: ``indices`` int64 [n_queries, k] into the pool, most similar first; ``scores`` float64."""

    indices: np.ndarray
    scores: np.ndarray
    method: str
    exclude_self: bool = False
    key: str = ""
    from_cache: bool = False
    invalid_queries: tuple[int, ...] = field(default=(), repr=False)  # unparsable query SMILES (similarity 0)
    invalid_pool: tuple[int, ...] = field(default=(), repr=False)  # unparsable pool SMILES (similarity 0)

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    def to_icma(self, query_ids: Sequence[str], pool_ids: Sequence[str]) -> str:
        """ICMA's file layout: ``query_cid<TAB>pool_cid<TAB>score``, k lines per query in rank order."""
        return icma_files.render_icma_neighbours(self.indices, self.scores, query_ids, pool_ids)


def _versions(method: str) -> dict[str, str]:
    names = {
        "rdkit_fp": ["rdkit"],
        "morgan": ["rdkit"],
        "sbert": ["sentence-transformers", "transformers", "torch"],
    }
    out = {"numpy": np.__version__}
    for name in names.get(method, []):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def _is_strings(x: Any) -> bool:
    return not isinstance(x, (str, bytes, np.ndarray)) and all(isinstance(t, str) for t in x)


def _embed_graph(
    queries: Sequence[str],
    pool: Sequence[str],
    opts: dict[str, Any],
    directory: Path | None,
    show_progress: bool,
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], tuple[int, ...]]:
    """SMILES -> GIN embeddings (cached beside the neighbours), for ``graph`` called with SMILES."""
    # torch + torch_geometric: imported only when the graph method runs
    from icma_bench.graph.embed import embed_smiles

    kwargs = {
        "weights": opts["weights"],
        "batch_size": opts["batch_size"],
        "cache_dir": False if directory is None else directory / "embeddings",
        "show_progress": show_progress,
    }
    p = embed_smiles(pool, **kwargs)
    same = len(queries) == len(pool) and store.hash_inputs(queries) == store.hash_inputs(pool)
    q = p if same else embed_smiles(queries, **kwargs)
    return q.embeddings, p.embeddings, q.invalid, p.invalid


def _check_inputs(queries: Any, pool: Any, method: str) -> None:
    if method in ARRAY_METHODS and not (_is_strings(queries) and _is_strings(pool)):
        for name, x in (("queries", queries), ("pool", pool)):
            if not isinstance(x, np.ndarray) or x.ndim != 2 or not np.issubdtype(x.dtype, np.floating):
                raise ValueError(
                    f"method {method!r} needs {name} as SMILES strings or a float array [n, dim] of embeddings"
                )
        if queries.shape[1] != pool.shape[1]:
            raise ValueError(
                f"query embeddings have {queries.shape[1]} dims, pool embeddings {pool.shape[1]}"
            )
        return
    for name, x in (("queries", queries), ("pool", pool)):
        if isinstance(x, (str, bytes)) or isinstance(x, np.ndarray) and x.dtype.kind not in "UO":
            kind = (
                "captions"
                if method in TEXT_METHODS
                else "SMILES"
                if method in MOLECULE_METHODS
                else "strings"
            )
            raise ValueError(f"method {method!r} needs {name} as a sequence of {kind}")
        bad = next((i for i, t in enumerate(x) if not isinstance(t, str)), None)
        if bad is not None:
            raise ValueError(f"{name}[{bad}] is {type(x[bad]).__name__}, expected str")


def _load_fingerprints(
    smiles: Sequence[str], kind: str, fp_dir: Path | None, workers: int, show_progress: bool
) -> fingerprint.Fingerprints:
    name = f"{kind}-{store.compute_key({'smiles': store.hash_inputs(smiles), 'kind': kind, 'v': _versions(kind)})[:24]}"
    if fp_dir is not None:
        hit = store.load_arrays(fp_dir, name, {"kind": kind})
        if hit is not None:
            a = hit[0]
            return fingerprint.Fingerprints(words=a["words"], sizes=a["sizes"], valid=a["valid"])
    fps = fingerprint.compute_fingerprints(smiles, kind, workers=workers, show_progress=show_progress)
    if fp_dir is not None:
        arrays = {"words": fps.words, "sizes": fps.sizes, "valid": fps.valid}
        _save_or_warn(fp_dir, name, arrays, {"kind": kind, "n": len(fps), "versions": _versions(kind)})
    return fps


def _positions(value: Any, n: int) -> tuple[int, ...]:
    """A manifest's list of item positions; anything else (an edited manifest) reads as none."""
    ok = isinstance(value, list) and all(isinstance(i, int) and 0 <= i < n for i in value)
    return tuple(value) if ok else ()


def _save_or_warn(directory: Path, name: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Save a cache entry; an unwritable (read-only, full) cache is a warning, never a lost computation."""
    try:
        store.save_arrays(directory, name, arrays, meta)
    except OSError as exc:
        logger.warning(
            "could not write the retrieval cache in %s (%s); continuing without caching", directory, exc
        )


def _compute(
    queries: Any,
    pool: Any,
    method: str,
    k: int,
    *,
    exclude_self: bool,
    seed: int,
    options: dict[str, Any],
    workers: int,
    fp_dir: Path | None,
    show_progress: bool,
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], tuple[int, ...]]:
    nq, npool = len(queries), len(pool)
    common = {"exclude_self": exclude_self, "workers": workers, "show_progress": show_progress}
    if method == "random":
        idx, sc = dense.build_random_neighbours(nq, npool, k, seed=seed, exclude_self=exclude_self)
        return idx, sc, (), ()
    if method == "bm25":
        # A generator: the pool's token lists are indexed chunk by chunk, never all held at once.
        index = bm25.build_bm25_index((bm25.tokenize_icma(t) for t in pool), **options)
        q_tokens = [bm25.tokenize_icma(t) for t in queries]
        return (*search.search_bm25(index, q_tokens, k, **common), (), ())
    if method in MOLECULE_METHODS:
        p_fps = _load_fingerprints(pool, method, fp_dir, workers, show_progress)
        q_fps = p_fps if exclude_self else _load_fingerprints(queries, method, fp_dir, workers, show_progress)
        idx, sc = search.search_fingerprints(
            q_fps, p_fps, k, empty_similarity=options["empty_similarity"], desc=method, **common
        )
        bad_q = tuple(np.flatnonzero(~q_fps.valid).tolist())
        return idx, sc, bad_q, tuple(np.flatnonzero(~p_fps.valid).tolist())
    if method == "sbert":
        p_emb = dense.encode_sbert(
            pool, options["model"], batch_size=options["batch_size"], show_progress=show_progress
        )
        q_emb = (
            p_emb
            if exclude_self
            else dense.encode_sbert(queries, options["model"], batch_size=options["batch_size"])
        )
    else:  # graph
        q_emb, p_emb = queries, pool
    q_unit = dense.normalize_rows(q_emb)
    p_unit = q_unit if exclude_self else dense.normalize_rows(p_emb)
    # NOTE: dense scores are one BLAS product over the whole pool (one chunk): a matrix product of another
    # shape may sum in another order, and these scores must stay bitwise those of earlier releases.
    idx, sc = search.search_blocks(
        lambda rows, c0, c1: dense.compute_cosine_block(q_unit, p_unit, rows),
        nq,
        npool,
        k,
        desc=method,
        pool_chunk=npool,
        **common,
    )
    return idx, sc, (), ()


def build_neighbours(
    queries: Sequence[str] | np.ndarray,
    pool: Sequence[str] | np.ndarray,
    method: str,
    k: int,
    *,
    exclude_self: bool = False,
    seed: int = 0,
    cache_dir: str | os.PathLike | None | bool = None,
    show_progress: bool = False,
    query_ids: Sequence[str] | None = None,
    pool_ids: Sequence[str] | None = None,
    workers: int | None = None,
    **options: Any,
) -> Neighbours:
    """Top-``k`` neighbours in ``pool`` of every query, by ``method`` (one of :data:`METHODS`).

    ``queries``/``pool``: captions (``bm25``, ``sbert``), SMILES (``rdkit_fp``, ``morgan``), any strings
    (``random``), SMILES or float embedding matrices (``graph``: SMILES are embedded with the GIN, cached). ``exclude_self``: the queries *are* the pool, in the same
    order, and query ``i`` never retrieves pool item ``i`` (leave-one-out by position; an identical item under
    another id is still retrieved). Ties break by pool order. ``cache_dir``: ``None`` -> the user cache's
    ``neighbours`` folder, ``False`` -> no cache. ``query_ids``/``pool_ids`` (e.g. CIDs) add an ICMA-format text file
    to the cache entry. ``options``: ``k1``/``b``/``epsilon`` for bm25, ``model``/``batch_size`` for sbert, ``empty_similarity``
    (Tanimoto of two empty fingerprints, default 1.0 as in the authors' neighbours) for rdkit_fp/morgan,
    ``weights`` (a GIN weights file; default the shipped weights)/``batch_size`` for graph.
    """
    if method not in METHODS:
        raise ValueError(f"unknown retrieval method {method!r}; choose one of {list(METHODS)}")
    unknown = set(options) - set(_OPTIONS.get(method, {}))
    if unknown:
        raise ValueError(
            f"unknown option(s) {sorted(unknown)} for method {method!r}; valid: {sorted(_OPTIONS.get(method, {}))}"
        )
    opts = {**_OPTIONS.get(method, {}), **options}
    _check_inputs(queries, pool, method)
    directory = (
        None
        if cache_dir is False
        else Path(cache_dir)
        if cache_dir not in (None, True)
        else data.cache_dir() / "neighbours"
    )
    graph_invalid: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
    if method == "graph" and _is_strings(queries):
        if exclude_self and store.hash_inputs(queries) != store.hash_inputs(pool):
            raise ValueError(
                "exclude_self=True needs the queries to be the pool itself (same items, same order)"
            )
        queries, pool, *graph_invalid = _embed_graph(queries, pool, opts, directory, show_progress)
    n_queries, n_pool = len(queries), len(pool)
    if exclude_self and (n_queries != n_pool or store.hash_inputs(queries) != store.hash_inputs(pool)):
        raise ValueError("exclude_self=True needs the queries to be the pool itself (same items, same order)")
    n_candidates = n_pool - (1 if exclude_self else 0)
    if not isinstance(k, (int, np.integer)) or not 0 < k <= n_candidates:
        raise ValueError(
            f"k={k!r} must be an integer between 1 and the number of candidates ({n_candidates})"
        )
    k = int(k)
    for name, ids, n in (("query_ids", query_ids, n_queries), ("pool_ids", pool_ids, n_pool)):
        if ids is not None and len(ids) != n:
            raise ValueError(f"{name} has {len(ids)} entries for {n} items")
    workers = workers or min(2, os.cpu_count() or 1)

    params = {
        "method": method,
        "queries": store.hash_inputs(queries),
        "pool": store.hash_inputs(pool),
        "exclude_self": exclude_self,
        "options": {key: v for key, v in opts.items() if key not in _NOT_IN_KEY},
        "seed": seed if method == "random" else None,
        "algorithm": ALGORITHM_VERSION,
        "versions": _versions(method),
    }
    key = store.compute_key(params)
    name = f"{method}-{key[:24]}"
    if directory is not None:
        hit = store.load_arrays(directory, name, {"key": key})
        if hit is not None:
            arrays, manifest = hit
            idx, sc = arrays["indices"], arrays["scores"]
            ok = idx.ndim == 2 and idx.shape[0] == n_queries and idx.shape == sc.shape and idx.shape[1] >= k
            ok = ok and (idx.size == 0 or (idx.min() >= 0 and idx.max() < n_pool))
            if ok and exclude_self and n_queries:
                ok = not (idx == np.arange(n_queries)[:, None]).any()
            if ok:
                logger.info("neighbours served from cache %s", directory / name)
                return Neighbours(
                    indices=np.ascontiguousarray(idx[:, :k]),
                    scores=np.ascontiguousarray(sc[:, :k]),
                    method=method,
                    exclude_self=exclude_self,
                    key=key,
                    from_cache=True,
                    invalid_queries=_positions(manifest.get("invalid_queries"), n_queries)
                    or graph_invalid[0],
                    invalid_pool=_positions(manifest.get("invalid_pool"), n_pool) or graph_invalid[1],
                )
            if idx.shape[1] < k:
                logger.info("cached neighbours hold k=%d < %d; recomputing", idx.shape[1], k)
            else:
                logger.warning(
                    "cache entry %s is inconsistent with the request; rebuilding", directory / name
                )
    if n_queries == 0:
        idx, sc, bad_q, bad_p = np.empty((0, k), np.int64), np.empty((0, k), np.float64), (), ()
    else:
        idx, sc, bad_q, bad_p = _compute(
            queries,
            pool,
            method,
            k,
            exclude_self=exclude_self,
            seed=seed,
            options=opts,
            workers=workers,
            fp_dir=None if directory is None else directory / "fingerprints",
            show_progress=show_progress,
        )
        bad_q, bad_p = bad_q or graph_invalid[0], bad_p or graph_invalid[1]
    if directory is not None:
        if query_ids is not None and pool_ids is not None:
            try:
                files.write_atomic(
                    directory / f"{name}.tsv", icma_files.render_icma_neighbours(idx, sc, query_ids, pool_ids)
                )
            except OSError as exc:
                logger.warning("could not write %s (%s)", directory / f"{name}.tsv", exc)
        meta = {
            "key": key,
            "k": k,
            "params": params,
            "invalid_queries": list(bad_q),
            "invalid_pool": list(bad_p),
        }
        _save_or_warn(directory, name, {"indices": idx, "scores": sc}, meta)
    return Neighbours(
        indices=idx,
        scores=sc,
        method=method,
        exclude_self=exclude_self,
        key=key,
        invalid_queries=bad_q,
        invalid_pool=bad_p,
    )
