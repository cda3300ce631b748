"""Per-tile quality: tissue fraction (HSV saturation, or darkness on grey images), sharpness
(variance of the Laplacian)."""

from __future__ import annotations

import numpy as np
from skimage.color import rgb2gray, rgb2hsv
from skimage.filters import laplace, threshold_multiotsu, threshold_otsu

MIN_SATURATION_THRESHOLD = 0.05  # glass and faint background stay below this


def tissue_signal(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel tissue signal of ``(..., 3)`` RGB: HSV saturation (stain colour against white
    glass), or darkness ``1 - value`` when the pixels carry no colour at all (a grey image)."""
    hsv = rgb2hsv(rgb.reshape(-1, 1, 3))
    signal = hsv[..., 1] if hsv[..., 1].any() else 1.0 - hsv[..., 2]
    return signal.reshape(rgb.shape[:-1])


def saturation_threshold(rgb: np.ndarray) -> float:
    """Threshold of the tissue signal separating tissue from glass in ``(..., 3)`` RGB.

    Three-class Otsu (glass, eosin-rich, hematoxylin-rich pixels), lower boundary: two-class
    Otsu puts its cut between the two stains when glass is a small part of the image, and
    pale eosin-only tissue then counts as glass. Two-class Otsu when the signal has fewer
    than three distinct values.
    """
    signal = tissue_signal(rgb).ravel()
    if np.ptp(signal) == 0:
        return MIN_SATURATION_THRESHOLD
    try:
        threshold = threshold_multiotsu(signal, classes=3)[0]
    except ValueError:  # fewer than three distinct values
        threshold = threshold_otsu(signal)
    return max(float(threshold), MIN_SATURATION_THRESHOLD)


def tissue_mask(rgb: np.ndarray, threshold: float) -> np.ndarray:
    """Pixels of ``(..., 3)`` RGB whose tissue signal exceeds ``threshold``."""
    return tissue_signal(rgb) > threshold


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
