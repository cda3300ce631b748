"""The fusion model: modality encoders, a fusion layer, decoders and the loss heads.

Methods share one API: ``"gene"`` and ``"image"`` (one modality), ``"early"`` (inputs
concatenated, one encoder), and the intermediate fusions ``"cross_attention"``, ``"tensor"``
and ``"gated"`` (one graph encoder per modality, fused embeddings). Late fusion combines two
single-modality models and lives in :func:`spatialfuse.tl.fuse`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import add_self_loops, remove_self_loops, to_torch_csr_tensor

from ._encoders import BilinearDiscriminator, Conv, make_encoder
from ._fusion import FUSION_LAYERS, FusionOutput, availability_weights
from ._losses import graph_infomax, heteroscedastic_nll, info_nce
from ._sparse import SparseMatrix

SINGLE = ("gene", "image")
METHODS = ("gene", "image", "early", "cross_attention", "tensor", "gated")


@dataclass
class FusionInputs:
    """Full-batch inputs: standardised features, the graph, and which tiles are usable.

    Build it with :meth:`from_graph`. ``edge_index`` holds every edge plus self loops;
    ``image_edge_index`` only edges leaving spots with a usable tile, so no image message comes
    from a spot without one. ``adjacency`` / ``image_adjacency`` are the same graphs as
    GCN-normalised sparse matrices (:class:`SparseMatrix`, rows = receiving spot),
    ``mean_adjacency`` averages over a spot's neighbours.
    """

    x_gene: torch.Tensor
    x_image: torch.Tensor
    usable: torch.Tensor
    edge_index: torch.Tensor
    image_edge_index: torch.Tensor
    adjacency: SparseMatrix
    image_adjacency: SparseMatrix
    mean_adjacency: SparseMatrix

    @classmethod
    def from_graph(
        cls,
        x_gene: torch.Tensor,
        x_image: torch.Tensor,
        edge_index: torch.Tensor,
        usable: torch.Tensor,
    ) -> FusionInputs:
        """Inputs from features and a (symmetric) ``edge_index`` of the spatial graph."""
        n = x_gene.shape[0]
        edge_index, _ = add_self_loops(remove_self_loops(edge_index)[0], num_nodes=n)
        image_edge_index = edge_index[:, usable[edge_index[0]]]
        ones = torch.ones(edge_index.shape[1])
        degree = torch.zeros(n).index_add(0, edge_index[1], ones)
        return cls(
            x_gene=x_gene,
            x_image=x_image,
            usable=usable,
            edge_index=edge_index,
            image_edge_index=image_edge_index,
            adjacency=SparseMatrix(_gcn_adjacency(edge_index, n)),
            image_adjacency=SparseMatrix(_gcn_adjacency(image_edge_index, n)),
            mean_adjacency=SparseMatrix(
                to_torch_csr_tensor(edge_index.flip(0), ones / degree[edge_index[1]], size=(n, n))
            ),
        )

    def corrupted(self, generator: torch.Generator) -> FusionInputs:
        """Same graph with the features of the spots shuffled (DGI negatives)."""
        order = torch.randperm(self.x_gene.shape[0], generator=generator)
        return replace(self, x_gene=self.x_gene[order], x_image=self.x_image[order])


def _gcn_adjacency(edge_index: torch.Tensor, n: int) -> torch.Tensor:
    """Symmetrically normalised adjacency ``D^-1/2 A D^-1/2`` as a CSR matrix (rows = target)."""
    edge_index, weight = gcn_norm(edge_index, None, n, add_self_loops=False)
    return to_torch_csr_tensor(edge_index.flip(0), weight, size=(n, n))


@dataclass
class LossWeights:
    """Weights of the training terms and the InfoNCE temperature."""

    reconstruction: float = 1.0
    contrastive: float = 0.1
    spatial: float = 1.0
    temperature: float = 0.5


class FusionModel(nn.Module):
    """Encoders + fusion + decoders, trained end to end.

    Parameters
    ----------
    gene_dim, image_dim
        Input feature sizes.
    method
        One of :data:`METHODS`.
    n_latent
        Size of the embeddings.
    hidden_dim
        Hidden size of the encoders.
    conv
        Encoder type: ``"gcn"``, ``"gat"`` or ``"mlp"``.
    rank
        Rank of the ``"tensor"`` fusion.
    """

    def __init__(
        self,
        gene_dim: int,
        image_dim: int,
        *,
        method: str = "gated",
        n_latent: int = 32,
        hidden_dim: int = 64,
        conv: Conv = "gcn",
        rank: int = 4,
    ):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"method={method!r}; choose one of {METHODS}")
        self.method = method
        self.uses_gene = method != "image"
        self.uses_image = method != "gene"
        if method == "early":
            self.encoder = make_encoder(conv, gene_dim + image_dim, hidden_dim, n_latent)
        if method in FUSION_LAYERS or method == "gene":
            self.gene_encoder = make_encoder(conv, gene_dim, hidden_dim, n_latent)
        if method in FUSION_LAYERS or method == "image":
            self.image_encoder = make_encoder(conv, image_dim, hidden_dim, n_latent)
        if method in FUSION_LAYERS:
            kwargs = {"rank": rank} if method == "tensor" else {}
            self.fusion = FUSION_LAYERS[method](n_latent, **kwargs)
            self.project_gene = nn.Linear(n_latent, n_latent)
            self.project_image = nn.Linear(n_latent, n_latent)
        if method == "gated":  # heteroscedastic targets: each modality predicts both inputs
            self.cross_decoders = nn.ModuleList(
                [nn.Linear(n_latent, gene_dim + image_dim) for _ in range(2)]
            )
        if self.uses_gene:
            self.gene_decoder = nn.Linear(n_latent, gene_dim)
        if self.uses_image:
            self.image_decoder = nn.Linear(n_latent, image_dim)
        self.discriminator = BilinearDiscriminator(n_latent)
        if method in FUSION_LAYERS:  # one per modality embedding, see losses()
            self.modality_discriminators = nn.ModuleList(
                [BilinearDiscriminator(n_latent) for _ in range(2)]
            )
        self.sparse_graph = conv != "gat"  # GCN (and MLP) take the CSR adjacency

    def _graphs(self, data: FusionInputs) -> tuple[Any, Any]:
        if self.sparse_graph:
            return data.adjacency, data.image_adjacency
        return data.edge_index, data.image_edge_index

    def embed(
        self, data: FusionInputs
    ) -> tuple[FusionOutput, torch.Tensor | None, torch.Tensor | None]:
        """Fused output and the per-modality embeddings (``None`` when not computed)."""
        x_image = data.x_image * data.usable[:, None].float()
        graph, image_graph = self._graphs(data)
        if self.method == "early":
            z = self.encoder(torch.cat([data.x_gene, x_image], dim=1), graph)
            return FusionOutput(z, availability_weights(data.usable)), None, None
        h_g = self.gene_encoder(data.x_gene, graph) if self.uses_gene else None
        h_i = self.image_encoder(x_image, image_graph) if self.uses_image else None
        if self.method == "gene":
            assert h_g is not None
            return FusionOutput(h_g, _one_hot_weights(h_g, 0)), h_g, None
        if self.method == "image":
            assert h_i is not None
            return FusionOutput(h_i, _one_hot_weights(h_i, 1)), None, h_i
        return self.fusion(h_g, h_i, data.edge_index, data.usable), h_g, h_i

    def losses(
        self,
        data: FusionInputs,
        weights: LossWeights,
        generator: torch.Generator,
        contrastive_batch: int = 512,
    ) -> dict[str, torch.Tensor]:
        """Every training term (unweighted) and ``"total"``, their weighted sum."""
        out, h_g, h_i = self.embed(data)
        usable = data.usable
        terms: dict[str, torch.Tensor] = {}
        reconstruction = out.z.new_zeros(())
        if self.uses_gene:
            reconstruction = reconstruction + _mse(self.gene_decoder(out.z), data.x_gene)
        if self.uses_image and usable.any():
            recon_image = self.image_decoder(out.z[usable])
            reconstruction = reconstruction + _mse(recon_image, data.x_image[usable])
        terms["reconstruction"] = reconstruction
        if out.log_var is not None and h_g is not None and h_i is not None:
            terms["uncertainty"] = self._uncertainty(data, h_g, h_i, out.log_var)
        if out.imputation is not None and usable.any():
            terms["imputation"] = _mse(*out.imputation)
        if h_g is not None and h_i is not None and usable.sum() > 1:
            spots = torch.nonzero(usable).ravel()
            if spots.numel() > contrastive_batch:
                pick = torch.randperm(spots.numel(), generator=generator)[:contrastive_batch]
                spots = spots[pick]
            terms["contrastive"] = info_nce(
                self.project_gene(h_g[spots]),
                self.project_image(h_i[spots]),
                weights.temperature,
            )
        corrupt, h_g_corrupt, h_i_corrupt = self.embed(data.corrupted(generator))
        terms["spatial"] = _infomax(self.discriminator, data, out.z, corrupt.z)
        if self.method in FUSION_LAYERS:
            for discriminator, h, h_corrupt in zip(
                self.modality_discriminators, (h_g, h_i), (h_g_corrupt, h_i_corrupt)
            ):
                if h is not None and h_corrupt is not None:
                    terms["spatial"] = terms["spatial"] + _infomax(
                        discriminator, data, h, h_corrupt
                    )
        terms["total"] = (
            weights.reconstruction * (reconstruction + terms.get("uncertainty", 0.0))
            + weights.contrastive * terms.get("contrastive", 0.0)
            + weights.spatial * terms["spatial"]
            + terms.get("imputation", 0.0)
        )
        return terms

    def _uncertainty(
        self,
        data: FusionInputs,
        h_g: torch.Tensor,
        h_i: torch.Tensor,
        log_var: torch.Tensor,
    ) -> torch.Tensor:
        """Heteroscedastic loss: each modality predicts both inputs of the spot; its head
        predicts the log of that per-spot error. A modality that says little about a spot
        (a blank or blurred tile, expression blind to a texture change) has a large error."""
        usable = data.usable
        target = torch.cat([data.x_gene, data.x_image], dim=1)[usable]
        loss = log_var.new_zeros(())
        for column, (decoder, h) in enumerate(zip(self.cross_decoders, (h_g, h_i))):
            error = ((decoder(h[usable]) - target) ** 2).mean(dim=1)
            loss = (
                loss + error.mean() + heteroscedastic_nll(error.detach(), log_var[usable, column])
            )
        return loss


def _infomax(
    discriminator: nn.Module, data: FusionInputs, z: torch.Tensor, z_corrupt: torch.Tensor
) -> torch.Tensor:
    """Graph-infomax loss of ``z`` against the summaries of its spatial neighbourhoods."""
    summary = torch.sigmoid(data.mean_adjacency @ z)
    return graph_infomax(discriminator, z, z_corrupt, summary)


def _mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((prediction - target) ** 2).mean()


def _one_hot_weights(h: torch.Tensor, column: int) -> torch.Tensor:
    weights = h.new_zeros(h.shape[0], 2)
    weights[:, column] = 1.0
    return weights
