"""Pretraining: the training set never holds a test molecule, runs are seeded, the shipped weights are what the
model card says."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_geometric")

from icma_bench.chem import canonical_smiles  # noqa: E402
from icma_bench.data import load_split  # noqa: E402
from icma_bench.graph.featurize import MASK_ATOM, featurize_smiles  # noqa: E402
from icma_bench.graph.pretrain import PretrainConfig, build_pretraining_set, mask_atoms, pretrain  # noqa: E402
from icma_bench.graph.weights import SHIPPED, hash_file, load_gin  # noqa: E402

CARD = SHIPPED.parent / "MODEL_CARD.md"
LOG = SHIPPED.with_suffix(".json")
SMILES = ["CCO", "c1ccccc1O", "CC(=O)O", "CCN", "C1CCCCC1", "O=C=O", "CCCCCCCC(=O)O", "c1ccncc1"] * 4


def test_training_set_excludes_every_test_molecule_and_matches_the_shipped_weights(shared_data):
    smiles, summary = build_pretraining_set(shared_data)
    test_rows = [(r.cid, r.smiles) for r in load_split("chebi20", "test", shared_data / "chebi20" / "molt5")]
    for rel in ("pubchem324k/molcap/test.txt", "pubchem324k/iupac/test.txt"):
        lines = (shared_data / rel).read_text().splitlines()[1:]
        test_rows += [tuple(line.split("\t")[:2]) for line in lines if line.strip()]
    lines = (shared_data / "chebi20/cid_to_smiles.tsv").read_text().splitlines()[1:]
    test_rows += [tuple(r.split("\t")[:2]) for r in lines if r.endswith("\ttest")]
    assert (
        len({cid for cid, _ in test_rows}) == summary["test_cids"] > 5000
    )  # the two test sets share 120 CIDs
    test_smiles = {canonical_smiles(s) for _, s in test_rows} - {None}
    kept = set(smiles)
    assert len(kept) == len(smiles) == summary["molecules"] > 30_000
    assert not kept & test_smiles  # no ChEBI-20 / PubChem324k test molecule, by canonical SMILES
    assert (
        summary["excluded_test_cid"] > 0
    )  # PubChem324k train shares CIDs with ChEBI-20 test: those are dropped
    record = json.loads(LOG.read_text())
    assert record["training_set"]["sha256"] == summary["sha256"]  # the shipped weights saw exactly this set


def test_mask_atoms_like_pretrain_gnns():
    x = featurize_smiles("CCCCCCCCCCCCCCCCCCCC").x  # 20 atoms -> int(20 * 0.15 + 1) = 4 masked
    masked, idx = mask_atoms(x, np.random.default_rng(0), 0.15)
    assert len(idx) == len(set(idx.tolist())) == 4
    assert (masked[idx] == [MASK_ATOM, 0]).all()
    rest = np.setdiff1d(np.arange(20), idx)
    assert (masked[rest] == x[rest]).all() and (x != MASK_ATOM).all()  # the input is not modified
    one, idx1 = mask_atoms(featurize_smiles("C").x, np.random.default_rng(0), 0.15)
    assert idx1.tolist() == [0] and one.tolist() == [[MASK_ATOM, 0]]


def test_pretraining_is_seeded():
    config = PretrainConfig(epochs=1, batch_size=8, bn_batches=2)
    a, log_a = pretrain(SMILES, config)
    b, log_b = pretrain(SMILES, config)
    c, _ = pretrain(SMILES, PretrainConfig(seed=1, epochs=1, batch_size=8, bn_batches=2))
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert log_a["epochs"][0]["loss"] == log_b["epochs"][0]["loss"]
    assert not torch.equal(a.state_dict()["x_embedding1.weight"], c.state_dict()["x_embedding1.weight"])
    assert not a.training


def test_shipped_weights_and_model_card():
    assert SHIPPED.is_file() and SHIPPED.stat().st_size < 10 * 2**20
    model, sha = load_gin()
    assert not model.training
    record = json.loads(LOG.read_text())
    assert record["weights_sha256"] == sha == hash_file(SHIPPED)
    card = CARD.read_text().lower()
    for needle in (
        sha,
        record["training_set"]["sha256"],
        "attribute masking",
        "seed 0",
        "icma-bench graph pretrain",
    ):
        assert needle in card, needle
    assert "never saw" in card and "excluded by cid and by canonical smiles" in card
