"""Full-batch training of :class:`FusionModel` with early stopping on the loss plateau."""

from __future__ import annotations

import math

import torch

from .._logging import progress
from .._settings import seed_everything
from ._model import FusionInputs, FusionModel, LossWeights


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
) -> dict[str, list[float]]:
    """Train ``model`` on ``data`` (full batch, Adam) and return the loss history.

    Stops early when the total loss has not improved by more than ``tol`` (relative) on its
    best value for ``patience`` epochs. Deterministic for a given ``seed``.

    Returns
    -------
    ``{"total": [...], "reconstruction": [...], "contrastive": [...], ...}`` per epoch.
    """
    seed = seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history: dict[str, list[float]] = {}
    best, since_best = float("inf"), 0
    model.train()
    for _ in progress(range(epochs), desc=f"fuse ({model.method})", total=epochs):
        optimizer.zero_grad()
        terms = model.losses(data, weights, generator, contrastive_batch)
        terms["total"].backward()
        optimizer.step()
        for name, value in terms.items():
            history.setdefault(name, []).append(float(value.detach()))
        loss = history["total"][-1]
        if not math.isfinite(best) or best - loss > tol * abs(best):
            best, since_best = loss, 0
        else:
            since_best += 1
            if since_best >= patience:
                break
    model.eval()
    return history


@torch.no_grad()
def embed(model: FusionModel, data: FusionInputs) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused embedding ``(n, n_latent)`` and modality weights ``(n, 2)`` of a trained model."""
    model.eval()
    out, _, _ = model.embed(data)
    return out.z, out.weights
