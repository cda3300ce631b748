"""Per-modality encoders (an MLP, a graph encoder with sparse convolutions) and the
Deep-Graph-Infomax discriminator."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch_geometric.nn import GATConv, GCNConv

from ._sparse import SparseMatrix

Conv = Literal["gcn", "gat", "mlp"]


class SparseGCNConv(GCNConv):
    """``GCNConv(normalize=False)`` as one product with a pre-normalised sparse adjacency.

    Computes ``graph @ (x W) + b``; the parameters and their initialisation are those of
    torch-geometric's layer. ``graph`` is a :class:`SparseMatrix` (its cached transpose makes
    the backward pass cheap) or a sparse CSR tensor, rows = receiving spot.
    """

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__(in_dim, out_dim, normalize=False)

    def forward(self, x: torch.Tensor, graph: SparseMatrix | torch.Tensor) -> torch.Tensor:
        out = graph @ self.lin(x)
        return out if self.bias is None else out + self.bias


class MLPEncoder(nn.Module):
    """Two-layer perceptron; ignores the graph (accepted for a common API)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.ELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, x: torch.Tensor, graph: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x)


class GraphEncoder(nn.Module):
    """Two graph convolutions (GCN or single-head GAT) over a sparse graph.

    GCN takes a pre-normalised sparse adjacency (a :class:`SparseMatrix` or a CSR tensor, rows
    = receiving spot: one sparse matrix product per layer); GAT takes an ``edge_index`` with
    self loops.

    Each spot's embedding mixes its own features with those of its 2-hop neighbourhood, so a
    spot whose input is missing (its incoming edges are kept, its outgoing ones dropped by the
    caller) still gets an embedding from its neighbours.
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        conv: Literal["gcn", "gat"] = "gcn",
        dropout: float = 0.0,
    ):
        super().__init__()
        layer = {
            "gcn": SparseGCNConv,
            "gat": lambda i, o: GATConv(i, o, heads=1),
        }[conv]
        self.conv1 = layer(in_dim, hidden_dim)
        self.conv2 = layer(hidden_dim, out_dim)
        self.act = nn.ELU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, graph: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.act(self.conv1(x, graph)))
        return self.conv2(h, graph)


class BilinearDiscriminator(nn.Bilinear):
    """Deep-Graph-Infomax discriminator: the score ``z^T W s + b`` of an embedding ``z`` and a
    summary ``s``.

    The same parameters and initialisation as ``nn.Bilinear(dim, dim, 1)``, computed as
    ``((z @ W) * s).sum(1) + b``: O(n d) time and memory instead of the per-spot ``d x d``
    outer products of torch's bilinear, which took a third of a fusion training epoch.
    """

    def __init__(self, dim: int):
        super().__init__(dim, dim, 1)

    def forward(self, z: torch.Tensor, summary: torch.Tensor) -> torch.Tensor:
        return ((z @ self.weight[0]) * summary).sum(dim=1, keepdim=True) + self.bias


def make_encoder(conv: Conv, in_dim: int, hidden_dim: int, out_dim: int) -> nn.Module:
    """Encoder by name: ``"gcn"``, ``"gat"`` (graph) or ``"mlp"`` (no message passing)."""
    if conv == "mlp":
        return MLPEncoder(in_dim, hidden_dim, out_dim)
    return GraphEncoder(in_dim, hidden_dim, out_dim, conv=conv)
