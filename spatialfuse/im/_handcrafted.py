"""Cheap colour and texture statistics of tiles (scikit-image), an encoder without a network."""

from __future__ import annotations

import numpy as np
from skimage.color import rgb2gray, rgb2hed
from skimage.feature import graycomatrix, graycoprops, local_binary_pattern

GLCM_LEVELS = 32
GLCM_DISTANCES = (1, 2)
GLCM_ANGLES = (0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
GLCM_PROPS = ("contrast", "dissimilarity", "homogeneity", "energy", "correlation", "ASM")
LBP_POINTS, LBP_RADIUS = 8, 1
N_FEATURES = 12 + len(GLCM_PROPS) * len(GLCM_DISTANCES) + LBP_POINTS + 2


def handcrafted_features(tiles: np.ndarray) -> np.ndarray:
    """Colour and texture features of ``(B, H, W, 3)`` RGB tiles in ``[0, 1]``, ``(B, D)``.

    RGB and HED (stain) channel means and stds (12), GLCM contrast, dissimilarity, homogeneity,
    energy, correlation and ASM at distances 1 and 2 px averaged over 4 angles (12), and the
    uniform LBP histogram (P=8, R=1; 10 bins). The tiles' co-occurrence matrices are stacked
    along the angle axis so that :func:`skimage.feature.graycoprops` (which normalises every
    distance and angle on its own) runs once per property for the whole batch.
    """
    tiles = np.asarray(tiles)
    if tiles.ndim != 4 or tiles.shape[-1] != 3:
        raise ValueError(f"handcrafted_features needs (B, H, W, 3) tiles, got {tiles.shape}.")
    n_tiles, n_angles = len(tiles), len(GLCM_ANGLES)
    hed = rgb2hed(tiles)
    colour = np.concatenate(
        [tiles.mean((1, 2)), tiles.std((1, 2)), hed.mean((1, 2)), hed.std((1, 2))], axis=1
    )
    grey = np.clip(rgb2gray(tiles) * GLCM_LEVELS, 0, GLCM_LEVELS - 1).astype(np.uint8)
    glcm = np.concatenate(
        [
            graycomatrix(
                g, GLCM_DISTANCES, GLCM_ANGLES, levels=GLCM_LEVELS, symmetric=True, normed=True
            )
            for g in grey
        ],
        axis=3,
    )
    texture = np.concatenate(
        [
            graycoprops(glcm, prop).reshape(len(GLCM_DISTANCES), n_tiles, n_angles).mean(axis=2).T
            for prop in GLCM_PROPS
        ],
        axis=1,
    )
    lbp = [local_binary_pattern(g, LBP_POINTS, LBP_RADIUS, method="uniform") for g in grey]
    hist = np.stack([np.bincount(x.astype(int).ravel(), minlength=LBP_POINTS + 2) for x in lbp])
    hist = hist / (grey.shape[1] * grey.shape[2])
    return np.nan_to_num(np.concatenate([colour, texture, hist], axis=1)).astype(np.float32)
