"""Per-modality encoders: an MLP and a graph encoder with sparse torch-geometric convolutions."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch_geometric.nn import GATConv, GCNConv

Conv = Literal["gcn", "gat", "mlp"]


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

    GCN takes a pre-normalised sparse adjacency (CSR, rows = receiving spot: one sparse
    matrix product per layer); GAT takes an ``edge_index`` with self loops.

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
            "gcn": lambda i, o: GCNConv(i, o, normalize=False),
            "gat": lambda i, o: GATConv(i, o, heads=1),
        }[conv]
        self.conv1 = layer(in_dim, hidden_dim)
        self.conv2 = layer(hidden_dim, out_dim)
        self.act = nn.ELU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, graph: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.act(self.conv1(x, graph)))
        return self.conv2(h, graph)


def make_encoder(conv: Conv, in_dim: int, hidden_dim: int, out_dim: int) -> nn.Module:
    """Encoder by name: ``"gcn"``, ``"gat"`` (graph) or ``"mlp"`` (no message passing)."""
    if conv == "mlp":
        return MLPEncoder(in_dim, hidden_dim, out_dim)
    return GraphEncoder(in_dim, hidden_dim, out_dim, conv=conv)
