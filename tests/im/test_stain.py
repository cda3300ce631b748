"""Stain normalisers recover known stains and reach their targets."""

from __future__ import annotations

import numpy as np
from skimage.color import rgb2lab

from spatialfuse.im import MacenkoNormalizer, ReinhardNormalizer
from spatialfuse.im._stain import MACENKO_TARGET_STAINS


def synthetic_he(stains: np.ndarray, n: int = 4000, seed: int = 0) -> np.ndarray:
    """(n, 3) RGB pixels mixing two stains (columns of ``stains``) at random concentrations."""
    rng = np.random.default_rng(seed)
    conc = rng.gamma(2.0, 0.35, (2, n))
    return np.clip(240 / 255 * np.exp(-(stains @ conc)).T, 0, 1)


def test_macenko_recovers_the_stain_vectors():
    stains = MACENKO_TARGET_STAINS / np.linalg.norm(MACENKO_TARGET_STAINS, axis=0)
    fitted = MacenkoNormalizer().fit(synthetic_he(stains)).stains
    cosine = (fitted * stains).sum(axis=0) / np.linalg.norm(fitted, axis=0)
    assert cosine.min() > 0.98


def test_macenko_maps_another_staining_to_the_reference():
    other = np.array([[0.65, 0.07], [0.70, 0.99], [0.29, 0.11]])
    other /= np.linalg.norm(other, axis=0)
    reference = MACENKO_TARGET_STAINS / np.linalg.norm(MACENKO_TARGET_STAINS, axis=0)
    pixels = synthetic_he(other, seed=1)
    out = MacenkoNormalizer().fit(pixels).transform(pixels)
    refit = MacenkoNormalizer().fit(out).stains
    cosine = (refit * reference).sum(axis=0) / np.linalg.norm(refit, axis=0)
    assert cosine.min() > 0.98


def test_reinhard_reaches_target_statistics():
    rng = np.random.default_rng(0)
    pixels = np.clip(rng.normal([0.7, 0.4, 0.6], 0.08, (3000, 3)), 0, 1)
    normalizer = ReinhardNormalizer().fit(pixels)
    lab = rgb2lab(normalizer.transform(pixels)[None])[0]
    np.testing.assert_allclose(lab.mean(0), normalizer.target_mean, atol=1.0)
    np.testing.assert_allclose(lab.std(0), normalizer.target_std, rtol=0.15)
