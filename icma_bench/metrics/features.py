"""Molecule features for the metrics: one RDKit pass per distinct SMILES, reference features cached on disk.

Per SMILES we compute once: RDKit parse (``Chem.MolFromSmiles``; note ``""`` parses to a valid empty molecule), atom
count, standard InChI, MACCS keys, the RDKit path fingerprint (``Chem.RDKFingerprint`` defaults, passed explicitly),
and Morgan radius-2 unhashed counts (the generator API; equal to the legacy ``AllChem.GetMorganFingerprint(m, 2)``,
pinned by a parity test). Reference features are cached on disk (a content-verified ``.npy`` + JSON store entry) per
reference set, so scoring another model against the same test set only featurises its outputs. Featurisation runs
on every core; a molecule that fails the cheap screen is featurised under the per-molecule bound
(:func:`icma_bench.chem.run_guarded`) and is ``too_complex`` past it.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem import MACCSkeys, rdFingerprintGenerator

from icma_bench.chem import (
    DEFAULT_LIMITS,
    MAX_SMILES_CHARS,
    TOO_COMPLEX,
    MoleculeLimits,
    passes_screen,
    quiet_rdkit,
    run_guarded,
)
from icma_bench.files import sha256_texts
from icma_bench.metrics.resources import metrics_cache_dir
from icma_bench.metrics.workers import map_chunks
from icma_bench.store import load_arrays, save_arrays

logger = logging.getLogger(__name__)

MORGAN_RADIUS = 2
MACCS_BITS = 167
RDK_BITS = 2048
# Chem.RDKFingerprint's defaults (what MolT5 calls), spelled out.
RDK_ARGS = {
    "minPath": 1,
    "maxPath": 7,
    "fpSize": RDK_BITS,
    "nBitsPerHash": 2,
    "useHs": True,
    "tgtDensity": 0.0,
}
FEATURES_VERSION = "3"  # bump when what is cached changes


@dataclass
class MoleculeFeatures:
    """Features of N SMILES strings. ``n_atoms`` is -1 where RDKit could not parse (or the string was oversized)."""

    n_atoms: np.ndarray  # int64 (N,)
    oversized: np.ndarray  # bool (N,)
    too_complex: np.ndarray  # bool (N,): over the per-molecule bound (n_atoms -1, scored as unparsable)
    inchi: list[
        str | None
    ]  # None: unparsed, InChI raised, or not needed (see heavy_atoms); "": RDKit gave none
    heavy: list[
        str
    ]  # heavy-atom composition ("6x2.8x1"), "" when unparsed: a necessary condition for equal InChIs
    maccs: np.ndarray  # uint8 (N, 21): packed bits
    rdk: np.ndarray  # uint8 (N, 256): packed bits
    morgan: list[dict[int, int]]  # feature id -> count

    @property
    def parsed(self) -> np.ndarray:
        return self.n_atoms >= 0


_MORGAN = None


def _morgan_generator():
    global _MORGAN
    if _MORGAN is None:
        _MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=MORGAN_RADIUS)
    return _MORGAN


def heavy_atoms(mol: Chem.Mol) -> str:
    """Element counts of the non-hydrogen atoms, e.g. ``"6x2.8x1"`` for ethanol.

    Two molecules with equal standard InChIs have equal heavy-atom compositions (the InChI formula layer counts every
    non-hydrogen atom; normalisation only moves protons), so an output whose composition differs from its reference's
    cannot be an exact match and its InChI, the slowest feature, is not computed. Verified over all 33,010 ChEBI-20
    molecules (with and without explicit hydrogens): no two with equal InChIs differ in composition.
    """
    counts = Counter(a.GetAtomicNum() for a in mol.GetAtoms() if a.GetAtomicNum() != 1)
    return ".".join(f"{z}x{c}" for z, c in sorted(counts.items()))


def featurise_smiles(smiles: str, inchi_for: frozenset[str] | None = None, *, screen: bool = False) -> tuple:
    """One SMILES -> (n_atoms, oversized, inchi, maccs bytes, rdk bytes, morgan ids, morgan counts, heavy atoms,
    too_complex).

    ``inchi_for``: compute the InChI only when the heavy-atom composition is in this set (None: always).
    ``screen``: return :data:`RISKY` instead of features for a molecule that fails :func:`passes_screen` (the caller
    then featurises it under :func:`run_guarded`).
    """
    if len(smiles) > MAX_SMILES_CHARS:
        # NOTE: deviation from MolT5 for outputs over MAX_SMILES_CHARS characters (never a real molecule in these
        # datasets): counted unparsable instead of spending minutes in RDKit. Counted as `oversized`.
        return (-1, True, *EMPTY_ROW[2:])
    if screen and not passes_screen(smiles):
        return RISKY
    try:
        mol = Chem.MolFromSmiles(smiles)
    except Exception:  # MolT5 wraps this in a bare except and counts the output as bad
        mol = None
    if mol is None:
        return EMPTY_ROW
    if screen and not passes_screen(smiles, mol):
        return RISKY
    heavy = heavy_atoms(mol)
    inchi = None
    if inchi_for is None or heavy in inchi_for:
        try:
            inchi = Chem.MolToInchi(mol)
        except Exception:
            inchi = None
    maccs = np.zeros(MACCS_BITS, dtype=np.uint8)
    DataStructs.ConvertToNumpyArray(MACCSkeys.GenMACCSKeys(mol), maccs)
    rdk = np.zeros(RDK_BITS, dtype=np.uint8)
    DataStructs.ConvertToNumpyArray(Chem.RDKFingerprint(mol, **RDK_ARGS), rdk)
    counts = _morgan_generator().GetSparseCountFingerprint(mol).GetNonzeroElements()
    return (
        mol.GetNumAtoms(),
        False,
        inchi,
        np.packbits(maccs).tobytes(),
        np.packbits(rdk).tobytes(),
        tuple(counts.keys()),
        tuple(counts.values()),
        heavy,
        False,
    )


EMPTY_ROW = (-1, False, None, bytes(21), bytes(256), (), (), "", False)
# NOTE: deviation from MolT5 (which would parse it and spend minutes or gigabytes): a molecule over the per-molecule
# bound is scored as an unparsable one under every protocol (not valid, outside the fingerprint means, no exact
# match) and counted as `too_complex`. The bound is far above any real molecule's cost (benchmarks/README.md).
TOO_COMPLEX_ROW = (*EMPTY_ROW[:-1], True)
RISKY = "risky"


def _encode_row(row: tuple) -> bytes:
    n_atoms, oversized, inchi, maccs, rdk, ids, vals, heavy, too_complex = row
    blob = [n_atoms, oversized, inchi, maccs.hex(), rdk.hex(), list(ids), list(vals), heavy, too_complex]
    return json.dumps(blob).encode("utf-8")


def _decode_row(payload: bytes) -> tuple:
    n_atoms, oversized, inchi, maccs, rdk, ids, vals, heavy, too_complex = json.loads(payload)
    return (
        n_atoms,
        oversized,
        inchi,
        bytes.fromhex(maccs),
        bytes.fromhex(rdk),
        tuple(ids),
        tuple(vals),
        heavy,
        too_complex,
    )


def _featurise_guarded(item: tuple[str, frozenset[str] | None]) -> bytes:
    return _encode_row(featurise_smiles(item[0], item[1]))


def _featurise_chunk(
    items: Sequence[tuple[str, frozenset[str] | None]], limits: MoleculeLimits = DEFAULT_LIMITS
) -> list[tuple]:
    screen = limits.enabled
    with quiet_rdkit():
        rows = [featurise_smiles(s, inchi_for, screen=screen) for s, inchi_for in items]
        risky = [i for i, r in enumerate(rows) if r is RISKY]
        if risky:
            done = run_guarded(_featurise_guarded, [items[i] for i in risky], limits)
            for i, payload in zip(risky, done, strict=True):
                rows[i] = TOO_COMPLEX_ROW if payload == TOO_COMPLEX else _decode_row(payload)
    return rows


def build_features(
    smiles: Sequence[str],
    *,
    inchi_for: Sequence[frozenset[str] | None] | None = None,
    n_jobs: int = 1,
    show_progress: bool = False,
    known: tuple[Sequence[str], MoleculeFeatures] | None = None,
    limits: MoleculeLimits = DEFAULT_LIMITS,
) -> MoleculeFeatures:
    """Featurise each unique SMILES once (on ``n_jobs`` processes) and expand back to the input order.

    ``inchi_for[i]``: the heavy-atom compositions for which string i needs an InChI (None: always; default).
    ``known``: ``(strings, features)`` already computed with every InChI (the references): a string found there
    is copied, not featurised again (the same string gives the same features). ``limits``: the per-molecule bound
    (``known`` must have been computed under the same one).
    """
    wanted: dict[str, frozenset[str] | None] = {}
    for i, s in enumerate(smiles):
        need = None if inchi_for is None else inchi_for[i]
        if s in wanted:
            prev = wanted[s]
            wanted[s] = None if prev is None or need is None else prev | need
        else:
            wanted[s] = need
    unique = list(wanted)
    seen = {}
    if known is not None:
        known_strings, known_feats = known
        seen = {s: i for i, s in enumerate(known_strings) if s in wanted}
    todo = [(s, need) for s, need in wanted.items() if s not in seen]
    computed = iter(
        map_chunks(
            functools.partial(_featurise_chunk, limits=limits),
            todo,
            n_jobs=n_jobs,
            desc="molecules",
            show_progress=show_progress,
        )
    )
    rows = [_feature_row(known_feats, seen[s]) if s in seen else next(computed) for s in unique]
    n_bad = sum(bool(r[8]) for r in rows)
    if n_bad:
        logger.warning(
            "%d molecule(s) over the per-molecule bound (%s): counted too_complex", n_bad, limits.signature
        )
    index = {s: i for i, s in enumerate(unique)}
    order = np.fromiter((index[s] for s in smiles), dtype=np.int64, count=len(smiles))
    n_atoms = np.array([r[0] for r in rows], dtype=np.int64).reshape(-1)
    oversized = np.array([r[1] for r in rows], dtype=bool).reshape(-1)
    too_complex = np.array([r[8] for r in rows], dtype=bool).reshape(-1)
    maccs = np.frombuffer(b"".join(r[3] for r in rows), dtype=np.uint8).reshape(len(rows), 21)
    rdk = np.frombuffer(b"".join(r[4] for r in rows), dtype=np.uint8).reshape(len(rows), 256)
    morgan = [dict(zip(r[5], r[6], strict=False)) for r in rows]
    return MoleculeFeatures(
        n_atoms=n_atoms[order],
        oversized=oversized[order],
        too_complex=too_complex[order],
        inchi=[rows[i][2] for i in order],
        heavy=[rows[i][7] for i in order],
        maccs=maccs[order],
        rdk=rdk[order],
        morgan=[morgan[i] for i in order],
    )


def _feature_row(feats: MoleculeFeatures, i: int) -> tuple:
    """Row ``i`` of computed features in :func:`featurise_smiles`' layout."""
    morgan = feats.morgan[i]
    return (
        int(feats.n_atoms[i]),
        bool(feats.oversized[i]),
        feats.inchi[i],
        feats.maccs[i].tobytes(),
        feats.rdk[i].tobytes(),
        tuple(morgan.keys()),
        tuple(morgan.values()),
        feats.heavy[i],
        bool(feats.too_complex[i]),
    )


def _json_array(values) -> np.ndarray:
    return np.frombuffer(json.dumps(values, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)


_WARNED_UNWRITABLE: set[str] = set()


def load_reference_features(
    references: Sequence[str],
    *,
    n_jobs: int = 1,
    show_progress: bool = False,
    limits: MoleculeLimits = DEFAULT_LIMITS,
) -> MoleculeFeatures:
    """:func:`build_features` for a reference set, cached on disk by content, RDKit version and ``limits``.

    The cache is a content-verified store entry (:mod:`icma_bench.store`: every file's sha256 in the manifest, names
    checked to stay inside the cache); any mismatch is logged and the entry rebuilt. An unwritable cache folder
    gives one warning and the features are computed without caching.
    """
    key = sha256_texts(
        [FEATURES_VERSION, rdBase.rdkitVersion, str(MAX_SMILES_CHARS), limits.signature, *references]
    )[:24]
    folder = metrics_cache_dir() / f"molecules-{key}"
    n = len(references)
    expect = {"kind": "molecule-features", "n": n, "rdkit": rdBase.rdkitVersion, "limits": limits.signature}
    hit = load_arrays(folder, "features", expect)
    if hit is not None:
        try:
            return _features_from_arrays(hit[0], n)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            logger.warning("ignoring inconsistent molecule cache %s (%s); rebuilding", folder, exc)
    feats = build_features(references, n_jobs=n_jobs, show_progress=show_progress, limits=limits)
    lengths = [len(m) for m in feats.morgan]
    arrays = {
        "n_atoms": feats.n_atoms,
        "oversized": feats.oversized,
        "too_complex": feats.too_complex,
        "maccs": feats.maccs,
        "rdk": feats.rdk,
        "morgan_ids": np.array([k for m in feats.morgan for k in m], dtype=np.int64),
        "morgan_counts": np.array([v for m in feats.morgan for v in m.values()], dtype=np.int64),
        "morgan_offsets": np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64),
        "inchi": _json_array(feats.inchi),
        "heavy": _json_array(feats.heavy),
    }
    try:
        save_arrays(folder, "features", arrays, expect)
    except OSError as exc:
        if str(folder.parent) not in _WARNED_UNWRITABLE:
            _WARNED_UNWRITABLE.add(str(folder.parent))
            logger.warning(
                "molecule cache %s is not writable (%s); computing without caching",
                folder.parent,
                exc.strerror or exc,
            )
    return feats


def _features_from_arrays(arrays: dict[str, np.ndarray], n: int) -> MoleculeFeatures:
    """Rebuild features from verified arrays, checking that every length agrees with ``n`` references."""
    inchi = json.loads(arrays["inchi"].tobytes().decode("utf-8"))
    heavy = json.loads(arrays["heavy"].tobytes().decode("utf-8"))
    offsets = arrays["morgan_offsets"]
    ids, vals = arrays["morgan_ids"].tolist(), arrays["morgan_counts"].tolist()
    shapes = {
        "n_atoms": (n,),
        "oversized": (n,),
        "too_complex": (n,),
        "maccs": (n, 21),
        "rdk": (n, 256),
        "morgan_offsets": (n + 1,),
    }
    for name, shape in shapes.items():
        if arrays[name].shape != shape:
            raise ValueError(f"{name} has shape {arrays[name].shape}, expected {shape}")
    if len(inchi) != n or len(heavy) != n or len(ids) != len(vals) or int(offsets[-1]) != len(ids):
        raise ValueError("lengths disagree")
    return MoleculeFeatures(
        n_atoms=arrays["n_atoms"],
        oversized=arrays["oversized"],
        too_complex=arrays["too_complex"],
        inchi=inchi,
        heavy=heavy,
        maccs=arrays["maccs"],
        rdk=arrays["rdk"],
        morgan=[
            dict(zip(ids[a:b], vals[a:b], strict=False))
            for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=False)
        ],
    )
