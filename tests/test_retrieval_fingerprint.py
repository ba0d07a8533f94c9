"""rdkit_fp and morgan: parity with direct RDKit calls (FingerprintMols + FingerprintSimilarity, Tanimoto)."""

from __future__ import annotations

import warnings

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from icma_bench.data import load_split
from icma_bench.retrieval import build_neighbours
from icma_bench.retrieval.fingerprint import RDKIT_FP_PARAMS, compute_fingerprints

SMILES = [
    "CCO",
    "CCCO",
    "CC(=O)O",
    "c1ccccc1",
    "Cc1ccccc1",
    "Oc1ccccc1O",
    "[Na+]",  # no bonds: empty path fingerprint
    "[Cl-]",
    "CC(C)CC1=CC=C(C=C1)C(C)C(=O)O",
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "C[C@]12CC[C@H]3[C@H]([C@@H]1CCC2=O)CCC4=CC(=O)CC[C@]34C=O",
    "CCCCCCCCCCCCCCCC(=O)OC[C@H](COP(=O)(O)OCC[N+](C)(C)C)OC(=O)CCCCCCC/C=C\\CCCCCCCC",
    "OC[C@H]1O[C@@H](O[C@H]2[C@H](O)[C@@H](O)[C@H](O)O[C@@H]2CO)[C@H](O)[C@@H](O)[C@@H]1O",
    "C1CC",  # unparsable
]


def _fingerprint_mol(mol):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from rdkit.Chem.Fingerprints import FingerprintMols
    return FingerprintMols.FingerprintMol(mol)


def _full(nb, n_pool):
    out = np.zeros((nb.indices.shape[0], n_pool))
    np.put_along_axis(out, nb.indices, nb.scores, axis=1)
    return out


def test_rdkit_fp_matches_fingerprintmols_and_explicit_call():
    mols = [Chem.MolFromSmiles(s) for s in SMILES[:-1]]
    fps = compute_fingerprints(SMILES, "rdkit_fp", workers=1)
    assert fps.valid.tolist() == [True] * (len(SMILES) - 1) + [False]
    sizes = set()
    for i, m in enumerate(mols):
        ref = _fingerprint_mol(m)
        assert ref == Chem.RDKFingerprint(m, **RDKIT_FP_PARAMS)
        assert fps.sizes[i] == ref.GetNumBits()
        bits = np.unpackbits(fps.words[i].view(np.uint8), bitorder="little")[: ref.GetNumBits()]
        assert np.flatnonzero(bits).tolist() == list(ref.GetOnBits())
        sizes.add(ref.GetNumBits())
    assert len(sizes) >= 3  # the fixture exercises folding between different sizes


def test_rdkit_fp_similarities_bitwise_equal_fingerprintsimilarity():
    # empty_similarity=0.0: today's RDKit convention for two empty fingerprints (the default follows the authors)
    kw = {"cache_dir": False, "workers": 1, "empty_similarity": 0.0}
    nb = build_neighbours(SMILES, SMILES, "rdkit_fp", len(SMILES), **kw)
    got = _full(nb, len(SMILES))
    ref_fps = [_fingerprint_mol(Chem.MolFromSmiles(s)) for s in SMILES[:-1]]
    for i, q in enumerate(ref_fps):
        for j, p in enumerate(ref_fps):
            # ICMA: FingerprintSimilarity(FingerprintMol(pool), FingerprintMol(query)); folds the longer one
            assert got[i, j] == DataStructs.FingerprintSimilarity(p, q), (SMILES[i], SMILES[j])
    # unparsable SMILES: similarity 0 to everything (and counted)
    assert (got[-1] == 0).all() and (got[:, -1] == 0).all()
    assert nb.invalid_queries == (len(SMILES) - 1,) and nb.invalid_pool == (len(SMILES) - 1,)
    # two molecules without bonds: rdkit 2026.09's Tanimoto of two empty fingerprints is 0 ...
    assert got[6, 7] == 0.0
    # ... while the authors' released neighbours score such pairs 1.0: our default reproduces them
    default = _full(
        build_neighbours(SMILES, SMILES, "rdkit_fp", len(SMILES), cache_dir=False, workers=1), len(SMILES)
    )
    assert default[6, 7] == default[7, 6] == default[6, 6] == 1.0
    assert (default[-1] == 0).all() and (default[:, -1] == 0).all()  # unparsable: still 0, even vs empty ones
    mask = np.ones_like(got, dtype=bool)
    mask[6:8, 6:8] = False
    assert np.array_equal(default[mask], got[mask])


def test_morgan_matches_bulk_tanimoto():
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    nb = build_neighbours(SMILES, SMILES, "morgan", len(SMILES), cache_dir=False, workers=1)
    got = _full(nb, len(SMILES))
    ref_fps = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in SMILES[:-1]]
    for i, q in enumerate(ref_fps):
        assert got[i, :-1].tolist() == DataStructs.BulkTanimotoSimilarity(q, ref_fps)
    assert (got[-1] == 0).all()


def test_rdkit_fp_topk_on_shared_data_matches_reference_loop(shared_data):
    pool = [r.smiles for r in load_split("chebi20", "validation", shared_data)][:800]
    queries = [r.smiles for r in load_split("chebi20", "test", shared_data)][:15]
    nb = build_neighbours(queries, pool, "rdkit_fp", 10, cache_dir=False)  # two worker processes
    pool_fps = [_fingerprint_mol(Chem.MolFromSmiles(s)) for s in pool]
    for i, s in enumerate(queries):
        q = _fingerprint_mol(Chem.MolFromSmiles(s))
        scores = [DataStructs.FingerprintSimilarity(p, q) for p in pool_fps]
        expected = sorted(range(len(pool)), key=lambda j: scores[j], reverse=True)[:10]
        assert nb.indices[i].tolist() == expected
        assert nb.scores[i].tolist() == [scores[j] for j in expected]
