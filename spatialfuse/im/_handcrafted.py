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


def handcrafted_features(tile: np.ndarray) -> np.ndarray:
    """Colour and texture features of one ``(H, W, 3)`` RGB tile in ``[0, 1]``.

    RGB and HED (stain) channel means and stds (12), GLCM contrast, dissimilarity, homogeneity,
    energy, correlation and ASM at distances 1 and 2 px averaged over 4 angles (12), and the
    uniform LBP histogram (P=8, R=1; 10 bins).
    """
    hed = rgb2hed(tile)
    colour = np.concatenate(
        [tile.mean((0, 1)), tile.std((0, 1)), hed.mean((0, 1)), hed.std((0, 1))]
    )
    grey = np.clip(rgb2gray(tile) * GLCM_LEVELS, 0, GLCM_LEVELS - 1).astype(np.uint8)
    glcm = graycomatrix(
        grey, GLCM_DISTANCES, GLCM_ANGLES, levels=GLCM_LEVELS, symmetric=True, normed=True
    )
    texture = np.concatenate([graycoprops(glcm, prop).mean(axis=1) for prop in GLCM_PROPS])
    lbp = local_binary_pattern(grey, LBP_POINTS, LBP_RADIUS, method="uniform")
    hist = np.bincount(lbp.astype(int).ravel(), minlength=LBP_POINTS + 2) / lbp.size
    return np.nan_to_num(np.concatenate([colour, texture, hist])).astype(np.float32)
