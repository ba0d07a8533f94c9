"""Molecular graphs as pretrain-gnns / Mole-BERT featurise them: two integer features per atom and per bond.

Reimplemented from ``mol_to_graph_data_obj_simple`` (snap-stanford/pretrain-gnns ``chem/loader.py``; Mole-BERT's
``loader.py`` is the same function): atom = (atomic number - 1, chirality tag), bond = (bond type, bond direction),
every bond stored twice (i->j, j->i) in RDKit bond order. Self-loops are not stored: the GIN layer adds one per atom
with bond type :data:`SELF_LOOP_BOND` (as pretrain-gnns' ``GINConv.forward`` does). Pure numpy + RDKit: no torch.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem

from icma_bench.chem import mol_from_smiles

logger = logging.getLogger(__name__)

NUM_ATOM_TYPE = 120  # 118 elements, index 118 (ours: dummy atom "*"), index 119 = mask token
NUM_CHIRALITY_TAG = 3
NUM_BOND_TYPE = 6  # single, double, triple, aromatic, self-loop, mask
NUM_BOND_DIRECTION = 3
MASK_ATOM = 119  # pretrain-gnns' MaskAtom(num_atom_type=119): the mask token's atom index
DUMMY_ATOM = 118
SELF_LOOP_BOND = 4
MASK_BOND = 5

CHIRALITY = {
    Chem.rdchem.ChiralType.CHI_UNSPECIFIED: 0,
    Chem.rdchem.ChiralType.CHI_TETRAHEDRAL_CW: 1,
    Chem.rdchem.ChiralType.CHI_TETRAHEDRAL_CCW: 2,
}
BOND_TYPE = {
    Chem.rdchem.BondType.SINGLE: 0,
    Chem.rdchem.BondType.DOUBLE: 1,
    Chem.rdchem.BondType.TRIPLE: 2,
    Chem.rdchem.BondType.AROMATIC: 3,
}
BOND_DIRECTION = {
    Chem.rdchem.BondDir.NONE: 0,
    Chem.rdchem.BondDir.ENDUPRIGHT: 1,
    Chem.rdchem.BondDir.ENDDOWNRIGHT: 2,
}


@dataclass(frozen=True)
class Graph:
    """One molecule: ``x`` int64 [n_atoms, 2], ``edge_index`` int64 [2, 2 * n_bonds], ``edge_attr`` int64
    [2 * n_bonds, 2]. ``unmapped`` counts features outside pretrain-gnns' vocabulary (mapped, see
    :func:`featurize_mol`)."""

    x: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray
    unmapped: int = 0

    @property
    def num_atoms(self) -> int:
        return int(self.x.shape[0])


def featurize_mol(mol: Chem.Mol) -> Graph:
    """The pretrain-gnns graph of an RDKit molecule (atoms in RDKit order, no hydrogens added).

    NOTE: pretrain-gnns raises on features outside its lists (``list.index``); we map them instead and count them
    in ``Graph.unmapped``: the dummy atom ``*`` (atomic number 0, frequent in ChEBI) -> atom index 118, the unused
    slot before the mask token; chirality tags other than CW/CCW (``CHI_OTHER`` and RDKit's newer tags, for which
    pretrain-gnns' 3-row embedding has no row) -> 0 (unspecified); bond types other than single/double/triple/
    aromatic (dative, ...) -> single; bond directions other than none/end-up-right/end-down-right -> none.
    """
    unmapped = 0
    atoms = []
    for atom in mol.GetAtoms():
        z = atom.GetAtomicNum()
        if 1 <= z <= 118:
            a = z - 1
        else:
            a, unmapped = DUMMY_ATOM, unmapped + 1
        chi = CHIRALITY.get(atom.GetChiralTag())
        if chi is None:
            chi, unmapped = 0, unmapped + 1
        atoms.append((a, chi))
    x = np.asarray(atoms, dtype=np.int64).reshape(-1, 2)
    edges, attrs = [], []
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        bt = BOND_TYPE.get(bond.GetBondType())
        if bt is None:
            bt, unmapped = 0, unmapped + 1
        bd = BOND_DIRECTION.get(bond.GetBondDir())
        if bd is None:
            bd, unmapped = 0, unmapped + 1
        edges += [(i, j), (j, i)]
        attrs += [(bt, bd), (bt, bd)]
    edge_index = np.asarray(edges, dtype=np.int64).reshape(-1, 2).T.copy()
    edge_attr = np.asarray(attrs, dtype=np.int64).reshape(-1, 2)
    return Graph(x=x, edge_index=edge_index, edge_attr=edge_attr, unmapped=unmapped)


def featurize_smiles(smiles: str) -> Graph | None:
    """The graph of a SMILES string; ``None`` when RDKit cannot parse it or it has no atoms."""
    mol = mol_from_smiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    return featurize_mol(mol)


PARALLEL_MIN = 4096  # fewer SMILES than this are featurised in-process: starting workers costs about a second


def default_workers(n_smiles: int) -> int:
    """Worker processes for featurising ``n_smiles``: the usable cores (at most 8) on Linux for large inputs,
    else 1 (see :func:`featurize_many`)."""
    if n_smiles < PARALLEL_MIN or not sys.platform.startswith("linux"):
        return 1
    return max(1, min(8, len(os.sched_getaffinity(0))))


def _featurize_chunk(smiles: Sequence[str]) -> list[Graph | None]:
    return [featurize_smiles(s) for s in smiles]


def featurize_many(smiles: Sequence[str], workers: int | None = None) -> list[Graph | None]:
    """:func:`featurize_smiles` of every SMILES, in input order, over ``workers`` processes (``None``:
    :func:`default_workers`). The graphs do not depend on the number of workers (same function, same input)."""
    workers = default_workers(len(smiles)) if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1 or len(smiles) < 2:
        return _featurize_chunk(smiles)
    size = -(-len(smiles) // (4 * workers))  # a few chunks per worker: an even load, little pickling
    chunks = [smiles[i : i + size] for i in range(0, len(smiles), size)]
    # NOTE: fork, and only on Linux (elsewhere: in-process). spawn and forkserver re-import the caller's main
    # module in every worker, which runs an unguarded script again (and the pool then hangs); forked workers
    # only run RDKit, never the parent's torch threads (as torch's own DataLoader workers are forked).
    if not sys.platform.startswith("linux"):
        return _featurize_chunk(smiles)
    with warnings.catch_warnings():  # Python >= 3.12 warns on fork() in a multi-threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        pool = multiprocessing.get_context("fork").Pool(min(workers, len(chunks)))
    with pool:
        return [g for chunk in pool.imap(_featurize_chunk, chunks) for g in chunk]
