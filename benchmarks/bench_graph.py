"""Speed of the GIN embeddings behind ``--method graph``: all 33,010 ChEBI-20 molecules, cold and from the cache.

    python benchmarks/bench_graph.py [--data ../shared/data] [--batch-size 256] [--workers N] [--json OUT.json]
    python benchmarks/bench_graph.py --cold-only [--previous]     # one cold embedding, for whole-process timing

Cold = featurisation (RDKit, ``--workers`` processes) + forward passes with the shipped weights, no cache; warm = the
same call served from the embedding cache (sha256-verified read). Also checks that two batch sizes give
bitwise-identical embeddings. ``--previous`` runs the approach before ``EMBED_VERSION`` 2: featurisation in this
process and the per-edge message passing of ``GIN.forward``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from icma_bench.graph.embed import compute_embeddings, embed_smiles
from icma_bench.graph.featurize import featurize_smiles
from icma_bench.graph.weights import load_gin

REPO = Path(__file__).resolve().parents[1]


def cold_only(smiles: list[str], args: argparse.Namespace) -> dict:
    t = time.perf_counter()
    model, _ = load_gin()
    if args.previous:
        emb, invalid = compute_embeddings(
            smiles, model, batch_size=args.batch_size, workers=1, reference=True
        )
    else:
        emb, invalid = compute_embeddings(smiles, model, batch_size=args.batch_size, workers=args.workers)
    return {"previous": args.previous, "cold_s": time.perf_counter() - t, "invalid": len(invalid)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--workers", type=int, default=None, help="featurising processes (default: one per core)")
    ap.add_argument(
        "--cold-only", action="store_true", help="one cold embedding of every molecule, nothing else"
    )
    ap.add_argument("--previous", action="store_true", help="with --cold-only: the approach before version 2")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lines = (Path(args.data) / "chebi20/cid_to_smiles.tsv").read_text().splitlines()[1:]
    smiles = [line.split("\t")[1] for line in lines]
    out = {
        "molecules": len(smiles),
        "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(),
        "load_average_1min_before": os.getloadavg()[0],
    }
    if args.cold_only:
        out.update(cold_only(smiles, args))
        print(json.dumps(out, indent=1))
        return
    t = time.perf_counter()
    graphs = [featurize_smiles(s) for s in smiles]
    out["featurise_one_process_s"] = time.perf_counter() - t
    out["atoms"] = sum(g.num_atoms for g in graphs if g is not None)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        cold = embed_smiles(smiles, batch_size=args.batch_size, cache_dir=tmp, workers=args.workers)
        out["cold_s"] = time.perf_counter() - t
        t = time.perf_counter()
        warm = embed_smiles(smiles, cache_dir=tmp)
        out["warm_s"] = time.perf_counter() - t
    assert warm.from_cache and np.array_equal(warm.embeddings, cold.embeddings)
    model, _ = load_gin()
    sample = smiles[:2000]
    a, _ = compute_embeddings(sample, model, batch_size=1, workers=1)
    b, _ = compute_embeddings(sample, model, batch_size=1024, workers=2)
    out["bitwise_equal_bs1_vs_bs1024_on_2000"] = bool(
        np.array_equal(a, b) and np.array_equal(a, cold.embeddings[:2000])
    )
    out["molecules_per_s_cold"] = len(smiles) / out["cold_s"]
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
