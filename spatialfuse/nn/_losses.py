"""Loss functions shared by the image and fusion models."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE between paired rows of ``a`` and ``b`` (row i of each is a positive pair).

    Every other row of the batch is a negative. With two augmented views of the same tiles this
    is SimCLR's NT-Xent; with gene and image embeddings of the same spots it aligns modalities.
    """
    a = F.normalize(a, dim=1)
    b = F.normalize(b, dim=1)
    logits = a @ b.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def heteroscedastic_nll(squared_error: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Gaussian negative log-likelihood of per-spot squared errors under a predicted log-variance.

    ``0.5 * (exp(-s) * e + s)`` averaged over spots: minimised by ``s = log e``, so the head
    learns how large the error at each spot is expected to be (Kendall & Gal 2017).
    """
    return 0.5 * (torch.exp(-log_var) * squared_error + log_var).mean()


def graph_infomax(
    discriminator: torch.nn.Module,
    z: torch.Tensor,
    z_corrupt: torch.Tensor,
    summary: torch.Tensor,
) -> torch.Tensor:
    """Deep-Graph-Infomax loss with local summaries (as in GraphST).

    ``discriminator(z, summary)`` scores whether an embedding belongs with the summary of its
    spatial neighbourhood; real embeddings are positives, those computed from row-shuffled
    (corrupted) features are negatives.
    """
    real = discriminator(z, summary)
    fake = discriminator(z_corrupt, summary)
    return F.binary_cross_entropy_with_logits(
        real, torch.ones_like(real)
    ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
