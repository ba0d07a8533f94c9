"""Featurisation as pretrain-gnns' mol_to_graph_data_obj_simple, on molecules checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from icma_bench.graph.featurize import DUMMY_ATOM, featurize_smiles

C, N, OX, F = 5, 6, 7, 8  # atomic number - 1


def _check(smiles, atoms, edges, attrs, unmapped=0):
    g = featurize_smiles(smiles)
    assert g.x.dtype == g.edge_index.dtype == g.edge_attr.dtype == np.int64
    assert g.x.tolist() == atoms
    assert g.edge_index.tolist() == edges
    assert g.edge_attr.tolist() == attrs
    assert g.unmapped == unmapped


def test_ethanol_single_bonds_both_directions_no_self_loops_stored():
    _check("CCO", [[C, 0], [C, 0], [OX, 0]], [[0, 1, 1, 2], [1, 0, 2, 1]], [[0, 0]] * 4)


def test_bond_types_triple_aromatic_ring():
    _check("C#N", [[C, 0], [N, 0]], [[0, 1], [1, 0]], [[2, 0], [2, 0]])
    g = featurize_smiles("c1ccccc1")
    assert g.edge_index.shape == (2, 12) and (g.edge_attr == [3, 0]).all()
    assert g.edge_index[:, -2:].tolist() == [[5, 0], [0, 5]]  # ring closure bond last, RDKit bond order
    assert featurize_smiles("C=O").edge_attr.tolist() == [[1, 0], [1, 0]]


def test_chirality_tags():
    assert featurize_smiles("C[C@H](N)O").x[:, 1].tolist() == [0, 2, 0, 0]  # @ = CCW -> 2
    assert featurize_smiles("C[C@@H](N)O").x[:, 1].tolist() == [0, 1, 0, 0]  # @@ = CW -> 1
    assert featurize_smiles("CC(N)O").x[:, 1].tolist() == [0, 0, 0, 0]


def test_bond_directions_of_double_bond_stereo():
    _check(
        "F/C=C/F",
        [[F, 0], [C, 0], [C, 0], [F, 0]],
        [[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]],
        [[0, 1], [0, 1], [1, 0], [1, 0], [0, 1], [0, 1]],  # "/" = ENDUPRIGHT (1), the double bond has none
    )
    assert featurize_smiles("F\\C=C/F").edge_attr[:2].tolist() == [[0, 2], [0, 2]]  # "\" = ENDDOWNRIGHT


def test_no_bonds_dummy_atom_and_unparsable():
    g = featurize_smiles("[Na+].[Cl-]")
    assert g.x.tolist() == [[10, 0], [16, 0]] and g.edge_index.shape == (2, 0) and g.edge_attr.shape == (0, 2)
    _check("*C", [[DUMMY_ATOM, 0], [C, 0]], [[0, 1], [1, 0]], [[0, 0], [0, 0]], unmapped=1)
    assert featurize_smiles("not a smiles") is None
    assert featurize_smiles("") is None


def test_self_loops_are_added_by_the_layer_with_bond_type_4():
    """GINConv sums (x_j + bond embedding) over incoming edges plus one self-loop per atom (type 4, direction 0)."""
    torch = pytest.importorskip("torch")
    from icma_bench.graph.model import GINConv, collate

    torch.manual_seed(0)
    conv = GINConv(8)
    conv.mlp = torch.nn.Identity()
    x, ei, ea, _ = collate([featurize_smiles("C=O")], min_rows=0)
    h = torch.randn(2, 8)
    e1, e2 = conv.edge_embedding1.weight, conv.edge_embedding2.weight
    with torch.no_grad():
        out = conv(h, ei, ea)
        loop = e1[4] + e2[0]
        expected = torch.stack([h[1] + e1[1] + e2[0] + h[0] + loop, h[0] + e1[1] + e2[0] + h[1] + loop])
    torch.testing.assert_close(out, expected)
