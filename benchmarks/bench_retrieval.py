"""Retrieval benchmark: agreement with ICMA's released neighbours and speed beside the reference approach.

    python benchmarks/bench_retrieval.py [--data ../shared/data] [--ref-queries 20] [--json OUT.json]

Pool for rdkit_fp/morgan: the 26,409 ChEBI-20 train candidates (cid_to_smiles.tsv, split ``train_candidate``);
queries: the 3,300 test molecules. BM25: the 3,300 test captions against a 26,407-caption pool made by replicating
the available captions (train_partial + validation). References: ICMA's own loops (``FingerprintMols`` +
``FingerprintSimilarity`` per pair; ``rank_bm25.BM25Okapi`` per query), timed on a subset and extrapolated.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import rank_bm25
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from icma_bench.chem import quiet_rdkit
from icma_bench.data import load_records, load_split
from icma_bench.retrieval import build_neighbours
from icma_bench.retrieval.bm25 import tokenize_icma
from icma_bench.retrieval.fingerprint import MORGAN_BITS, MORGAN_RADIUS
from icma_bench.retrieval.icma_files import load_icma_neighbours

REPO = Path(__file__).resolve().parents[1]
N_TRAIN = 26407


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def run_ours(queries, pool, method, ids=None):
    """Cold (empty cache: fingerprinting/indexing included) and warm (served from cache) runs."""
    with tempfile.TemporaryDirectory() as tmp:
        kw = {"cache_dir": tmp, "query_ids": ids[0] if ids else None, "pool_ids": ids[1] if ids else None}
        nb, cold = timed(lambda: build_neighbours(queries, pool, method, 10, **kw))
        nb2, warm = timed(lambda: build_neighbours(queries, pool, method, 10, **kw))
    assert nb2.from_cache and np.array_equal(nb.indices, nb2.indices)
    return nb, cold, warm


def compare_released(nb, test_cids, pool_cids, released):
    """Overlap@10, top-1 agreement, and a classification of every disagreement."""
    overlap, top1, top1_tie, score_diff = [], 0, 0, 0.0
    ties, other, extra_hits = 0, [], 0
    released_cids = {c for v in released.values() for c, _ in v}
    for i, qc in enumerate(test_cids):
        ours = [pool_cids[j] for j in nb.indices[i]]
        ref = released[qc]
        theirs = [c for c, _ in ref]
        overlap.append(len(set(ours) & set(theirs)) / 10)
        top1 += ours[0] == theirs[0]
        top1_tie += nb.scores[i, 0] == ref[0][1]
        ref_scores = dict(ref)
        for j, c in enumerate(ours):
            if c in ref_scores:
                score_diff = max(score_diff, abs(ref_scores[c] - nb.scores[i, j]))
        if ours != theirs:
            if sorted(nb.scores[i].tolist()) == sorted(s for _, s in ref):
                ties += 1  # same ten scores: only the order among equal scores differs (pool order)
            else:
                other.append(qc)
                extra_hits += any(c not in released_cids for c in set(ours) - set(theirs))
    n = len(test_cids)
    return {
        "mean_overlap_at_10": float(np.mean(overlap)),
        "top1_agreement": top1 / n,
        "top1_same_score": top1_tie / n,
        "max_abs_score_diff_on_shared_pairs": score_diff,
        "queries_identical": n - ties - len(other),
        "queries_differing_only_in_tie_order": ties,
        "queries_differing_otherwise": len(other),
        "of_which_retrieve_a_cid_absent_from_all_released_lists": extra_hits,
        "examples_otherwise": other[:10],
    }


def ref_rdkit_fp(test_smiles, pool_smiles, n_ref):
    """ICMA's loop: FingerprintSimilarity(FingerprintMol(pool_mol), FingerprintMol(query_mol)) for every pair."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from rdkit.Chem.Fingerprints import FingerprintMols
    pool_mols = [Chem.MolFromSmiles(s) for s in pool_smiles]
    # (a) literally as ICMA: the pool is re-fingerprinted for every query (timed on a pool slice, per pair).
    q0 = Chem.MolFromSmiles(test_smiles[0])
    _, t_lit = timed(
        lambda: [
            DataStructs.FingerprintSimilarity(
                FingerprintMols.FingerprintMol(m), FingerprintMols.FingerprintMol(q0)
            )
            for m in pool_mols[:1000]
        ]
    )
    per_pair_literal = t_lit / 1000
    # (b) generous: pool fingerprinted once, then FingerprintSimilarity per pair.
    pool_fps, t_pool = timed(lambda: [FingerprintMols.FingerprintMol(m) for m in pool_mols])
    rows = []

    def score_queries():
        for s in test_smiles[:n_ref]:
            q = FingerprintMols.FingerprintMol(Chem.MolFromSmiles(s))
            rows.append([DataStructs.FingerprintSimilarity(p, q) for p in pool_fps])

    _, t_q = timed(score_queries)
    n_q, n_p = len(test_smiles), len(pool_smiles)
    return np.array(rows), {
        "icma_literal_extrapolated_s": per_pair_literal * n_q * n_p,
        "pool_once_extrapolated_s": t_pool + t_q / n_ref * n_q,
        "measured_on": f"literal: 1 query x 1,000 pool; pool-once: {n_ref} queries x {n_p:,} pool",
    }


def ref_morgan(test_smiles, pool_smiles, n_ref):
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=MORGAN_RADIUS, fpSize=MORGAN_BITS)
    pool_fps, t_pool = timed(lambda: [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in pool_smiles])
    rows = []

    def score_pairs():
        for s in test_smiles[:n_ref]:
            q = gen.GetFingerprint(Chem.MolFromSmiles(s))
            rows.append([DataStructs.FingerprintSimilarity(p, q) for p in pool_fps])

    _, t_q = timed(score_pairs)
    q_fps = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in test_smiles]
    _, t_bulk = timed(lambda: [DataStructs.BulkTanimotoSimilarity(q, pool_fps) for q in q_fps])
    return np.array(rows), {
        "per_pair_extrapolated_s": t_pool + t_q / n_ref * len(test_smiles),
        "bulk_tanimoto_measured_s": t_pool + t_bulk,
        "measured_on": f"per pair: {n_ref} queries x {len(pool_smiles):,} pool; BulkTanimotoSimilarity: all",
    }


def ref_bm25(queries, pool, n_ref):
    corpus = [tokenize_icma(t) for t in pool]
    # (a) literally as ICMA: BM25Okapi(corpus) rebuilt for every query.
    _, t_lit = timed(lambda: [rank_bm25.BM25Okapi(corpus).get_scores(tokenize_icma(q)) for q in queries[:2]])
    bm, t_idx = timed(lambda: rank_bm25.BM25Okapi(corpus))
    rows, t_q = timed(lambda: np.array([bm.get_scores(tokenize_icma(q)) for q in queries[:n_ref]]))
    return rows, {
        "icma_literal_extrapolated_s": t_lit / 2 * len(queries),
        "index_once_extrapolated_s": t_idx + t_q / n_ref * len(queries),
        "measured_on": f"literal: 2 queries; index once: {n_ref} queries x {len(pool):,} pool",
    }


def top10_stable(rows):
    return np.array([sorted(range(len(r)), key=lambda i: r[i], reverse=True)[:10] for r in rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--ref-queries", type=int, default=20, help="queries timed with the reference code")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    data = Path(args.data)
    test = load_split("chebi20", "test", data)
    lines = (data / "chebi20" / "cid_to_smiles.tsv").read_text(encoding="utf-8").splitlines()
    cand = [r for r in (line.split("\t") for line in lines[1:]) if r[2] == "train_candidate"]
    pool_cids, pool_smiles = [r[0] for r in cand], [r[1] for r in cand]
    test_cids, test_smiles = [r.cid for r in test], [r.smiles for r in test]
    report: dict = {}

    for method, ref_fn in (("rdkit_fp", ref_rdkit_fp), ("morgan", ref_morgan)):
        nb, cold, warm = run_ours(test_smiles, pool_smiles, method, (test_cids, pool_cids))
        with quiet_rdkit():
            ref_rows, ref_times = ref_fn(test_smiles, pool_smiles, args.ref_queries)
        # empty_similarity=0.0: today's RDKit convention, for the bitwise check against today's RDKit
        ours_rows = build_neighbours(
            test_smiles[: args.ref_queries],
            pool_smiles,
            method,
            len(pool_smiles),
            cache_dir=False,
            empty_similarity=0.0,
        )
        full = np.zeros_like(ref_rows)
        np.put_along_axis(full, ours_rows.indices, ours_rows.scores, axis=1)
        entry = {
            "ours_cold_s": cold,
            "ours_warm_s": warm,
            **ref_times,
            "scores_bitwise_equal_on_ref_queries": bool(np.array_equal(full, ref_rows)),
            "top10_equal_on_ref_queries": bool(
                np.array_equal(nb.indices[: args.ref_queries], top10_stable(ref_rows))
            ),
        }
        if method == "rdkit_fp":
            released = load_icma_neighbours(
                data / "chebi20" / "icma_neighbours" / "test_10_shot_mol2cap_morgan.txt"
            )
            entry["vs_released_mol2cap_morgan"] = compare_released(nb, test_cids, pool_cids, released)
        report[method] = entry
        print(method, json.dumps(entry, indent=1), flush=True)

    captions = [r.description for r in load_records(data / "chebi20" / "train_partial.tsv")]
    captions += [r.description for r in load_split("chebi20", "validation", data)]
    cap_pool = (captions * (N_TRAIN // len(captions) + 1))[:N_TRAIN]
    test_caps = [r.description for r in test]
    nb, cold, warm = run_ours(test_caps, cap_pool, "bm25")
    ref_rows, ref_times = ref_bm25(test_caps, cap_pool, args.ref_queries)
    ours_rows = build_neighbours(
        test_caps[: args.ref_queries], cap_pool, "bm25", len(cap_pool), cache_dir=False
    )
    full = np.zeros_like(ref_rows)
    np.put_along_axis(full, ours_rows.indices, ours_rows.scores, axis=1)
    report["bm25"] = {
        "ours_cold_s": cold,
        "ours_warm_s": warm,
        **ref_times,
        "pool": f"{len(captions):,} available captions replicated to {N_TRAIN:,}",
        "scores_bitwise_equal_on_ref_queries": bool(np.array_equal(full, ref_rows)),
        "top10_equal_on_ref_queries": bool(
            np.array_equal(nb.indices[: args.ref_queries], top10_stable(ref_rows))
        ),
    }
    print("bm25", json.dumps(report["bm25"], indent=1), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
