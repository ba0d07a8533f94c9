"""Molecule features for the metrics: one RDKit pass per distinct SMILES, reference features cached on disk.

Per SMILES we compute once: RDKit parse (``Chem.MolFromSmiles``; note ``""`` parses to a valid empty molecule), atom
count, standard InChI, MACCS keys, the RDKit path fingerprint (``Chem.RDKFingerprint`` defaults, passed explicitly),
and Morgan radius-2 unhashed counts (the generator API; equal to the legacy ``AllChem.GetMorganFingerprint(m, 2)``,
pinned by a parity test). Reference features are cached on disk (``.npy`` + JSON) per reference set, so scoring
another model against the same test set only featurises its outputs. Featurisation runs on every core.
"""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem import MACCSkeys, rdFingerprintGenerator

from icma_bench.chem import MAX_SMILES_CHARS, quiet_rdkit
from icma_bench.data import sha256_texts, write_atomic
from icma_bench.metrics.resources import metrics_cache_dir
from icma_bench.metrics.workers import map_chunks

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
FEATURES_VERSION = "2"  # bump when what is cached changes


@dataclass
class MoleculeFeatures:
    """Features of N SMILES strings. ``n_atoms`` is -1 where RDKit could not parse (or the string was oversized)."""

    n_atoms: np.ndarray  # int64 (N,)
    oversized: np.ndarray  # bool (N,)
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


def featurise_smiles(smiles: str, inchi_for: frozenset[str] | None = None) -> tuple:
    """One SMILES -> (n_atoms, oversized, inchi, maccs bytes, rdk bytes, morgan ids, morgan counts, heavy atoms).

    ``inchi_for``: compute the InChI only when the heavy-atom composition is in this set (None: always).
    """
    empty = (-1, False, None, bytes(21), bytes(256), (), (), "")
    if len(smiles) > MAX_SMILES_CHARS:
        # NOTE: deviation from MolT5 for outputs over MAX_SMILES_CHARS characters (never a real molecule in these
        # datasets): counted unparsable instead of spending minutes in RDKit. Counted as `oversized`.
        return (-1, True, *empty[2:])
    try:
        mol = Chem.MolFromSmiles(smiles)
    except Exception:  # MolT5 wraps this in a bare except and counts the output as bad
        mol = None
    if mol is None:
        return empty
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
    )


def _featurise_chunk(items: Sequence[tuple[str, frozenset[str] | None]]) -> list[tuple]:
    with quiet_rdkit():
        return [featurise_smiles(s, inchi_for) for s, inchi_for in items]


def build_features(
    smiles: Sequence[str],
    *,
    inchi_for: Sequence[frozenset[str] | None] | None = None,
    n_jobs: int = 1,
    show_progress: bool = False,
    known: tuple[Sequence[str], MoleculeFeatures] | None = None,
) -> MoleculeFeatures:
    """Featurise each unique SMILES once (on ``n_jobs`` processes) and expand back to the input order.

    ``inchi_for[i]``: the heavy-atom compositions for which string i needs an InChI (None: always; default).
    ``known``: ``(strings, features)`` already computed with every InChI (the references): a string found there
    is copied, not featurised again (the same string gives the same features).
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
        map_chunks(_featurise_chunk, todo, n_jobs=n_jobs, desc="molecules", show_progress=show_progress)
    )
    rows = [_feature_row(known_feats, seen[s]) if s in seen else next(computed) for s in unique]
    index = {s: i for i, s in enumerate(unique)}
    order = np.fromiter((index[s] for s in smiles), dtype=np.int64, count=len(smiles))
    n_atoms = np.array([r[0] for r in rows], dtype=np.int64).reshape(-1)
    oversized = np.array([r[1] for r in rows], dtype=bool).reshape(-1)
    maccs = np.frombuffer(b"".join(r[3] for r in rows), dtype=np.uint8).reshape(len(rows), 21)
    rdk = np.frombuffer(b"".join(r[4] for r in rows), dtype=np.uint8).reshape(len(rows), 256)
    morgan = [dict(zip(r[5], r[6], strict=False)) for r in rows]
    return MoleculeFeatures(
        n_atoms=n_atoms[order],
        oversized=oversized[order],
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
    )


def _save_npy(path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    write_atomic(path, buf.getvalue())


def load_reference_features(
    references: Sequence[str], *, n_jobs: int = 1, show_progress: bool = False
) -> MoleculeFeatures:
    """:func:`build_features` for a reference set, cached on disk (``.npy`` + JSON) by content and RDKit version."""
    key = sha256_texts([FEATURES_VERSION, rdBase.rdkitVersion, str(MAX_SMILES_CHARS), *references])[:24]
    folder = metrics_cache_dir() / f"molecules-{key}"
    meta_path = folder / "meta.json"
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in meta["arrays"]}
            offsets = arrays["morgan_offsets"]
            ids, vals = arrays["morgan_ids"].tolist(), arrays["morgan_counts"].tolist()
            return MoleculeFeatures(
                n_atoms=arrays["n_atoms"],
                oversized=arrays["oversized"],
                inchi=meta["inchi"],
                heavy=meta["heavy"],
                maccs=arrays["maccs"],
                rdk=arrays["rdk"],
                morgan=[
                    dict(zip(ids[a:b], vals[a:b], strict=False))
                    for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=False)
                ],
            )
        except (OSError, ValueError, KeyError):
            logger.warning("ignoring unreadable molecule cache %s", folder)
    feats = build_features(references, n_jobs=n_jobs, show_progress=show_progress)
    lengths = [len(m) for m in feats.morgan]
    arrays = {
        "n_atoms": feats.n_atoms,
        "oversized": feats.oversized,
        "maccs": feats.maccs,
        "rdk": feats.rdk,
        "morgan_ids": np.array([k for m in feats.morgan for k in m], dtype=np.int64),
        "morgan_counts": np.array([v for m in feats.morgan for v in m.values()], dtype=np.int64),
        "morgan_offsets": np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64),
    }
    for name, array in arrays.items():
        _save_npy(folder / f"{name}.npy", array)
    meta = {
        "arrays": sorted(arrays),
        "inchi": feats.inchi,
        "heavy": feats.heavy,
        "rdkit": rdBase.rdkitVersion,
        "n": len(references),
    }
    write_atomic(meta_path, json.dumps(meta))  # written last: its presence marks a complete cache
    return feats
