"""``icma-bench graph pretrain`` (train the GIN, write safetensors + a training log) and ``icma-bench graph embed``."""

from __future__ import annotations

import argparse
import json
import platform
from dataclasses import asdict
from pathlib import Path

from icma_bench.files import write_atomic


def run_pretrain(args: argparse.Namespace) -> int:
    import torch

    from icma_bench import __version__
    from icma_bench.graph.pretrain import PretrainConfig, build_pretraining_set, pretrain
    from icma_bench.graph.weights import hash_file, save_gin

    if args.threads:
        torch.set_num_threads(args.threads)
    config = PretrainConfig(
        seed=args.seed, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, mask_rate=args.mask_rate
    )
    smiles, summary = build_pretraining_set(args.data)
    print(f"{summary['molecules']} pretraining molecules (sha256 {summary['sha256'][:16]}...)", flush=True)
    model, log = pretrain(smiles, config, show_progress=True)
    out = Path(args.out)
    meta = {
        "objective": "attribute masking (pretrain-gnns MaskAtom, mask_edge=0)",
        "config": json.dumps(asdict(config), sort_keys=True),
        "training_set_sha256": summary["sha256"],
        "icma_bench": __version__,
        "torch": torch.__version__,
    }
    save_gin(model, out, meta)
    record = {
        "weights": out.name,
        "weights_sha256": hash_file(out),
        "training_set": summary,
        "log": log,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "command": (
            f"icma-bench graph pretrain --data DATA --out {out.name} --seed {args.seed} --epochs {args.epochs} "
            f"--batch-size {args.batch_size} --lr {args.lr} --mask-rate {args.mask_rate}"
        ),
    }
    write_atomic(out.with_suffix(".json"), json.dumps(record, indent=1, sort_keys=True))
    print(out)
    return 0


def run_embed(args: argparse.Namespace) -> int:
    import numpy as np

    from icma_bench.data import load_split
    from icma_bench.graph.embed import embed_smiles

    records = load_split(args.dataset, args.split, args.data)
    emb = embed_smiles(
        [r.smiles for r in records],
        weights=args.graph_weights,
        batch_size=args.batch_size,
        cache_dir=False if args.no_cache else None,
        show_progress=True,
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, emb.embeddings, allow_pickle=False)
    print(
        f"{out}: {emb.embeddings.shape[0]} x {emb.embeddings.shape[1]}, {len(emb.invalid)} unparsable SMILES"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("graph", help="the GIN graph encoder of --method graph: pretrain, embed")
    gsub = g.add_subparsers(dest="graph_command", metavar="SUBCOMMAND")
    gsub.required = True

    p = gsub.add_parser(
        "pretrain",
        help="self-supervised GIN pretraining (attribute masking) on ChEBI-20 + PubChem324k train molecules",
        description="Builds the pretraining set from DATA (../shared/data layout: chebi20/cid_to_smiles.tsv, "
        "pubchem324k/molcap/train_cid_smiles_from_iupac.tsv), excluding every ChEBI-20 and PubChem324k test "
        "molecule, trains the GIN and writes OUT (safetensors) and OUT with .json (training log).",
    )
    p.add_argument("--data", required=True, help="data root holding chebi20/ and pubchem324k/")
    p.add_argument("--out", required=True, help="output .safetensors file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--mask-rate", type=float, default=0.15)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(func=run_pretrain)

    e = gsub.add_parser(
        "embed",
        help="GIN embeddings of a split's molecules (.npy, float32 [n, 300], rows in file order)",
        description="Embeds with the shipped weights or --graph-weights (ours as .safetensors, or a "
        "pretrain-gnns/Mole-BERT .pth state dict). Unparsable SMILES get a zero row.",
    )
    e.add_argument("--dataset", required=True)
    e.add_argument("--split", required=True)
    e.add_argument("--data", default=None, help="a data folder or split file")
    e.add_argument("--graph-weights", default=None, help="weights file (default: the shipped weights)")
    e.add_argument("--batch-size", type=int, default=256)
    e.add_argument("--out", required=True, help="output .npy file")
    e.add_argument("--no-cache", action="store_true", help="neither read nor write the embedding cache")
    e.set_defaults(func=run_embed)
