"""SimCLR on histology tiles: augmentations as torch ops, a projection head, a training loop.

The loss is :func:`spatialfuse.nn._losses.info_nce` (NT-Xent on two views of the same tiles).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from skimage.color import hed_from_rgb, rgb_from_hed
from torch import nn

from ._losses import info_nce

_LOG_MIN = math.log(1e-6)  # the optical-density floor skimage.color.rgb2hed uses


class ProjectionHead(nn.Module):
    """Two-layer MLP mapping encoder features to the space the contrastive loss compares."""

    def __init__(self, in_dim: int, hidden_dim: int = 128, out_dim: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project ``(B, in_dim)`` features to ``(B, out_dim)``."""
        return self.net(x)


def rgb_to_hed(x: torch.Tensor) -> torch.Tensor:
    """Haematoxylin-eosin-DAB stain densities of ``(B, 3, H, W)`` RGB in ``[0, 1]``.

    As :func:`skimage.color.rgb2hed` but not clipped at 0, so :func:`hed_to_rgb` inverts it.
    """
    od = torch.log(x.clamp(min=1e-6)) / _LOG_MIN
    return torch.einsum("bchw,cd->bdhw", od, x.new_tensor(hed_from_rgb))


def hed_to_rgb(hed: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hed`."""
    log_rgb = torch.einsum("bchw,cd->bdhw", hed * _LOG_MIN, hed.new_tensor(rgb_from_hed))
    return torch.exp(log_rgb).clamp(0, 1)


def augment_tiles(
    x: torch.Tensor,
    generator: torch.Generator,
    *,
    min_scale: float = 0.6,
    stain_jitter: float = 0.05,
    max_blur_sigma: float = 1.0,
) -> torch.Tensor:
    """One random view of each tile, with augmentations that keep histology plausible.

    Flips and 90-degree rotations (tissue has no orientation), a random crop of
    ``min_scale``-1 of the side, stain jitter in HED space (each stain scaled and shifted by up
    to ``stain_jitter``) and a Gaussian blur (one random sigma up to ``max_blur_sigma`` px per
    batch).

    Parameters
    ----------
    x
        ``(B, 3, H, W)`` RGB in ``[0, 1]``.
    generator
        Source of randomness, so views are reproducible.
    """
    b = x.shape[0]

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, *shape, generator=generator)

    angle = torch.randint(0, 4, (b,), generator=generator) * (math.pi / 2)
    flip = torch.randint(0, 2, (b,), generator=generator) * 2.0 - 1.0
    scale = uniform(min_scale, 1.0)
    shift = (1 - scale)[:, None] * uniform(-1.0, 1.0, 2)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, shift[:, 0]], 1),
            torch.stack([sin * flip, cos, shift[:, 1]], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    hed = rgb_to_hed(x)
    alpha = uniform(1 - stain_jitter, 1 + stain_jitter, 3, 1, 1)
    beta = uniform(-stain_jitter, stain_jitter, 3, 1, 1)
    x = hed_to_rgb(hed * alpha + beta)

    sigma = float(uniform(0.0, max_blur_sigma, 1)[0]) if b else 0.0
    return _gaussian_blur(x, sigma) if sigma > 0.1 else x


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(2 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = (kernel / kernel.sum()).repeat(x.shape[1], 1, 1, 1)
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(-1, 1, 1, 2 * radius + 1), groups=x.shape[1])
    return F.conv2d(x, kernel.view(-1, 1, 2 * radius + 1, 1), groups=x.shape[1])


def fit_simclr(
    encoder: nn.Module,
    tiles: torch.Tensor,
    *,
    out_dim: int,
    n_epochs: int = 10,
    batch_size: int = 256,
    lr: float = 1e-3,
    temperature: float = 0.2,
    generator: torch.Generator,
    progress=iter,
) -> list[float]:
    """Train ``encoder`` in place with SimCLR on ``tiles``; return the mean loss of each epoch.

    Parameters
    ----------
    encoder
        Maps ``(B, 3, H, W)`` to ``(B, out_dim)``.
    tiles
        ``(N, 3, H, W)`` RGB in ``[0, 1]``.
    out_dim
        Output width of ``encoder``.
    progress
        Wraps the epoch iterator (e.g. a progress bar).
    """
    head = ProjectionHead(out_dim)
    params = list(encoder.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(params, lr=lr, weight_decay=1e-5)
    encoder.train()
    head.train()
    losses = []
    n = tiles.shape[0]
    for _ in progress(range(n_epochs)):
        order = torch.randperm(n, generator=generator)
        total, count = 0.0, 0
        for start in range(0, n, batch_size):
            batch = tiles[order[start : start + batch_size]]
            if batch.shape[0] < 2:
                continue
            views = torch.cat([augment_tiles(batch, generator), augment_tiles(batch, generator)])
            z = head(encoder(views))
            loss = info_nce(z[: batch.shape[0]], z[batch.shape[0] :], temperature)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * batch.shape[0]
            count += batch.shape[0]
        losses.append(total / max(count, 1))
    encoder.eval()
    return losses
