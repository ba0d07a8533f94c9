"""Retrieval study for ``--method graph``: how good is the retrieved molecule's caption, and how close do we come
to the ICMA authors' Mole-BERT neighbours?

    python benchmarks/graph_study.py [--data ../shared/data] [--json docs/retrieval_study.json]

1. Caption quality of the top-1 neighbour: every ChEBI-20 test molecule (3,300) retrieves from the 5,811 molecules
   whose captions we have (validation 3,301 + train_partial 2,510; the full train split is not available here),
   and that neighbour's caption is scored as the prediction (``molt5`` protocol: BLEU-4, ROUGE-L, METEOR).
   ``bm25`` searches by the *test caption* (it reads the reference): an upper bound, not a mol2caption retriever.
2. Overlap@10 with the authors' released top-10 lists (``icma_neighbours/test_10_shot_mol2cap_{gnn,morgan}.txt``)
   for the molecule-side methods, over the pool the authors searched: the 26,409 train candidates of
   ``cid_to_smiles.tsv`` (SMILES only, so no captions there).
3. Against the authors' Mole-BERT test embeddings (float32 [3300, 300], test order): test -> test leave-one-out
   top-10 lists from their embeddings vs from each of ours (overlap@10, top-1 agreement).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from icma_bench.data import load_records, load_split
from icma_bench.metrics import compute
from icma_bench.retrieval import build_neighbours
from icma_bench.retrieval.icma_files import load_icma_neighbours

REPO = Path(__file__).resolve().parents[1]
METHODS = ("random", "morgan", "rdkit_fp", "graph", "graph_random_init", "bm25")
K = 10


def _graph_opts(method: str, random_weights: Path) -> tuple[str, dict]:
    if method == "graph_random_init":
        return "graph", {"weights": str(random_weights)}
    return method, {}


def overlap_at_k(ours: list[list[str]], ref: list[list[str]], k: int = K) -> tuple[float, float]:
    """Mean |top-k ∩ top-k| / k, and the share of queries whose top-1 agrees."""
    ov = np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(ours, ref, strict=True)])
    top1 = np.mean([a[0] == b[0] for a, b in zip(ours, ref, strict=True)])
    return float(ov), float(top1)


def save_random_init(path: Path) -> Path:
    import torch

    from icma_bench.graph.model import GIN
    from icma_bench.graph.weights import save_gin

    torch.manual_seed(0)
    return save_gin(GIN().eval(), path, {"note": "random initialisation, seed 0 (study baseline)"})


def caption_quality(test, pool, random_weights, cache) -> dict:
    out = {}
    refs = [r.description for r in test]
    for m in METHODS:
        method, opts = _graph_opts(m, random_weights)
        field = "description" if method == "bm25" else ("cid" if method == "random" else "smiles")
        q = [getattr(r, field) for r in test]
        p = [getattr(r, field) for r in pool]
        t = time.perf_counter()
        nb = build_neighbours(q, p, method, K, cache_dir=cache, **opts)
        preds = [pool[int(i)].description for i in nb.indices[:, 0]]
        res = compute("mol2caption", preds, refs, protocol="molt5")
        out[m] = {
            "bleu4": res.scores["bleu4"],
            "rougeL": res.scores["rougeL"],
            "meteor": res.scores["meteor"],
            "bleu2": res.scores["bleu2"],
            "seconds_retrieval": time.perf_counter() - t,
        }
        logging.info("%s: %s", m, out[m])
    return out


def released_overlap(root, test, random_weights, cache) -> dict:
    rows = [line.split("\t") for line in (root / "chebi20/cid_to_smiles.tsv").read_text().splitlines()[1:]]
    train = [(r[0], r[1]) for r in rows if r[2] == "train_candidate"]
    pool_cids, pool_smiles = [c for c, _ in train], [s for _, s in train]
    released = {
        name: load_icma_neighbours(root / f"chebi20/icma_neighbours/test_10_shot_mol2cap_{name}.txt")
        for name in ("gnn", "morgan", "random")
    }
    out = {}
    for m in METHODS:
        if m == "bm25":
            continue  # the authors' caption-side lists search train captions we do not have
        method, opts = _graph_opts(m, random_weights)
        q = [r.cid for r in test] if method == "random" else [r.smiles for r in test]
        p = pool_cids if method == "random" else pool_smiles
        nb = build_neighbours(q, p, method, K, cache_dir=cache, **opts)
        ours = [[pool_cids[j] for j in row] for row in nb.indices.tolist()]
        out[m] = {}
        for name, rel in released.items():
            ref = [[c for c, _ in rel[r.cid]] for r in test]
            ov, top1 = overlap_at_k(ours, ref)
            out[m][f"overlap10_vs_{name}"] = ov
            out[m][f"top1_vs_{name}"] = top1
    return out


def mole_bert_agreement(root, test, random_weights, cache) -> dict:
    import torch

    theirs = torch.load(root / "chebi20/graph_representations_Mole-BERT_mol2cap_test.pt", weights_only=True)
    theirs = np.asarray(theirs, dtype=np.float32)
    assert theirs.shape == (len(test), 300), theirs.shape
    ids = [r.cid for r in test]
    ref_nb = build_neighbours(theirs, theirs, "graph", K, exclude_self=True, cache_dir=cache)
    ref = [[ids[j] for j in row] for row in ref_nb.indices.tolist()]
    out = {
        "their_embeddings": {
            "min": float(theirs.min()),
            "max": float(theirs.max()),
            "mean_norm": float(np.linalg.norm(theirs, axis=1).mean()),
            "share_negative": float((theirs < 0).mean()),
        }
    }
    smiles = [r.smiles for r in test]
    for m in ("random", "morgan", "rdkit_fp", "graph", "graph_random_init"):
        method, opts = _graph_opts(m, random_weights)
        q = ids if method == "random" else smiles
        nb = build_neighbours(q, q, method, K, exclude_self=True, cache_dir=cache, **opts)
        ours = [[ids[j] for j in row] for row in nb.indices.tolist()]
        ov, top1 = overlap_at_k(ours, ref)
        out[m] = {"overlap10": ov, "top1": top1}
    return out


LABELS = {
    "random": "`random` (seed 0)",
    "morgan": "`morgan` (radius 2, 2,048 bits)",
    "rdkit_fp": '`rdkit_fp` (ICMA\'s "morgan"; the mol2caption default)',
    "graph": "`graph`, shipped weights (ours)",
    "graph_random_init": "`graph`, untrained GIN (seed 0)",
    "bm25": "`bm25` on the test caption (upper bound: reads the reference)",
}


def render_markdown(result: dict) -> str:
    """The study's tables as Markdown (what docs/retrieval_study.md shows)."""
    cq, ro = result["caption_quality"], result.get("released_overlap", {})
    lines = [
        "| retriever | BLEU-4 | ROUGE-L | METEOR | overlap@10 vs authors' gnn | overlap@10 vs authors' morgan |",
        "|---|---|---|---|---|---|",
    ]
    for m in METHODS:
        q, o = cq[m], ro.get(m, {})
        ov = [f"{o[key]:.3f}" if key in o else "n/a" for key in ("overlap10_vs_gnn", "overlap10_vs_morgan")]
        lines.append(
            f"| {LABELS[m]} | {q['bleu4']:.4f} | {q['rougeL']:.4f} | {q['meteor']:.4f} | {ov[0]} | {ov[1]} |"
        )
    mb = result.get("mole_bert_test_embeddings")
    if mb:
        lines += [
            "",
            "| test -> test top-10 from | overlap@10 with the authors' Mole-BERT lists | top-1 agreement |",
        ]
        lines.append("|---|---|---|")
        for m in ("random", "morgan", "rdkit_fp", "graph", "graph_random_init"):
            lines.append(f"| {LABELS[m]} | {mb[m]['overlap10']:.3f} | {mb[m]['top1']:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--json", default=str(REPO / "docs" / "retrieval_study.json"))
    ap.add_argument("--limit", type=int, default=None, help="first N test queries only (a quick check)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root = Path(args.data)
    os.environ.setdefault("ICMA_BENCH_SCIBERT", str(root / "scibert_scivocab_uncased"))
    os.environ.setdefault("NLTK_DATA", str(root / "nltk_data"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    test = load_split("chebi20", "test", root)[: args.limit]
    pool = load_split("chebi20", "validation", root) + load_records(root / "chebi20/train_partial.tsv")
    with tempfile.TemporaryDirectory() as tmp:
        cache, random_weights = Path(tmp), save_random_init(Path(tmp) / "random_init.safetensors")
        t = time.perf_counter()
        result = {
            "command": "python benchmarks/graph_study.py --data ../shared/data --json docs/retrieval_study.json",
            "queries": f"ChEBI-20 test ({len(test)})",
            "caption_pool": f"validation + train_partial ({len(pool)})",
            "overlap_pool": "ChEBI-20 train candidates of cid_to_smiles.tsv (26,409)",
            "k": K,
            "caption_quality": caption_quality(test, pool, random_weights, cache),
        }
        if args.limit is None:
            result["released_overlap"] = released_overlap(root, test, random_weights, cache)
            result["mole_bert_test_embeddings"] = mole_bert_agreement(root, test, random_weights, cache)
        result["seconds"] = time.perf_counter() - t
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(render_markdown(result))


if __name__ == "__main__":
    main()
