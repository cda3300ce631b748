"""The labelled slides of ``../shared/data`` the benchmarks score against (see its README).

``SLIDES`` maps a name to a :class:`Slide`: the h5ad, the ``obs`` column holding the manual
labels (NaN = unlabelled), the platform (``"visium"``: hexagonal grid, 55 um spots;
``"st"``: legacy Spatial Transcriptomics, square grid, 100 um spots) and the tissue.
:func:`n_domains` counts the distinct labels, :func:`load` reads a slide without the spots
that have no counts (some peers crash on them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import anndata as ad
import numpy as np
from _common import SHARED_DATA


@dataclass(frozen=True)
class Slide:
    name: str
    path: Path
    truth: str  # obs column with the manual labels, NaN where unlabelled
    kind: str  # "visium" or "st"
    tissue: str


def _dlpfc(name: str, file: str) -> Slide:
    return Slide(name, SHARED_DATA / "dlpfc" / "h5ad" / file, "layer", "visium", "human DLPFC")


def _her2st(section: str) -> Slide:
    path = SHARED_DATA / "her2st" / "h5ad" / f"her2st_{section}.h5ad"
    return Slide(f"her2st_{section}", path, "label", "st", "human HER2+ breast cancer")


SLIDES: dict[str, Slide] = {
    s.name: s
    for s in (
        _dlpfc("151673", "151673_hvg5000.h5ad"),
        _dlpfc("151674", "151674_hvg5000.h5ad"),
        _dlpfc("151510", "151510_drsc500.h5ad"),
        *(_her2st(section) for section in ("A1", "B1", "C1", "D1")),
        Slide(
            "mob_rep12",
            SHARED_DATA / "mob" / "h5ad" / "mob_rep12.h5ad",
            "label",
            "st",
            "mouse olfactory bulb",
        ),
    )
}


@cache
def _loaded(slide: Slide) -> tuple[ad.AnnData, int]:
    adata = ad.read_h5ad(slide.path)
    counts = np.asarray(adata.X.sum(axis=1)).ravel()
    keep = counts > 0
    return (adata if keep.all() else adata[keep].copy()), int((~keep).sum())


def load(slide: Slide) -> ad.AnnData:
    """The slide's AnnData without the spots whose total count is zero (a fresh copy)."""
    return _loaded(slide)[0].copy()


def n_dropped(slide: Slide) -> int:
    """How many spots :func:`load` drops (zero total counts)."""
    return _loaded(slide)[1]


def truth(slide: Slide) -> np.ndarray:
    """The manual label of every spot :func:`load` returns (NaN = unlabelled), as objects."""
    return _loaded(slide)[0].obs[slide.truth].to_numpy(dtype=object)


def n_domains(slide: Slide) -> int:
    """The number of distinct manual labels among the spots :func:`load` keeps."""
    return int(_loaded(slide)[0].obs[slide.truth].dropna().nunique())
