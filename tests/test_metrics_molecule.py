"""Molecule metrics: parity with MolT5's scripts (direct RDKit / NLTK / Levenshtein calls), strict protocol, caches."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from conftest import FIXTURES
from molt5_reference import molt5_molecule_reference
from nltk.translate.bleu_score import corpus_bleu
from rdkit import Chem, DataStructs, RDLogger
from rdkit.Chem import AllChem, MACCSkeys

from icma_bench.metrics import compute, metric_names
from icma_bench.metrics.features import build_features, load_reference_features
from icma_bench.metrics.molecule import compute_bit_tanimoto, compute_count_tanimoto
from icma_bench.metrics.resources import metrics_cache_dir

RDLogger.DisableLog("rdApp.*")


def _read_molt5(path):
    with open(path) as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(row["ground truth"], row["output"] or "") for row in reader]


@pytest.fixture(scope="module")
def pairs():
    return _read_molt5(FIXTURES / "metrics" / "caption2mol.tsv")


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_molecule_parity_with_molt5_scripts(pairs, n_jobs, monkeypatch):
    monkeypatch.setattr("icma_bench.metrics.workers.MIN_PARALLEL_ITEMS", 1)
    expected = molt5_molecule_reference(pairs)
    result = compute("caption2mol", [o for _, o in pairs], [g for g, _ in pairs], n_jobs=n_jobs)
    assert list(result.scores) == metric_names("caption2mol")
    for name, value in expected.items():
        assert result.scores[name] == value, name  # exact equality
    # "" parses to an empty molecule in RDKit: valid under molt5; "*C" and the benzene text also parse.
    assert result.counts["empty"] == 2 and result.counts["parsed_no_atoms"] == 2
    assert result.counts["unparsable"] == 1 and result.counts["valid"] == 11


def test_doubled_backslash_raw_strings(pairs):
    # Reference C/C=C\\C(=O)[O-] vs output C/C=C\C(=O)[O-]: the same molecule (InChI), one character apart.
    gt, out = pairs[1]
    assert "\\\\" in gt and "\\\\" not in out
    result = compute("caption2mol", [out], [gt], protocol="both")
    assert result.scores["exact_match"] == 1.0 and result.scores["strict_exact_match"] == 1.0
    assert result.scores["levenshtein"] == 1.0
    assert result.scores["bleu"] == corpus_bleu([[list(gt)]], [list(out)])
    assert result.scores["bleu"] < 1.0


def test_strict_protocol(pairs):
    preds, refs = [o for _, o in pairs], [g for g, _ in pairs]
    molt5 = compute("caption2mol", preds, refs, protocol="molt5")
    strict = compute("caption2mol", preds, refs, protocol="strict")
    both = compute("caption2mol", preds, refs, protocol="both")
    assert both.scores == {**molt5.scores, **{f"strict_{k}": v for k, v in strict.scores.items()}}
    # strict: "", the missing output, "CCO is ethanol", the unicode-suffixed text and the non-SMILES are invalid.
    assert strict.counts["valid"] == 7
    assert strict.scores["validity"] == 7 / 12
    valid = [True, True, True, True, False, False, False, True, False, True, True, False]
    # every invalid pair scores 0, the mean runs over all 12 pairs
    sims = []
    for ok, (gt, out) in zip(valid, pairs, strict=True):
        if ok:
            a, b = (
                MACCSkeys.GenMACCSKeys(Chem.MolFromSmiles(gt)),
                MACCSkeys.GenMACCSKeys(Chem.MolFromSmiles(out)),
            )
            sims.append(DataStructs.TanimotoSimilarity(a, b))
        else:
            sims.append(0.0)
    assert strict.scores["maccs_fts"] == np.mean(sims)
    # "*C" has no InChI: molt5 would call "" == "" a match, strict never does.
    star = compute("caption2mol", ["*C"], ["*CC"], protocol="both")
    assert star.scores["exact_match"] == 1.0 and star.scores["strict_exact_match"] == 0.0


def test_no_valid_output_gives_nan_not_crash():
    result = compute("caption2mol", ["garbage", "more garbage"], ["CCO", "CCN"])
    assert result.scores["validity"] == 0.0
    assert math.isnan(result.scores["maccs_fts"])
    assert result.to_dict()["scores"]["maccs_fts"] is None


def test_huge_output_is_counted_oversized():
    result = compute("caption2mol", ["C" * 20_000, "CCO"], ["CCO", "CCO"])
    assert result.counts["oversized"] == 1 and result.counts["valid"] == 1


def test_morgan_generator_equals_legacy_call(pairs):
    smiles = [s for pair in pairs for s in pair if Chem.MolFromSmiles(s) is not None]
    feats = build_features(smiles)
    for s, counts in zip(smiles, feats.morgan, strict=True):
        legacy = AllChem.GetMorganFingerprint(Chem.MolFromSmiles(s), 2).GetNonzeroElements()
        assert counts == dict(legacy)


def test_tanimoto_helpers_match_rdkit():
    mols = [Chem.MolFromSmiles(s) for s in ("", "CCO", "c1ccccc1O", "CC(=O)O", "")]
    feats = build_features(["", "CCO", "c1ccccc1O", "CC(=O)O", ""])
    for i in range(len(mols)):
        for j in range(len(mols)):
            a, b = MACCSkeys.GenMACCSKeys(mols[i]), MACCSkeys.GenMACCSKeys(mols[j])
            got = compute_bit_tanimoto(feats.maccs[i : i + 1], feats.maccs[j : j + 1])[0]
            assert got == DataStructs.TanimotoSimilarity(a, b)
            la = AllChem.GetMorganFingerprint(mols[i], 2)
            lb = AllChem.GetMorganFingerprint(mols[j], 2)
            assert compute_count_tanimoto(feats.morgan[i], feats.morgan[j]) == DataStructs.TanimotoSimilarity(
                la, lb
            )


def test_reference_features_cached_as_plain_files(pairs):
    refs = [g for g, _ in pairs]
    first = load_reference_features(refs)
    folders = list(metrics_cache_dir().glob("molecules-*"))
    assert len(folders) == 1
    assert {p.suffix for p in folders[0].iterdir()} == {".npy", ".json"}
    second = load_reference_features(refs)
    assert second.inchi == first.inchi and second.morgan == first.morgan
    assert np.array_equal(second.rdk, first.rdk) and np.array_equal(second.n_atoms, first.n_atoms)


def test_chebi20_doubled_backslash_references_score_perfectly(shared_data):
    from icma_bench.data import load_split

    test = load_split("chebi20", "test", shared_data / "chebi20" / "molt5" / "test.txt")
    doubled = [r.smiles for r in test if "\\\\" in r.smiles]
    assert len(doubled) == 484
    single = [s.replace("\\\\", "\\") for s in doubled]
    result = compute("caption2mol", single, doubled, n_jobs=2)
    assert result.scores["exact_match"] == 1.0 and result.scores["validity"] == 1.0
    assert result.scores["maccs_fts"] == result.scores["rdk_fts"] == result.scores["morgan_fts"] == 1.0
    assert result.scores["levenshtein"] > 0 and result.scores["bleu"] < 1.0  # raw strings differ


def test_exact_match_parity_on_hard_pairs(shared_data):
    """InChI is computed only where the heavy-atom compositions agree: prove the exact-match count still equals
    MolT5's loop on pairs built to be hard — isomers with the same composition, canonical rewrites, protonation
    states (same InChI skeleton, different formula), molecules InChI cannot encode, empty outputs."""
    from collections import defaultdict

    from icma_bench.data import load_split
    from icma_bench.metrics.features import heavy_atoms

    test = load_split("chebi20", "test", shared_data / "chebi20" / "molt5" / "test.txt")[:150]
    by_heavy = defaultdict(list)
    for r in test:
        by_heavy[heavy_atoms(Chem.MolFromSmiles(r.smiles))].append(r.smiles)
    pairs = []
    for r in test:
        mol = Chem.MolFromSmiles(r.smiles)
        same = [s for s in by_heavy[heavy_atoms(mol)] if s != r.smiles]
        pairs.append((r.smiles, Chem.MolToSmiles(mol)))  # canonical rewrite: a match
        pairs.append((r.smiles, same[0] if same else "CCO"))  # an isomer (or a miss)
        pairs.append((r.smiles, Chem.MolToSmiles(Chem.AddHs(mol))))  # explicit hydrogens: a match
    pairs += [
        ("CC(=O)O", "CC(=O)[O-]"),  # acid vs conjugate base: standard InChI differs only by /p
        ("CC(=O)[O-].[Na+]", "CC(=O)O.[Na]"),
        ("*C", "*C"),  # InChI gives "" for both: MolT5 counts a match
        ("*C", ""),  # empty molecule also gives "": a match in MolT5 too
        ("*CC", "C1CC1"),
        ("CCO", ""),
    ]
    expected = molt5_molecule_reference(pairs)["exact_match"]
    result = compute("caption2mol", [o for _, o in pairs], [g for g, _ in pairs], protocol="both", n_jobs=2)
    assert result.scores["exact_match"] == expected
    assert 0.6 < expected < 1.0
    # strict needs non-empty, equal InChIs: the four '*' / empty pairs cannot match there.
    assert result.counts["strict_exact"] == result.counts["exact"] - 2
