"""Stain normalisation of H&E tiles: Reinhard (CIELAB statistics) and Macenko (stain vectors).

Each normaliser is fitted once on tissue pixels of the slide, then maps every tile of that
slide the same way, so colour differences between spots are kept while the slide's overall
staining is brought to a reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from skimage.color import lab2rgb, rgb2lab

from .._errors import ParameterError

# CIELAB mean and std of the tissue pixels (HSV saturation > Otsu) of the DLPFC 151673 lowres
# H&E (spatialLIBD), measured with skimage.color.rgb2lab.
REINHARD_TARGET_MEAN = np.array([50.99, 21.80, -16.42])
REINHARD_TARGET_STD = np.array([4.74, 5.62, 4.15])

# Reference H&E stain vectors (columns, optical density per RGB) and 99th-percentile stain
# concentrations of Macenko et al. (2009), as used by its common reference implementations.
MACENKO_TARGET_STAINS = np.array([[0.5626, 0.2159], [0.7201, 0.8012], [0.4062, 0.5581]])
MACENKO_TARGET_MAX_CONC = np.array([1.9705, 1.0308])
_IO = 240.0 / 255.0  # transmitted light intensity of glass in the Macenko convention


class ReinhardNormalizer:
    """Match the CIELAB mean and std of the slide's tissue to a target (Reinhard et al. 2001)."""

    def __init__(
        self,
        target_mean: np.ndarray = REINHARD_TARGET_MEAN,
        target_std: np.ndarray = REINHARD_TARGET_STD,
    ) -> None:
        self.target_mean, self.target_std = np.asarray(target_mean), np.asarray(target_std)

    def fit(self, tissue_rgb: np.ndarray) -> ReinhardNormalizer:
        """Learn the slide's statistics from ``(n, 3)`` tissue pixels in ``[0, 1]``."""
        lab = rgb2lab(tissue_rgb[None].astype(np.float64))[0]
        self.mean, self.std = lab.mean(0), np.maximum(lab.std(0), 1e-6)
        return self

    @property
    def fitted(self) -> dict[str, np.ndarray]:
        """What :meth:`fit` learned (stored with the tile quality, see :func:`restore`)."""
        return {"mean": self.mean, "std": self.std}

    def transform(self, tiles: np.ndarray) -> np.ndarray:
        """Normalise ``(..., 3)`` RGB in ``[0, 1]``."""
        lab = rgb2lab(tiles.astype(np.float64), channel_axis=-1)
        lab = (lab - self.mean) / self.std * self.target_std + self.target_mean
        return lab2rgb(lab, channel_axis=-1).astype(np.float32)


def _optical_density(rgb: np.ndarray) -> np.ndarray:
    return -np.log(np.clip(rgb, 1.0 / 255.0, None) / _IO)


class MacenkoNormalizer:
    """Map the slide's H and E stain vectors and intensities to a reference (Macenko 2009)."""

    def __init__(
        self,
        target_stains: np.ndarray = MACENKO_TARGET_STAINS,
        target_max_conc: np.ndarray = MACENKO_TARGET_MAX_CONC,
        *,
        od_threshold: float = 0.15,
        percentile: float = 1.0,
    ) -> None:
        self.target_stains, self.target_max_conc = target_stains, target_max_conc
        self.od_threshold, self.percentile = od_threshold, percentile

    def fit(self, tissue_rgb: np.ndarray) -> MacenkoNormalizer:
        """Estimate the slide's stain vectors from ``(n, 3)`` tissue pixels in ``[0, 1]``."""
        od = _optical_density(tissue_rgb.astype(np.float64))
        od = od[(od > self.od_threshold).all(axis=1)]
        if od.shape[0] < 10:
            raise ParameterError(
                "too few stained pixels to fit Macenko stain vectors (is the image H&E?). "
                "Use stain_normalization='reinhard' or None."
            )
        _, eigvecs = np.linalg.eigh(np.cov(od.T))
        plane = eigvecs[:, 1:3]
        proj = od @ plane
        angle = np.arctan2(proj[:, 1], proj[:, 0])
        lo, hi = np.percentile(angle, [self.percentile, 100 - self.percentile])
        v_lo = plane @ np.array([np.cos(lo), np.sin(lo)])
        v_hi = plane @ np.array([np.cos(hi), np.sin(hi)])
        stains = np.stack([v_lo, v_hi] if v_lo[0] > v_hi[0] else [v_hi, v_lo], axis=1)
        self.stains = stains * np.sign(stains.sum(axis=0))  # optical densities are positive
        conc = np.linalg.lstsq(self.stains, od.T, rcond=None)[0]
        self.max_conc = np.maximum(np.percentile(conc, 99, axis=1), 1e-6)
        return self

    @property
    def fitted(self) -> dict[str, np.ndarray]:
        """What :meth:`fit` learned (stored with the tile quality, see :func:`restore`)."""
        return {"stains": self.stains, "max_conc": self.max_conc}

    def transform(self, tiles: np.ndarray) -> np.ndarray:
        """Normalise ``(..., 3)`` RGB in ``[0, 1]``."""
        od = _optical_density(tiles.reshape(-1, 3).astype(np.float64))
        conc = np.linalg.lstsq(self.stains, od.T, rcond=None)[0]
        conc *= (self.target_max_conc / self.max_conc)[:, None]
        rgb = _IO * np.exp(-(self.target_stains @ conc)).T
        return np.clip(rgb, 0, 1).reshape(tiles.shape).astype(np.float32)


NORMALIZERS = {"reinhard": ReinhardNormalizer, "macenko": MacenkoNormalizer}


def make_normalizer(name: str | None) -> ReinhardNormalizer | MacenkoNormalizer | None:
    """A fresh normaliser for ``name`` (``None``, ``"reinhard"`` or ``"macenko"``)."""
    if name is None:
        return None
    if name not in NORMALIZERS:
        raise ParameterError(
            f"stain_normalization={name!r} is not known; use None, 'reinhard' or 'macenko'."
        )
    return NORMALIZERS[name]()


def restore(
    name: str | None, fitted: dict[str, Any] | None
) -> ReinhardNormalizer | MacenkoNormalizer | None:
    """The normaliser ``name`` with the statistics it learned on a slide (its ``fitted``)."""
    normalizer = make_normalizer(name)
    if normalizer is not None and fitted:
        for attribute, value in fitted.items():
            setattr(normalizer, attribute, np.asarray(value, dtype=np.float64))
    return normalizer
