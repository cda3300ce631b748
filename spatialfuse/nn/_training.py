"""Training of :class:`FusionModel` with early stopping on the loss plateau: full batch, or
mini-batches of spatially compact groups of spots for large slides.

Mini-batches are induced subgraphs of compact square-ish patches of the slide (ClusterGCN-style
with spatial clusters): torch-geometric's ``NeighborLoader`` would need ``pyg-lib`` or
``torch-sparse``, which have no PyPI wheels for this torch, and a patch of thousands of
spots loses only the few edges on its border.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch_geometric.utils import subgraph

from .._logging import progress
from .._settings import seed_everything
from ._model import FusionInputs, FusionModel, LossWeights


def spatial_batches(coords: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Cut the spots into compact, roughly square patches of about ``batch_size`` spots.

    The spots are sorted by x into vertical strips (as many as fit the slide's aspect ratio),
    and each strip is sorted by y and cut into equal pieces.

    Parameters
    ----------
    coords
        ``(n_spots, 2)`` spot positions (x, y).
    batch_size
        Target number of spots per patch.

    Returns
    -------
    Sorted spot indices of each patch; every spot is in exactly one.
    """
    n = coords.shape[0]
    n_batches = max(1, round(n / batch_size))
    extent = (coords.max(dim=0).values - coords.min(dim=0).values).clamp(min=1e-9)
    aspect = float(extent[0] / extent[1])
    n_strips = min(n_batches, max(1, round(math.sqrt(n_batches * aspect))))
    batches = []
    for strip in torch.tensor_split(torch.argsort(coords[:, 0], stable=True), n_strips):
        strip = strip[torch.argsort(coords[strip, 1], stable=True)]
        pieces = torch.tensor_split(strip, max(1, round(strip.numel() / batch_size)))
        batches += [torch.sort(piece).values for piece in pieces if piece.numel()]
    return batches


def induced_subgraph(data: FusionInputs, nodes: torch.Tensor) -> FusionInputs:
    """Inputs restricted to the spots ``nodes`` and the edges between them."""
    n = data.x_gene.shape[0]
    edge_index, _ = subgraph(nodes, data.edge_index, relabel_nodes=True, num_nodes=n)
    return FusionInputs.from_graph(
        data.x_gene[nodes], data.x_image[nodes], edge_index, data.usable[nodes]
    )


def train(
    model: FusionModel,
    data: FusionInputs,
    *,
    weights: LossWeights,
    epochs: int = 400,
    lr: float = 5e-3,
    patience: int = 30,
    tol: float = 1e-3,
    seed: int | None = None,
    contrastive_batch: int = 512,
    batches: Sequence[torch.Tensor] | None = None,
) -> dict[str, list[float]]:
    """Train ``model`` on ``data`` (Adam) and return the loss history.

    Full batch: each epoch is one step on the whole graph; training stops early when the total
    loss has not improved by more than ``tol`` (relative) on its best value for ``patience``
    epochs. With ``batches``, each epoch is one step on the induced subgraph of one batch,
    taking the batches in a new random order on every pass over them; early stopping then
    compares the mean loss of whole passes, with a patience of ``patience`` epochs rounded up
    to whole passes. Either way ``epochs`` bounds the number of optimizer steps, so a
    mini-batch run costs about ``epochs x batch size`` spot-updates instead of
    ``epochs x n_spots``. Deterministic for a given ``seed``.

    Parameters
    ----------
    batches
        Spot indices of each mini-batch (e.g. :func:`spatial_batches`); ``None`` trains on
        the full graph.

    Returns
    -------
    ``{"total": [...], "reconstruction": [...], "contrastive": [...], ...}`` per epoch (per
    batch step with ``batches``).
    """
    seed = seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    parts = [data] if batches is None else [induced_subgraph(data, b) for b in batches]
    pass_patience = math.ceil(patience / len(parts))
    history: dict[str, list[float]] = {}
    best, since_best = float("inf"), 0
    order: list[int] = []
    model.train()
    for _ in progress(range(epochs), desc=f"fuse ({model.method})", total=epochs):
        if not order:
            order = torch.randperm(len(parts), generator=generator).tolist() if batches else [0]
        optimizer.zero_grad()
        terms = model.losses(parts[order.pop()], weights, generator, contrastive_batch)
        terms["total"].backward()
        optimizer.step()
        for name, value in terms.items():
            history.setdefault(name, []).append(float(value.detach()))
        if order:  # the pass over the batches is not finished
            continue
        loss = sum(history["total"][-len(parts) :]) / len(parts)
        if not math.isfinite(best) or best - loss > tol * abs(best):
            best, since_best = loss, 0
        else:
            since_best += 1
            if since_best >= pass_patience:
                break
    model.eval()
    return history


@torch.no_grad()
def embed(model: FusionModel, data: FusionInputs) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused embedding ``(n, n_latent)`` and modality weights ``(n, 2)`` of a trained model."""
    model.eval()
    out, _, _ = model.embed(data)
    return out.z, out.weights
