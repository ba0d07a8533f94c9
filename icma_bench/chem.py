"""RDKit helpers: parsing with RDKit's log noise silenced, canonical SMILES, InChI.

Unparsable input is a value (``None``), never an exception: callers count it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rdkit import Chem, RDLogger

# NOTE: huge strings make RDKit slow and are never valid model output worth parsing in a benchmark;
# anything longer than this is treated as unparsable (counted as invalid, never dropped).
MAX_SMILES_CHARS = 10_000


@contextlib.contextmanager
def quiet_rdkit() -> Iterator[None]:
    """Silence RDKit's C++ logger for the duration of the block (restores it afterwards)."""
    RDLogger.DisableLog("rdApp.*")
    try:
        yield
    finally:
        RDLogger.EnableLog("rdApp.*")


def mol_from_smiles(smiles: str | None) -> Chem.Mol | None:
    """Parse a SMILES string; ``None`` for empty, oversized or unparsable input (no log spam)."""
    if not smiles or not isinstance(smiles, str) or len(smiles) > MAX_SMILES_CHARS:
        return None
    with quiet_rdkit():
        try:
            return Chem.MolFromSmiles(smiles)
        except Exception:  # RDKit raises on a few pathological inputs (e.g. embedded NULs)
            return None


def canonical_smiles(smiles: str | None) -> str | None:
    """RDKit canonical isomeric SMILES, or ``None`` when unparsable."""
    mol = mol_from_smiles(smiles)
    if mol is None:
        return None
    return Chem.MolToSmiles(mol)


def mol_to_inchi(mol: Chem.Mol | None) -> str | None:
    """Standard InChI of a molecule, ``None`` when RDKit cannot produce one (or returns an empty string)."""
    if mol is None:
        return None
    with quiet_rdkit():
        try:
            inchi = Chem.MolToInchi(mol)
        except Exception:
            return None
    return inchi or None
