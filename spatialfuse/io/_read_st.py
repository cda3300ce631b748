"""Read a legacy Spatial Transcriptomics (ST) section, as published, into the Visium layout.

Legacy ST (Stahl et al. 2016) spots are 100 um across on a 200 um square grid. A section is
published as the st_pipeline count table (spots x genes, spot ids ``"{x}x{y}"`` in array
coordinates), the spot detector's selection table (``x``, ``y``, ``pixel_x``, ``pixel_y``: the
spot centre in the pixels of the full-resolution H&E) and the H&E itself. The result has the
same keys as :func:`sf.io.read_visium`, so every step of spatialfuse runs on it unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from PIL import Image

from .. import _keys
from .._errors import BarcodeError, ImageError, LayoutError, ParameterError
from .._logging import info
from .._validation import TIFF_SUFFIXES, validate_visium

ST_SPOT_DIAMETER_UM = 100.0
ST_PITCH_UM = 200.0
HIRES_MAX_PX = 2000  # longest side of the in-memory hires image, as Space Ranger's
LOWRES_MAX_PX = 600
SELECTION_COLUMNS = ("x", "y", "pixel_x", "pixel_y")

Image.MAX_IMAGE_PIXELS = None  # full-resolution H&E scans are larger than PIL's guard


def read_st(
    counts: str | os.PathLike,
    spots: str | os.PathLike,
    image: str | os.PathLike | None = None,
    *,
    image_scale: float = 1.0,
    library_id: str | None = None,
) -> AnnData:
    """Read a legacy ST section (st_pipeline counts, spot detector table, H&E image).

    Parameters
    ----------
    counts
        st_pipeline count table (``.tsv`` or ``.tsv.gz``): one row per spot, one column per
        gene, raw integer counts; the first column holds the spot ids ``"{x}x{y}"``.
    spots
        The spot detector's selection table (``*_selection.tsv``) with columns ``x``, ``y``
        (array coordinates), ``pixel_x`` and ``pixel_y`` (spot centre in full-resolution image
        pixels) and optionally ``selected`` (rows with ``selected == 0`` are ignored).
    image
        The H&E (JPEG, PNG or TIFF), or ``None``. It is stored downsampled to at most
        2,000 px (``images['hires']``) and 600 px (``images['lowres']``); a large JPEG is
        decoded at a reduced scale, so the full-resolution pixels are never all in memory.
    image_scale
        Size of the image's pixels relative to the spot detector's: ``1.0`` when ``image`` is
        the full-resolution scan, ``2000 / 6954`` for a 2,000 px copy of a 6,954 px original.
    library_id
        Name of the section in ``uns['spatial']``; by default the counts file name without
        its suffixes.

    Returns
    -------
    The spots of the count table that the spot detector located, in the count table's
    order: ``X`` raw counts (float32 CSR), ``obs['in_tissue']`` (1), ``obs['array_row']`` (y),
    ``obs['array_col']`` (x), ``obsm['spatial']`` (``pixel_x``, ``pixel_y``) and
    ``uns['spatial'][library_id]`` with ``images``, ``scalefactors``
    (``spot_diameter_fullres`` = 100 um in full-resolution pixels, from the grid pitch) and
    ``metadata`` (``spot_diameter_um`` = 100, used to size image tiles in micrometres).

    Raises
    ------
    LayoutError
        A file is missing or its columns are not the published ones.
    BarcodeError
        Count-table spots that the selection table does not locate (more than half of them).
    ImageError
        The image cannot be read.
    """
    if not (isinstance(image_scale, int | float) and np.isfinite(image_scale) and image_scale > 0):
        raise ParameterError(f"image_scale={image_scale!r}; give a positive number.")
    counts_path, spots_path = _existing(counts, "count table"), _existing(spots, "spot table")
    library_id = library_id or counts_path.name.split(".")[0]
    table = _read_count_table(counts_path)
    selection = _read_selection(spots_path)
    located = table.index.isin(selection.index)
    if located.mean() < 0.5:
        raise BarcodeError(
            f"only {int(located.sum())} of the {table.shape[0]} spots of {str(counts_path)!r} are "
            f"in the spot table {str(spots_path)!r}. Check both files are of the same section."
        )
    if not located.all():
        info("dropped %d spots the spot table does not locate", int((~located).sum()))
        table = table[located]
    where = selection.loc[table.index]
    adata = AnnData(
        X=sp.csr_matrix(table.to_numpy(dtype=np.float32)),
        obs=pd.DataFrame(
            {
                "in_tissue": 1,
                "array_row": where["y"].to_numpy(dtype=np.int64),
                "array_col": where["x"].to_numpy(dtype=np.int64),
            },
            index=table.index.astype(str),
        ),
        var=pd.DataFrame(index=table.columns.astype(str)),
    )
    adata.obsm[_keys.SPATIAL] = where[["pixel_x", "pixel_y"]].to_numpy(dtype=np.float64)
    spot_px = _pitch_px(where) * ST_SPOT_DIAMETER_UM / ST_PITCH_UM
    scalefactors = {"spot_diameter_fullres": spot_px, "fiducial_diameter_fullres": 1.5 * spot_px}
    images: dict[str, np.ndarray] = {}
    if image is not None:
        hires, hires_scale = _read_downsampled(_existing(image, "image"), image_scale)
        lowres, lowres_scale = _downsample(hires, LOWRES_MAX_PX)
        images = {"hires": hires, "lowres": lowres}
        scalefactors["tissue_hires_scalef"] = hires_scale
        scalefactors["tissue_lowres_scalef"] = hires_scale * lowres_scale
    adata.uns[_keys.SPATIAL] = {
        library_id: {
            "images": images,
            "scalefactors": scalefactors,
            "metadata": {
                "technology": "legacy ST, 100 um spots, 200 um square grid",
                _keys.SPOT_DIAMETER_UM: ST_SPOT_DIAMETER_UM,
            },
        }
    }
    validate_visium(adata, library_id=library_id)
    info(
        "read %d spots x %d genes of legacy-ST section %r%s",
        adata.n_obs,
        adata.n_vars,
        library_id,
        "" if image is None else f" with a {images['hires'].shape[1]} px H&E",
    )
    return adata


def _existing(path: str | os.PathLike, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise LayoutError(f"the {what} {str(path)!r} does not exist.")
    return path


def _read_count_table(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, sep="\t", index_col=0)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise LayoutError(f"cannot read the count table {str(path)!r} ({err}).") from None
    values = table.to_numpy()
    if table.empty or not np.issubdtype(values.dtype, np.number):
        raise LayoutError(
            f"{str(path)!r} is not an st_pipeline count table (spots x genes of numbers, spot ids "
            "in the first column)."
        )
    if table.index.duplicated().any():
        raise LayoutError(f"{str(path)!r} lists a spot id twice.")
    return table


def _read_selection(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, sep="\t")
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise LayoutError(f"cannot read the spot table {str(path)!r} ({err}).") from None
    missing = [c for c in SELECTION_COLUMNS if c not in table.columns]
    if missing:
        raise LayoutError(
            f"the spot table {str(path)!r} has no column {missing}; the spot detector writes "
            f"{list(SELECTION_COLUMNS)} (and 'selected')."
        )
    if "selected" in table.columns:
        table = table[table["selected"].astype(int) == 1]
    ids = table["x"].astype(int).astype(str) + "x" + table["y"].astype(int).astype(str)
    table = table.set_index(ids)
    return table[~table.index.duplicated()]


def _pitch_px(where: pd.DataFrame) -> float:
    """Grid pitch in full-resolution pixels: median pixel distance of array neighbours."""
    xy = where[["x", "y"]].to_numpy(dtype=np.int64)
    px = where[["pixel_x", "pixel_y"]].to_numpy(dtype=np.float64)
    index = {(int(a), int(b)): i for i, (a, b) in enumerate(xy)}
    steps = [
        np.hypot(*(px[index[(a + dx, b + dy)]] - px[i]))
        for i, (a, b) in enumerate(xy)
        for dx, dy in ((1, 0), (0, 1))
        if (a + dx, b + dy) in index
    ]
    if not steps:
        raise LayoutError("no two spots are grid neighbours: cannot measure the grid pitch.")
    return float(np.median(steps))


def _read_downsampled(path: Path, image_scale: float) -> tuple[np.ndarray, float]:
    """The image at most ``HIRES_MAX_PX`` on its longest side, and its scale from full-res."""
    if path.suffix.lower() in TIFF_SUFFIXES:
        return _read_tiff_downsampled(path, image_scale)
    try:
        with Image.open(path) as img:
            width, height = img.size
            factor = min(1.0, HIRES_MAX_PX / max(width, height))
            size = (max(1, round(width * factor)), max(1, round(height * factor)))
            if img.format == "JPEG":
                img.draft("RGB", size)  # decode at a reduced scale: no full-size raster
            rgb = img.convert("RGB")
            if rgb.size != size:
                rgb = rgb.resize(size, Image.Resampling.LANCZOS)
            array = np.asarray(rgb, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise ImageError(f"cannot read the image {str(path)!r} ({err}).") from None
    return array, image_scale * size[0] / width


def _read_tiff_downsampled(path: Path, image_scale: float) -> tuple[np.ndarray, float]:
    """A TIFF read lazily (memmap or chunk by chunk), every ``step``-th pixel, then resized."""
    from ..im._reader import _open_tiff

    arr = _open_tiff(path)
    height, width = int(arr.shape[0]), int(arr.shape[1])
    step = max(1, int(np.floor(max(height, width) / HIRES_MAX_PX)))
    strided = np.asarray(arr[::step, ::step])
    if strided.ndim == 2:
        strided = np.repeat(strided[..., None], 3, axis=2)
    strided = strided[..., :3]
    if strided.dtype != np.uint8:
        top = 65535.0 if strided.dtype == np.uint16 else 1.0
        strided = np.clip(strided / top * 255.0, 0, 255).astype(np.uint8)
    image, factor = _downsample(strided, HIRES_MAX_PX)
    return image, image_scale * factor * strided.shape[1] / width


def _downsample(image: np.ndarray, max_px: int) -> tuple[np.ndarray, float]:
    height, width = image.shape[:2]
    factor = min(1.0, max_px / max(height, width))
    if factor == 1.0:
        return image, 1.0
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    small = Image.fromarray(image).resize(size, Image.Resampling.LANCZOS)
    return np.asarray(small), size[0] / width
