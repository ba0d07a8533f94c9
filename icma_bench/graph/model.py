"""The Mole-BERT / pretrain-gnns GIN encoder on torch_geometric, with their parameter names.

Reimplemented from snap-stanford/pretrain-gnns ``chem/model.py`` (``GINConv``, ``GNN``; Mole-BERT's ``model.py``
is the same network): atom embedding = ``x_embedding1[atom type] + x_embedding2[chirality]``; each of 5 layers adds
a self-loop per atom (bond type 4, direction 0), sums ``h_j + edge_embedding1[bond type] + edge_embedding2[direction]``
over incoming edges, applies ``mlp`` (300 -> 600 -> ReLU -> 300) and ``BatchNorm1d``, then ReLU except after the
last layer (JK = "last", dropout 0 at inference). The graph embedding is the mean of the atom embeddings.
The ``state_dict`` keys are pretrain-gnns' (``x_embedding1.weight``, ``gnns.0.mlp.0.weight``, ``batch_norms.0.*``),
so their checkpoints load unchanged. Inference (embeddings) runs :func:`embed_batch` on :func:`fuse_gin`'s folded
tensors: the same function with no per-edge tensors, equal up to float rounding.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn
from torch_geometric.nn import MessagePassing, global_mean_pool

from icma_bench.graph.featurize import (
    NUM_ATOM_TYPE,
    NUM_BOND_DIRECTION,
    NUM_BOND_TYPE,
    NUM_CHIRALITY_TAG,
    SELF_LOOP_BOND,
)

NUM_LAYER = 5
EMB_DIM = 300


class GINConv(MessagePassing):
    """pretrain-gnns' GIN layer with edge features: sum of (neighbour + bond embedding), self-loop included."""

    def __init__(self, emb_dim: int = EMB_DIM) -> None:
        super().__init__(aggr="add")
        self.mlp = nn.Sequential(nn.Linear(emb_dim, 2 * emb_dim), nn.ReLU(), nn.Linear(2 * emb_dim, emb_dim))
        self.edge_embedding1 = nn.Embedding(NUM_BOND_TYPE, emb_dim)
        self.edge_embedding2 = nn.Embedding(NUM_BOND_DIRECTION, emb_dim)
        nn.init.xavier_uniform_(self.edge_embedding1.weight.data)
        nn.init.xavier_uniform_(self.edge_embedding2.weight.data)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        n = x.size(0)
        loops = torch.arange(n, device=x.device)
        edge_index = torch.cat(
            [edge_index, torch.stack([loops, loops])], dim=1
        )  # self-loops last, as add_self_loops
        loop_attr = torch.zeros((n, 2), dtype=edge_attr.dtype, device=edge_attr.device)
        loop_attr[:, 0] = SELF_LOOP_BOND
        edge_attr = torch.cat([edge_attr, loop_attr], dim=0)
        edge_emb = self.edge_embedding1(edge_attr[:, 0]) + self.edge_embedding2(edge_attr[:, 1])
        return self.mlp(self.propagate(edge_index, x=x, edge_attr=edge_emb))

    def message(self, x_j: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        return x_j + edge_attr


class GIN(nn.Module):
    """pretrain-gnns' ``GNN(num_layer=5, emb_dim=300, JK="last", drop_ratio=0, gnn_type="gin")``: node embeddings.

    NOTE: dropout is left out (Mole-BERT's and pretrain-gnns' inference use ``drop_ratio=0`` / eval mode); it has
    no parameters, so checkpoints are unaffected.
    """

    def __init__(self, num_layer: int = NUM_LAYER, emb_dim: int = EMB_DIM) -> None:
        super().__init__()
        if num_layer < 2:
            raise ValueError("the GIN needs at least 2 layers")
        self.num_layer = num_layer
        self.x_embedding1 = nn.Embedding(NUM_ATOM_TYPE, emb_dim)
        self.x_embedding2 = nn.Embedding(NUM_CHIRALITY_TAG, emb_dim)
        nn.init.xavier_uniform_(self.x_embedding1.weight.data)
        nn.init.xavier_uniform_(self.x_embedding2.weight.data)
        self.gnns = nn.ModuleList(GINConv(emb_dim) for _ in range(num_layer))
        self.batch_norms = nn.ModuleList(nn.BatchNorm1d(emb_dim) for _ in range(num_layer))

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        h = self.x_embedding1(x[:, 0]) + self.x_embedding2(x[:, 1])
        for layer in range(self.num_layer):
            h = self.batch_norms[layer](self.gnns[layer](h, edge_index, edge_attr))
            if layer < self.num_layer - 1:  # no ReLU after the last layer (JK = "last")
                h = torch.relu(h)
        return h


def pool_mean(node_embeddings: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Mean pooling per graph (pretrain-gnns' ``global_mean_pool``)."""
    return global_mean_pool(node_embeddings, batch, size=num_graphs)


# NOTE: MKL picks other GEMM kernels for a handful of rows (measured: 1-3, 5-7, 9-11 rows differ in the last bit
# from the same rows inside a larger matrix), so a small batch would not embed bitwise like a large one. Every
# batch is padded with isolated dummy atoms to at least this many rows; they belong to no molecule.
MIN_ROWS = 64


def collate(
    graphs, min_rows: int = MIN_ROWS
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One disjoint-union batch ``(x, edge_index, edge_attr, batch)`` of featurised graphs (``Graph`` objects).

    Padding atoms (to ``min_rows``) carry graph id ``len(graphs)``: pool with ``num_graphs = len(graphs) + 1`` and
    drop the last row.
    """
    import numpy as np

    xs, eis, eas, ids = [], [], [], []
    offset = 0
    for i, g in enumerate(graphs):
        xs.append(g.x)
        eis.append(g.edge_index + offset)
        eas.append(g.edge_attr)
        ids.append(np.full(g.num_atoms, i, dtype=np.int64))
        offset += g.num_atoms
    pad = max(0, min_rows - offset)
    if pad:
        xs.append(np.zeros((pad, 2), dtype=np.int64))
        ids.append(np.full(pad, len(graphs), dtype=np.int64))
    x = torch.from_numpy(np.concatenate(xs, axis=0))
    edge_index = (
        torch.from_numpy(np.concatenate(eis, axis=1)) if eis else torch.empty((2, 0), dtype=torch.long)
    )
    edge_attr = (
        torch.from_numpy(np.concatenate(eas, axis=0)) if eas else torch.empty((0, 2), dtype=torch.long)
    )
    return x, edge_index, edge_attr, torch.from_numpy(np.concatenate(ids))


@dataclass(frozen=True)
class InferenceGIN:
    """A GIN in eval mode folded into plain float32 tensors for :func:`embed_batch` (no autograd, no modules).

    Per layer: ``w1``/``w2`` are the MLP's weights transposed (``[in, out]``, contiguous), ``w2``/``b2`` with the
    BatchNorm folded in (``BN(z W2^T + b2) = z (s W2)^T + s (b2 - mean) + beta``, ``s = gamma / sqrt(var + eps)``,
    computed in float64), ``edge_w1`` the stacked bond-type and bond-direction embeddings times ``W1^T``
    (``[NUM_BOND_TYPE + NUM_BOND_DIRECTION, 2 * dim]``) with the first bias folded into the self-loop row.
    """

    atom_type: torch.Tensor
    chirality: torch.Tensor
    w1: tuple[torch.Tensor, ...]
    edge_w1: tuple[torch.Tensor, ...]
    w2: tuple[torch.Tensor, ...]
    b2: tuple[torch.Tensor, ...]


def fuse_gin(model: GIN) -> InferenceGIN:
    """The eval-mode ``model`` as an :class:`InferenceGIN` (its ``state_dict`` is read, never changed)."""
    if model.training:
        raise ValueError("the GIN must be in eval mode (BatchNorm running statistics); call model.eval()")
    w1s, edge_w1s, w2s, b2s = [], [], [], []
    with torch.no_grad():
        for conv, bn in zip(model.gnns, model.batch_norms, strict=True):
            lin1, lin2 = conv.mlp[0], conv.mlp[2]
            w1 = lin1.weight.double().t()
            edges = torch.cat([conv.edge_embedding1.weight, conv.edge_embedding2.weight]).double()
            edge_w1 = edges @ w1
            # NOTE: every atom has exactly one self-loop and no bond has type SELF_LOOP_BOND, so the counts'
            # self-loop column is 1 on every row: the first bias rides on that row and costs no extra pass.
            edge_w1[SELF_LOOP_BOND] += lin1.bias.double()
            scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
            w2 = lin2.weight.double().t() * scale
            b2 = (lin2.bias.double() - bn.running_mean.double()) * scale + bn.bias.double()
            w1s.append(w1.float().contiguous())
            edge_w1s.append(edge_w1.float().contiguous())
            w2s.append(w2.float().contiguous())
            b2s.append(b2.float().contiguous())
        return InferenceGIN(
            model.x_embedding1.weight.detach().float().contiguous(),
            model.x_embedding2.weight.detach().float().contiguous(),
            tuple(w1s),
            tuple(edge_w1s),
            tuple(w2s),
            tuple(b2s),
        )


def _structure(x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor):
    """CSR adjacency ``A`` (row i: the sources of i's incoming edges in edge order, then i itself: the self-loop)
    and the per-atom counts ``C`` [n, NUM_BOND_TYPE + NUM_BOND_DIRECTION] of incoming (bond type, direction)."""
    n = x.size(0)
    src, dst = edge_index[0], edge_index[1]
    loops = torch.arange(n, dtype=torch.long)
    rows, cols = torch.cat([dst, loops]), torch.cat([src, loops])
    order = torch.sort(rows, stable=True).indices
    crow = torch.zeros(n + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(rows, minlength=n), 0, out=crow[1:])
    with warnings.catch_warnings():  # NOTE: torch warns that sparse CSR is "beta"; CSR @ dense is all we use
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        adjacency = torch.sparse_csr_tensor(
            crow, cols[order], torch.ones(rows.numel()), (n, n), check_invariants=False
        )
    counts = torch.zeros(n, NUM_BOND_TYPE + NUM_BOND_DIRECTION)
    ones = torch.ones(dst.numel())
    counts.index_put_((dst, edge_attr[:, 0]), ones, accumulate=True)
    counts.index_put_((dst, NUM_BOND_TYPE + edge_attr[:, 1]), ones, accumulate=True)
    counts[:, SELF_LOOP_BOND] += 1.0
    counts[:, NUM_BOND_TYPE] += 1.0  # self-loops have direction 0
    return adjacency, counts


def embed_batch(
    gin: InferenceGIN,
    x: torch.Tensor,
    edge_index: torch.Tensor,
    edge_attr: torch.Tensor,
    batch: torch.Tensor,
    num_graphs: int,
) -> torch.Tensor:
    """Mean-pooled graph embeddings ``[num_graphs, dim]`` of a :func:`collate` batch: the same function as
    ``pool_mean(GIN(x, ...), batch, num_graphs)``, equal to it up to float rounding.

    The sum over incoming edges of ``h_j + e1[type] + e2[direction]`` is ``A h + C [e1; e2]``: one sparse matmul
    and a 9-column product (folded into the first Linear), no per-edge tensor. The last layer has no ReLU after
    its BatchNorm, so the mean pool moves before its second Linear (one row per graph, not per atom).
    """
    adjacency, counts = _structure(x, edge_index, edge_attr)
    h = gin.atom_type[x[:, 0]] + gin.chirality[x[:, 1]]
    last = len(gin.w1) - 1
    for layer in range(last + 1):
        z = torch.mm(counts, gin.edge_w1[layer])  # edge embeddings and the first bias, through W1
        z.addmm_(torch.sparse.mm(adjacency, h), gin.w1[layer]).relu_()
        if layer < last:
            h = torch.addmm(gin.b2[layer], z, gin.w2[layer]).relu_()
    pooled = global_mean_pool(z, batch, size=num_graphs)
    pad = MIN_ROWS - num_graphs  # NOTE: small GEMMs round differently (see MIN_ROWS): pad the pooled rows too
    if pad > 0:
        pooled = torch.cat([pooled, pooled.new_zeros(pad, pooled.size(1))])
    return torch.addmm(gin.b2[last], pooled, gin.w2[last])[:num_graphs]
