"""Scale benchmark: exact top-k retrieval over synthetic pools of 10^4 ... 10^6 molecules and captions.

    python benchmarks/bench_scale.py --sizes 10000 100000 1000000 [--methods rdkit_fp morgan bm25]
        [--queries 3300] [--k 10] [--workers 2] [--mem-limit-gib 6] [--data ../shared/data] [--json OUT.json]
        [--ann]   # also an approximate index (usearch HNSW, extra `ann`) for the fingerprints: recall@k vs exact

Each (method, pool size) runs in a fresh process (under an address-space limit), so its peak RSS
(``ru_maxrss``) is its own. Queries: the ChEBI-20 test molecules / captions (3,300).

Molecule pools are *fingerprint* pools: the 26,409 real ``train_candidate`` fingerprints (``cid_to_smiles.tsv``),
then replicas of them with one random bit flipped in every 64-bit word of the (folded) fingerprint. Fingerprinting
10^6 molecules with RDKit would take ~20 min on two cores (the per-molecule cost is measured separately below and
reported). Caption pools: the 5,811 available captions (``train_partial`` + validation), then replicas of them
with each word dropped with probability 0.1 and two random pairs of words swapped.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from icma_bench.data import load_records, load_split
from icma_bench.retrieval import bm25, fingerprint, search

REPO = Path(__file__).resolve().parents[1]
FP_METHODS = ("rdkit_fp", "morgan")


def rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def load_smiles(data: Path) -> tuple[list[str], list[str]]:
    rows = [
        line.split("\t") for line in (data / "chebi20" / "cid_to_smiles.tsv").read_text().splitlines()[1:]
    ]
    pool = [r[1] for r in rows if r[2] == "train_candidate"]
    queries = [r.smiles for r in load_split("chebi20", "test", data)]
    return queries, pool


def load_captions(data: Path) -> tuple[list[str], list[str]]:
    seeds = [r.description for r in load_records(data / "chebi20" / "train_partial.tsv")]
    seeds += [r.description for r in load_split("chebi20", "validation", data)]
    return [r.description for r in load_split("chebi20", "test", data)], seeds


def grow_fingerprints(seeds: fingerprint.Fingerprints, n: int, seed: int = 0) -> fingerprint.Fingerprints:
    """``n`` fingerprints: the seeds, then replicas with one random bit flipped per 64-bit word of their size."""
    rng = np.random.default_rng(seed)
    src = np.arange(n) % len(seeds)
    words = seeds.words[src]  # a copy
    sizes, valid = seeds.sizes[src], seeds.valid[src].copy()
    replica = np.arange(n) >= len(seeds)
    nonempty = np.bitwise_count(words).sum(axis=1) > 0
    for s in np.unique(sizes):
        rows = np.flatnonzero(replica & valid & nonempty & (sizes == s))
        for start in range(0, rows.shape[0], 1 << 16):
            r = rows[start : start + (1 << 16)]
            bits = rng.integers(0, 64, size=(r.shape[0], int(s) // 64), dtype=np.uint64)
            words[r, : int(s) // 64] ^= np.left_shift(np.uint64(1), bits)
    return fingerprint.Fingerprints(words=words, sizes=sizes, valid=valid)


def grow_captions(seeds: list[str], n: int, seed: int = 0) -> list[str]:
    """``n`` captions: the seeds, then replicas with words dropped (p 0.1) and two random word pairs swapped."""
    rng = random.Random(seed)
    out = list(seeds[:n])
    while len(out) < n:
        words = [w for w in seeds[len(out) % len(seeds)].split(" ") if rng.random() >= 0.1]
        for _ in range(2):
            if len(words) > 1:
                i, j = rng.randrange(len(words)), rng.randrange(len(words))
                words[i], words[j] = words[j], words[i]
        out.append(" ".join(words))
    return out


def measure_fingerprint_cost(smiles: list[str], kind: str, workers: int) -> dict:
    t = time.perf_counter()
    fps = fingerprint.compute_fingerprints(smiles, kind, workers=workers)
    sec = time.perf_counter() - t
    return {"kind": kind, "molecules": len(smiles), "workers": workers, "seconds": sec, "fps": fps}


def prepare(data: Path, methods: list[str], workers: int, tmp: Path) -> list[dict]:
    """Fingerprint the real queries and seed pool once (timed: the per-molecule cost), saved as .npy for the runs."""
    costs = []
    if not any(m in FP_METHODS for m in methods):
        return costs
    queries, pool = load_smiles(data)
    for kind in (m for m in methods if m in FP_METHODS):
        for name, smi in (("queries", queries), ("pool", pool)):
            c = measure_fingerprint_cost(smi, kind, workers)
            fps = c.pop("fps")
            for field in ("words", "sizes", "valid"):
                np.save(tmp / f"{kind}-{name}-{field}.npy", getattr(fps, field))
            c["ms_per_molecule_wall"] = 1000 * c["seconds"] / c["molecules"]
            costs.append({**c, "set": name})
    return costs


def _load_fps(tmp: Path, kind: str, name: str) -> fingerprint.Fingerprints:
    a = {f: np.load(tmp / f"{kind}-{name}-{f}.npy") for f in ("words", "sizes", "valid")}
    return fingerprint.Fingerprints(**a)


def run_ann(q, pool, exact_idx: np.ndarray, exact_sc: np.ndarray, k: int, workers: int) -> dict:
    """usearch HNSW candidates (10·k) rescored exactly, against the exact top k."""
    from icma_bench.retrieval import approx

    out = {}
    t = time.perf_counter()
    index = approx.build_ann_index(pool, threads=workers)
    out["ann_index_s"] = time.perf_counter() - t
    out["ann_index_bytes"] = int(index.memory_usage)
    t = time.perf_counter()
    idx, sc = approx.search_fingerprints_approx(q, pool, k, index=index, threads=workers)
    out["ann_search_s"] = time.perf_counter() - t
    out["ann_ms_per_query"] = 1000 * out["ann_search_s"] / len(q)
    hits = [len(set(a.tolist()) & set(b.tolist())) for a, b in zip(idx, exact_idx, strict=True)]
    out["ann_recall_at_k"] = float(np.mean(hits)) / k
    # Exact ties make several top-k lists equally right: also count queries whose k scores equal the exact k.
    out["ann_same_scores"] = float(np.mean(np.all(sc == exact_sc, axis=1)))
    out["ann_peak_rss_gib"] = rss_gib()
    return out


def run_one(
    method: str, size: int, n_queries: int, k: int, workers: int, data: Path, tmp: Path, ann: bool = False
) -> dict:
    out = {"method": method, "pool": size, "queries": n_queries, "k": k, "workers": workers}
    out["rss_start_gib"] = rss_gib()
    t = time.perf_counter()
    if method in FP_METHODS:
        q = _load_fps(tmp, method, "queries")
        q = fingerprint.Fingerprints(q.words[:n_queries], q.sizes[:n_queries], q.valid[:n_queries])
        pool = grow_fingerprints(_load_fps(tmp, method, "pool"), size)
    else:
        q_text, seeds = load_captions(data)
        q_text = q_text[:n_queries]
        pool = grow_captions(seeds, size)
    out["synthesis_s"] = time.perf_counter() - t
    out["rss_after_pool_gib"] = rss_gib()
    t = time.perf_counter()
    if method in FP_METHODS:
        levels = set(np.unique(pool.sizes).tolist()) | set(np.unique(q.sizes).tolist())
        table = fingerprint.build_level_table(pool, levels)
        out["index_bytes"] = int(sum(a.nbytes for v in table.values() for a in v) + pool.words.nbytes)
        del table
        out["index_s"] = time.perf_counter() - t
        t = time.perf_counter()
        idx, sc = search.search_fingerprints(q, pool, k, exclude_self=False, workers=workers)
        # search_fingerprints builds its own level table: subtract the separately timed build.
        out["search_s"] = time.perf_counter() - t - out["index_s"]
        out["peak_rss_gib"] = rss_gib()
        if ann:
            out.update(run_ann(q, pool, idx, sc, k, workers))
    else:
        index = bm25.build_bm25_index(bm25.tokenize_icma(c) for c in pool)
        w = index.weights
        out["index_bytes"] = int(w.data.nbytes + w.indices.nbytes + w.indptr.nbytes)
        out["index_s"] = time.perf_counter() - t
        t = time.perf_counter()
        q_tokens = [bm25.tokenize_icma(c) for c in q_text]
        idx, _ = search.search_bm25(index, q_tokens, k, exclude_self=False, workers=workers)
        out["search_s"] = time.perf_counter() - t
        out["peak_rss_gib"] = rss_gib()
    out["ms_per_query"] = 1000 * out["search_s"] / n_queries
    out["checksum"] = int(idx.sum())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument(
        "--methods", nargs="+", default=["rdkit_fp", "morgan", "bm25"], choices=[*FP_METHODS, "bm25"]
    )
    ap.add_argument("--queries", type=int, default=3300)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--mem-limit-gib", type=float, default=6.0, help="address-space limit of each run")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--ann", action="store_true", help="also usearch HNSW + exact rescoring (extra `ann`): recall"
    )
    ap.add_argument("--one", nargs=3, metavar=("METHOD", "SIZE", "TMP"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.one:
        method, size, tmp = args.one
        res = run_one(method, int(size), args.queries, args.k, args.workers, args.data, Path(tmp), args.ann)
        print("RESULT " + json.dumps(res), flush=True)
        return

    limit = int(args.mem_limit_gib * 2**30)

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "load": os.getloadavg(), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        report["fingerprinting"] = prepare(args.data, args.methods, args.workers, Path(tmp))
        for c in report["fingerprinting"]:
            print(f"fingerprint {c['kind']} {c['set']}: {c['molecules']} mol, {c['seconds']:.1f} s "
                  f"({c['ms_per_molecule_wall']:.3f} ms/mol wall, {c['workers']} workers)", flush=True)  # fmt: skip
        for size in args.sizes:  # every method at a size before the next size: small sizes finish first
            for method in args.methods:
                cmd = [
                    sys.executable,
                    __file__,
                    "--one",
                    method,
                    str(size),
                    tmp,
                    "--queries",
                    str(args.queries),
                ]
                cmd += ["--k", str(args.k), "--workers", str(args.workers), "--data", str(args.data)]
                cmd += ["--ann"] if args.ann and method in FP_METHODS else []
                t = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=cap)
                line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
                if line is None:
                    res = {"method": method, "pool": size, "error": proc.stderr.strip().splitlines()[-1:]}
                else:
                    res = json.loads(line[7:])
                    res["process_s"] = time.perf_counter() - t
                report["runs"].append(res)
                print(json.dumps(res), flush=True)
    report["load_after"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
