"""A synthetic Visium slide whose spot discs are painted known colours, at any resolution."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import anndata as ad
import numpy as np
import pytest
import tifffile
from skimage.draw import disk
from skimage.transform import rescale

SPOT_DIAMETER_FULLRES = 40.0  # full-res px; a spot is 55 um
PITCH = 100.0 / 55.0 * SPOT_DIAMETER_FULLRES  # Visium centre-to-centre distance, 100 um


def hex_centres(n_rows: int, n_cols: int, origin: float) -> np.ndarray:
    """(x, y) full-res centres of a Visium-like hex grid."""
    rows, cols = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    x = origin + cols * PITCH + (rows % 2) * PITCH / 2
    y = origin + rows * PITCH * np.sqrt(3) / 2
    return np.column_stack([x.ravel(), y.ravel()])


def make_slide(
    centres: np.ndarray,
    discs: list[np.ndarray],
    size: tuple[int, int],
    *,
    images: dict[str, float],
    tiff_path: Path | None = None,
) -> ad.AnnData:
    """Paint ``discs[i]`` (an (H, W, 3) uint8 pattern or one colour) on spot ``i``.

    ``images`` maps ``"hires"``/``"lowres"`` to scale factors; ``tiff_path`` writes the full-res
    image there as a tiled TIFF and records it as the source image.
    """
    full = np.full((*size, 3), 255, dtype=np.uint8)
    for (x, y), pattern in zip(centres, discs, strict=True):
        rr, cc = disk((y, x), SPOT_DIAMETER_FULLRES / 2, shape=size)
        full[rr, cc] = pattern[rr, cc] if pattern.ndim == 3 else pattern
    scalefactors = {"spot_diameter_fullres": SPOT_DIAMETER_FULLRES}
    library: dict = {"images": {}, "scalefactors": scalefactors, "metadata": {}}
    for name, scale in images.items():
        scaled = rescale(full, scale, channel_axis=-1, anti_aliasing=True, preserve_range=True)
        library["images"][name] = scaled.round().astype(np.uint8)
        scalefactors[f"tissue_{name}_scalef"] = scale
    if tiff_path is not None:
        tifffile.imwrite(tiff_path, full, tile=(64, 64), photometric="rgb")
        library["metadata"]["source_image_path"] = str(tiff_path)
    adata = ad.AnnData(
        X=np.ones((len(centres), 3), dtype=np.float32),
        obsm={"spatial": centres.astype(float)},
        uns={"spatial": {"slide": library}},
    )
    adata.obs_names = [f"spot{i}" for i in range(len(centres))]
    return adata


@pytest.fixture
def coloured_slide(tmp_path: Path):
    """Slide of 6 x 7 spots, each disc one random colour; lowres, hires and a full-res TIFF.

    The first spot sits 8 px from the top-left corner, so its tile crosses the border.
    Returns (adata, colours in [0, 1]).
    """
    rng = np.random.default_rng(0)
    centres = np.vstack([[[8.0, 8.0]], hex_centres(6, 7, origin=60.0)])
    colours = rng.integers(0, 256, (len(centres), 3)).astype(np.uint8)
    adata = make_slide(
        centres,
        list(colours),
        (440, 620),
        images={"hires": 0.5, "lowres": 0.25},
        tiff_path=tmp_path / "fullres.tif",
    )
    return adata, colours / 255.0


def textured(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Pink/purple H&E-like noise texture, (H, W, 3) uint8."""
    base = np.array([200.0, 110.0, 190.0])
    noise = rng.normal(0, 45, (*size, 1)) * np.array([0.6, 1.0, 0.5])
    return np.clip(base + noise, 0, 255).astype(np.uint8)


@pytest.fixture
def slide_tools():
    """The builders above, for tests (conftest modules cannot be imported with importlib mode)."""
    return SimpleNamespace(hex_centres=hex_centres, make_slide=make_slide, textured=textured)
