"""Self-supervised pretraining of the GIN by attribute masking (Hu et al. 2020, pretrain-gnns ``pretrain_masking.py``).

Objective: mask ``int(n_atoms * mask_rate + 1)`` atoms per molecule (atom row -> ``[119, 0]``, the mask token; bonds
kept, as pretrain-gnns' default ``--mask_edge 0``) and predict their atom types with a linear head on the last
layer's node embeddings (cross-entropy over 119 types). Adam, constant learning rate, seeded shuffling and masks.

Training molecules (:func:`build_pretraining_set`): ChEBI-20 train + validation SMILES (``cid_to_smiles.tsv``) and
PubChem324k train SMILES, deduplicated by canonical SMILES, **minus every test molecule** of ChEBI-20 and PubChem324k
(by CID and by canonical SMILES): the retriever is evaluated on those test queries.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from icma_bench.chem import canonical_smiles
from icma_bench.graph.featurize import MASK_ATOM, featurize_smiles

logger = logging.getLogger(__name__)

CHEBI_SMILES = "chebi20/cid_to_smiles.tsv"  # CID<TAB>SMILES<TAB>split (train_candidate / validation / test)
CHEBI_TEST = "chebi20/molt5/test.txt"
PUBCHEM_TRAIN = "pubchem324k/molcap/train_cid_smiles_from_iupac.tsv"  # CID<TAB>SMILES
PUBCHEM_TESTS = ("pubchem324k/molcap/test.txt", "pubchem324k/iupac/test.txt")
TRAIN_SPLITS = ("train_candidate", "validation")


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that changes the weights (written into the safetensors header and the model card)."""

    seed: int = 0
    epochs: int = 6
    batch_size: int = 256
    lr: float = 1e-3
    mask_rate: float = 0.15
    bn_batches: int = 40  # batches of unmasked molecules that re-estimate the BatchNorm statistics at the end


def _read_tsv(path: Path) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines[1:] if line.strip()]


def load_test_molecules(root: str | Path) -> tuple[set[str], set[str]]:
    """CIDs and canonical SMILES of every ChEBI-20 and PubChem324k test molecule under ``root`` (../shared/data)."""
    root = Path(root)
    cids: set[str] = set()
    smiles: set[str] = set()
    rows = [(r[0], r[1]) for r in _read_tsv(root / CHEBI_SMILES) if r[2] == "test"]
    for rel in (CHEBI_TEST, *PUBCHEM_TESTS):
        path = root / rel
        if path.is_file():
            rows += [(r[0], r[1]) for r in _read_tsv(path)]
        else:
            logger.warning("test split %s not found: its molecules cannot be excluded", path)
    for cid, smi in rows:
        cids.add(cid)
        can = canonical_smiles(smi)
        smiles.add(can if can is not None else smi)
    return cids, smiles


def build_pretraining_set(root: str | Path) -> tuple[list[str], dict]:
    """The pretraining SMILES (canonical, sorted, unique) and a summary: sources, counts, exclusions, sha256."""
    root = Path(root)
    test_cids, test_smiles = load_test_molecules(root)
    sources = [(CHEBI_SMILES, [(r[0], r[1]) for r in _read_tsv(root / CHEBI_SMILES) if r[2] in TRAIN_SPLITS])]
    pubchem = root / PUBCHEM_TRAIN
    if pubchem.is_file():
        sources.append((PUBCHEM_TRAIN, [(r[0], r[1]) for r in _read_tsv(pubchem)]))
    else:
        logger.warning("%s not found: pretraining on ChEBI-20 only", pubchem)
    kept: set[str] = set()
    summary: dict = {"sources": {}, "excluded_test_cid": 0, "excluded_test_smiles": 0, "unparsable": 0}
    for name, rows in sources:
        summary["sources"][name] = len(rows)
        for cid, smi in rows:
            if cid in test_cids:
                summary["excluded_test_cid"] += 1
                continue
            can = canonical_smiles(smi)
            if can is None or featurize_smiles(can) is None:
                summary["unparsable"] += 1
                continue
            if can in test_smiles:
                summary["excluded_test_smiles"] += 1
                continue
            kept.add(can)
    out = sorted(kept)
    summary["molecules"] = len(out)
    summary["test_cids"] = len(test_cids)
    summary["test_smiles"] = len(test_smiles)
    summary["sha256"] = hashlib.sha256("\n".join(out).encode("utf-8")).hexdigest()
    return out, summary


def mask_atoms(x: np.ndarray, rng: np.random.Generator, mask_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """pretrain-gnns' ``MaskAtom``: ``int(n * rate + 1)`` distinct atoms -> ``[MASK_ATOM, 0]``; returns
    ``(masked x, masked atom indices)``."""
    n = x.shape[0]
    idx = np.sort(rng.choice(n, size=min(n, int(n * mask_rate + 1)), replace=False))
    masked = x.copy()
    masked[idx] = (MASK_ATOM, 0)
    return masked, idx


def pretrain(
    smiles: list[str], config: PretrainConfig = PretrainConfig(), *, show_progress: bool = False
) -> tuple[object, dict]:
    """Train a fresh GIN on ``smiles``; returns ``(model in eval mode, log)`` (loss/accuracy per epoch, seconds)."""
    import torch
    from tqdm.auto import tqdm

    from icma_bench.graph.featurize import Graph
    from icma_bench.graph.model import GIN, collate

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    graphs = [featurize_smiles(s) for s in smiles]
    graphs = [g for g in graphs if g is not None]
    model = GIN()
    head = torch.nn.Linear(model.x_embedding1.embedding_dim, MASK_ATOM)  # 119 atom types, as pretrain-gnns
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=config.lr, weight_decay=0.0)
    log: dict = {"config": asdict(config), "epochs": [], "molecules": len(graphs)}
    start = time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        order = rng.permutation(len(graphs))
        total, correct, seen = 0.0, 0, 0
        bar = tqdm(
            range(0, len(order), config.batch_size),
            desc=f"pretrain epoch {epoch + 1}",
            disable=not show_progress,
        )
        for step, s in enumerate(bar, start=1):
            batch, labels, offset = [], [], 0
            for j in order[s : s + config.batch_size]:
                g = graphs[j]
                masked_x, idx = mask_atoms(g.x, rng, config.mask_rate)
                batch.append(Graph(masked_x, g.edge_index, g.edge_attr))
                labels.append(np.stack([idx + offset, g.x[idx, 0]], axis=1))
                offset += g.num_atoms
            lab = torch.from_numpy(np.concatenate(labels))
            x, ei, ea, _ = collate(batch, min_rows=0)
            logits = head(model(x, ei, ea)[lab[:, 0]])
            loss = torch.nn.functional.cross_entropy(logits, lab[:, 1])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * lab.shape[0]
            correct += int((logits.argmax(1) == lab[:, 1]).sum())
            seen += lab.shape[0]
            if step % 20 == 0:
                bar.set_postfix(loss=f"{total / seen:.4f}", acc=f"{correct / seen:.3f}")
        row = {
            "epoch": epoch + 1,
            "loss": total / seen,
            "accuracy": correct / seen,
            "seconds": time.perf_counter() - start,
        }
        log["epochs"].append(row)
        logger.info("epoch %d: loss %.4f, masked-atom accuracy %.4f (%.0f s)", *row.values())
    recalibrate_batchnorm(model, graphs, config, rng)
    model.eval()
    log["seconds"] = time.perf_counter() - start
    return model, log


def recalibrate_batchnorm(model, graphs, config: PretrainConfig, rng: np.random.Generator) -> None:
    """Re-estimate every BatchNorm's running statistics on unmasked molecules (cumulative average, no gradients).

    NOTE: pretrain-gnns keeps the running statistics of its (masked) training batches; ours are those of the
    molecules as they are embedded at inference (no mask tokens). Parameters are untouched.
    """
    import torch

    from icma_bench.graph.model import collate

    for bn in model.batch_norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average
    model.train()
    order = rng.permutation(len(graphs))
    with torch.no_grad():
        for b in range(config.bn_batches):
            chunk = [graphs[j] for j in order[b * config.batch_size : (b + 1) * config.batch_size]]
            if not chunk:
                break
            x, ei, ea, _ = collate(chunk, min_rows=0)
            model(x, ei, ea)
    for bn in model.batch_norms:
        bn.momentum = 0.1
    model.eval()
