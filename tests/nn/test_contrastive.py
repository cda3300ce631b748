"""SimCLR pieces: stain-space conversions, augmentations, training."""

from __future__ import annotations

import numpy as np
import torch
from skimage.color import rgb2hed

from spatialfuse.nn._cnn import SmallCNN
from spatialfuse.nn._contrastive import (
    ProjectionHead,
    augment_tiles,
    fit_simclr,
    hed_to_rgb,
    rgb_to_hed,
)


def test_hed_matches_skimage_and_inverts():
    rgb = torch.rand(2, 3, 8, 8) * 0.9 + 0.05
    hed = rgb_to_hed(rgb)
    expected = rgb2hed(rgb.permute(0, 2, 3, 1).numpy().astype(np.float64))
    np.testing.assert_allclose(hed.clamp(min=0).permute(0, 2, 3, 1).numpy(), expected, atol=1e-5)
    torch.testing.assert_close(hed_to_rgb(hed), rgb, atol=1e-4, rtol=1e-4)


def test_augmentations_are_reproducible_valid_and_random():
    x = torch.rand(6, 3, 16, 16)
    a = augment_tiles(x, torch.Generator().manual_seed(1))
    b = augment_tiles(x, torch.Generator().manual_seed(1))
    c = augment_tiles(x, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_projection_head_shape():
    assert ProjectionHead(10, 8, 4)(torch.rand(3, 10)).shape == (3, 4)


def test_simclr_training_lowers_the_loss():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    red = torch.tensor([0.9, 0.3, 0.4]).view(1, 3, 1, 1) + 0.05 * torch.rand(16, 3, 16, 16)
    blue = torch.tensor([0.3, 0.3, 0.8]).view(1, 3, 1, 1) + 0.05 * torch.rand(16, 3, 16, 16)
    tiles = torch.cat([red, blue]).clamp(0, 1)
    model = SmallCNN(out_dim=8, width=4)
    losses = fit_simclr(model, tiles, out_dim=8, n_epochs=8, batch_size=32, generator=generator)
    assert len(losses) == 8 and losses[-1] < losses[0]
    assert not model.training
