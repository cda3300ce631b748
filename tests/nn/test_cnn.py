"""The image encoders map (B, 3, H, W) tiles to (B, D) features."""

from __future__ import annotations

import torch

from spatialfuse.nn._cnn import EFFICIENTNET_DIM, EfficientNetLite0Features, SmallCNN


def test_small_cnn_shape_and_gradients():
    model = SmallCNN(out_dim=12, width=4)
    x = torch.rand(5, 3, 32, 32)
    out = model(x)
    assert out.shape == (5, 12)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_efficientnet_is_pretrained_and_pooled():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    a, b = EfficientNetLite0Features(image_size=32).eval(), EfficientNetLite0Features(32).eval()
    with torch.no_grad():
        fa, fb = a(x), b(x)
    assert fa.shape == (2, EFFICIENTNET_DIM)
    torch.testing.assert_close(fa, fb)  # same loaded weights; a random init would differ
    assert not torch.allclose(fa[0], fa[1])
