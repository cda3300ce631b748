"""Per-tile quality: tissue fraction (HSV saturation), sharpness (variance of the Laplacian)."""

from __future__ import annotations

import numpy as np
from skimage.color import rgb2gray, rgb2hsv
from skimage.filters import laplace, threshold_otsu

MIN_SATURATION_THRESHOLD = 0.05  # glass and faint background stay below this


def saturation_threshold(rgb: np.ndarray) -> float:
    """Otsu threshold of HSV saturation separating tissue from glass in ``(..., 3)`` RGB."""
    saturation = rgb2hsv(rgb.reshape(-1, 1, 3))[..., 1].ravel()
    if np.ptp(saturation) == 0:
        return MIN_SATURATION_THRESHOLD
    return max(float(threshold_otsu(saturation)), MIN_SATURATION_THRESHOLD)


def tissue_mask(rgb: np.ndarray, threshold: float) -> np.ndarray:
    """Pixels of ``(..., 3)`` RGB whose HSV saturation exceeds ``threshold``."""
    return rgb2hsv(rgb.reshape(-1, 1, 3))[..., 1].reshape(rgb.shape[:-1]) > threshold


def tissue_fraction(tiles: np.ndarray, threshold: float) -> np.ndarray:
    """Fraction of tissue pixels in each ``(B, H, W, 3)`` tile."""
    return tissue_mask(tiles, threshold).mean(axis=(1, 2))


def sharpness(tiles: np.ndarray) -> np.ndarray:
    """Variance of the Laplacian of the grey ``(B, H, W, 3)`` tiles (low = blurred or blank)."""
    grey = rgb2gray(tiles, channel_axis=-1)
    return np.array([laplace(tile).var() for tile in grey])


def usable(
    fraction: np.ndarray,
    sharp: np.ndarray,
    *,
    min_tissue_fraction: float,
    min_relative_sharpness: float,
) -> np.ndarray:
    """Tiles with enough tissue and a sharpness of at least ``min_relative_sharpness`` x the
    median sharpness of the tissue tiles (the scale of the Laplacian depends on the image)."""
    has_tissue = fraction >= min_tissue_fraction
    reference = np.median(sharp[has_tissue]) if has_tissue.any() else 0.0
    return has_tissue & (sharp >= min_relative_sharpness * reference) & (sharp > 0)
