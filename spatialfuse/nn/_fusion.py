"""Cross-modal fusion layers: sparse neighbourhood cross-attention, low-rank tensor, gated.

Every layer maps a gene embedding ``h_g`` and an image embedding ``h_i`` (both
``(n_spots, dim)``) to a :class:`FusionOutput`. ``usable`` flags spots whose tile can be used;
the others get image weight 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.utils import softmax as edge_softmax


@dataclass
class FusionOutput:
    """Fused embedding, per-spot modality weights ``(n, 2)`` (gene, image), and for the gated
    layer the predicted log-variance of each modality ``(n, 2)`` and, for the spots with a
    usable tile, the image embedding predicted from expression and the real one (the
    imputation loss compares them)."""

    z: torch.Tensor
    weights: torch.Tensor
    log_var: torch.Tensor | None = None
    imputation: tuple[torch.Tensor, torch.Tensor] | None = None


def availability_weights(usable: torch.Tensor) -> torch.Tensor:
    """Equal weights over the modalities a spot has: (0.5, 0.5), or (1, 0) without a tile."""
    image = 0.5 * usable.float()
    return torch.stack([1.0 - image, image], dim=1)


class ImageImputer(nn.Module):
    """Stands in for the image stream of spots without a usable tile.

    Leaving such a spot with its gene stream alone would set it apart from the spots with a
    tile (a damaged region would form clusters of its own). It gets the image stream its
    expression predicts, ``P(gene)``: a regression head trained on the spots with a tile
    (the ``imputation`` pair of :class:`FusionOutput`), without gradients into the streams.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.predict = nn.Sequential(nn.Linear(dim, dim), nn.ELU(), nn.Linear(dim, dim))

    def forward(
        self, gene: torch.Tensor, image: torch.Tensor, usable: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The image stream with predictions where ``usable`` is False, and the
        (predicted, real) pair of the spots with a tile."""
        predicted = self.predict(gene.detach())
        filled = torch.where(usable[:, None], image, predicted.detach())
        return filled, (predicted[usable], image[usable].detach())


class SparseCrossAttention(nn.Module):
    """Scaled dot-product attention of each spot over itself and its graph neighbours.

    Queries come from one modality, keys and values from the other; the softmax runs over the
    incoming edges of each spot (``edge_index`` must include self loops), so cost is linear in
    the number of edges. Key spots with ``key_usable`` False are left out.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.scale = 1.0 / math.sqrt(dim)

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        edge_index: torch.Tensor,
        key_usable: torch.Tensor,
    ) -> torch.Tensor:
        src, dst = edge_index[:, key_usable[edge_index[0]]]
        score = (self.query(queries)[dst] * self.key(keys)[src]).sum(-1) * self.scale
        alpha = edge_softmax(score, dst, num_nodes=queries.shape[0])
        out = torch.zeros_like(queries)
        return out.index_add(0, dst, alpha[:, None] * self.value(keys)[src])


class CrossAttentionFusion(nn.Module):
    """Each modality attends to the other over the spot and its neighbours; residual + LayerNorm.

    ``z`` averages the two attended streams (the gene stream only for spots without a tile,
    which has already attended to the images of their neighbours) and projects it with a
    linear layer.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.gene_from_image = SparseCrossAttention(dim)
        self.image_from_gene = SparseCrossAttention(dim)
        self.norm_gene = nn.LayerNorm(dim)
        self.norm_image = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, dim)

    def forward(
        self, h_g: torch.Tensor, h_i: torch.Tensor, edge_index: torch.Tensor, usable: torch.Tensor
    ) -> FusionOutput:
        every = torch.ones_like(usable)
        gene = self.norm_gene(h_g + self.gene_from_image(h_g, h_i, edge_index, usable))
        image = self.norm_image(h_i + self.image_from_gene(h_i, h_g, edge_index, every))
        weights = availability_weights(usable)
        z = self.out(weights[:, :1] * gene + weights[:, 1:] * image)
        return FusionOutput(z, weights)


class TensorFusion(nn.Module):
    """Low-rank multimodal fusion (Liu et al. 2018, LMF).

    The bilinear interaction ``W · ([h_g; 1] ⊗ [h_i; 1])`` is computed through ``rank``
    modality-specific factors, ``sum_r (A_r [h_g; 1]) * (B_r [h_i; 1])``, never forming the
    outer-product tensor. The constant 1 keeps the unimodal terms. A spot without a tile
    takes the image embedding its gene embedding predicts (:class:`ImageImputer`).
    """

    def __init__(self, dim: int, rank: int = 4):
        super().__init__()
        self.gene_factors = nn.Parameter(torch.randn(rank, dim + 1, dim) / math.sqrt(dim + 1))
        self.image_factors = nn.Parameter(torch.randn(rank, dim + 1, dim) / math.sqrt(dim + 1))
        self.rank_weights = nn.Parameter(torch.full((rank,), 1.0 / rank))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.imputer = ImageImputer(dim)

    def forward(
        self, h_g: torch.Tensor, h_i: torch.Tensor, edge_index: torch.Tensor, usable: torch.Tensor
    ) -> FusionOutput:
        h_i, imputation = self.imputer(h_g, h_i, usable)
        ones = h_g.new_ones(h_g.shape[0], 1)
        gene = torch.cat([h_g, ones], dim=1)
        image = torch.cat([h_i, ones], dim=1)
        gene_r = torch.einsum("nd,rdk->rnk", gene, self.gene_factors)
        image_r = torch.einsum("nd,rdk->rnk", image, self.image_factors)
        z = torch.einsum("r,rnk->nk", self.rank_weights, gene_r * image_r) + self.bias
        return FusionOutput(z, availability_weights(usable), imputation=imputation)


class GatedFusion(nn.Module):
    """Per-spot modality weights from predicted uncertainty.

    A heteroscedastic head per modality predicts a log-variance ``s_m`` from the modality's
    embedding (trained by the model with :func:`heteroscedastic_nll`); the weights are
    ``softmax(-s)``, i.e. proportional to the inverse predicted variance, with image weight 0
    for spots without a usable tile. Each embedding is mapped into the shared space and layer
    normalised without a learned scale, ``e_m = LN(W_m h_m)``, so both enter with the same
    norm and no map can scale a small weight back up; ``z = w_g e_g + w_i e_i``.

    A spot without a usable tile has no image evidence (image weight 0); it gets the image
    embedding its expression predicts, ``e_i = P(e_g)`` (:class:`ImageImputer`), mixed with
    the mean weights of the spots with a tile. The weights do
    not receive gradients of the other loss terms, so they only reflect the predicted
    uncertainty.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.log_var_gene = nn.Sequential(nn.Linear(dim, dim), nn.ELU(), nn.Linear(dim, 1))
        self.log_var_image = nn.Sequential(nn.Linear(dim, dim), nn.ELU(), nn.Linear(dim, 1))
        self.map_gene = nn.Linear(dim, dim)
        self.map_image = nn.Linear(dim, dim)
        self.imputer = ImageImputer(dim)

    def forward(
        self, h_g: torch.Tensor, h_i: torch.Tensor, edge_index: torch.Tensor, usable: torch.Tensor
    ) -> FusionOutput:
        log_var = torch.cat([self.log_var_gene(h_g), self.log_var_image(h_i)], dim=1)
        no_tile = torch.stack([torch.zeros_like(usable), ~usable], dim=1)
        weights = torch.softmax((-log_var.detach()).masked_fill(no_tile, float("-inf")), dim=1)
        e_g = F.layer_norm(self.map_gene(h_g), h_g.shape[1:])
        e_i = F.layer_norm(self.map_image(h_i), h_i.shape[1:])
        e_i_or_predicted, imputation = self.imputer(e_g, e_i, usable)
        mix = weights
        if usable.any():
            mix = torch.where(usable[:, None], weights, weights[usable].mean(dim=0))
        z = mix[:, :1] * e_g + mix[:, 1:] * e_i_or_predicted
        return FusionOutput(z, weights, log_var, imputation)


FUSION_LAYERS = {
    "cross_attention": CrossAttentionFusion,
    "tensor": TensorFusion,
    "gated": GatedFusion,
}
