"""One image tile per spot, centred on it and covering the same tissue area at any resolution.

A Visium spot is 55 um wide and ``spot_diameter_fullres`` full-resolution pixels, so a tile of
``size_um`` spans ``size_um / 55 * spot_diameter_fullres`` full-res pixels, times the image's
scale factor in the chosen image. Each tile is resampled to ``tile_px`` x ``tile_px`` by
bilinear interpolation at the exact (sub-pixel) positions, after a Gaussian anti-aliasing blur
when downsampling. Spots near the image border get tiles padded with white.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from numbers import Integral
from typing import Any

import numpy as np
from anndata import AnnData
from scipy import ndimage

from .. import _keys, _logging
from .._params import (
    FLAG,
    FRACTION,
    KEY,
    NON_NEGATIVE_REAL,
    POSITIVE_INT,
    POSITIVE_REAL,
    Interval,
    Options,
    check_param,
    validate_params,
)
from .._validation import (
    available_images,
    check_spatial,
    choose_image,
    get_scalefactors,
    image_scale,
    validate_visium,
)
from ._quality import saturation_threshold, sharpness, tissue_fraction, tissue_mask, usable
from ._reader import RegionReader, open_image
from ._stain import make_normalizer, restore

SPOT_DIAMETER_UM = 55.0  # Visium; a library's metadata may say otherwise (legacy ST: 100)
DEFAULT_SIZE_UM = 220.0  # best of 55/110/220 um in benchmarks/results/histology.md
DEFAULT_TILE_PX = 32  # the default (handcrafted) encoder's; benchmarks/results/histology.md
N_FIT_TILES = 256  # tiles sampled to fit the tissue threshold and the stain normaliser


class TileSource:
    """Tiles of the spots of one slide, cut from the image on demand.

    Parameters
    ----------
    reader
        The image.
    centres
        ``(n_spots, 2)`` spot centres (x, y) in pixels of that image.
    side_px
        Tile side in pixels of that image.
    tile_px
        Side of the returned tiles.
    normalizer
        Fitted stain normaliser applied to every tile, or ``None``.
    """

    def __init__(
        self,
        reader: RegionReader,
        centres: np.ndarray,
        side_px: float,
        tile_px: int,
        normalizer: Any = None,
    ) -> None:
        self.reader, self.centres, self.side_px, self.tile_px = reader, centres, side_px, tile_px
        self.normalizer = normalizer
        step = side_px / tile_px
        self._offsets = (np.arange(tile_px) + 0.5) * step - side_px / 2
        self._sigma = max(0.0, (step - 1) / 2)  # skimage.transform.resize's anti-aliasing
        self._margin = math.ceil(4 * self._sigma) + 2

    def __len__(self) -> int:
        return self.centres.shape[0]

    def _cut(self, cx: float, cy: float) -> np.ndarray:
        x0 = math.floor(cx + self._offsets[0]) - self._margin
        y0 = math.floor(cy + self._offsets[0]) - self._margin
        x1 = math.ceil(cx + self._offsets[-1]) + self._margin + 1
        y1 = math.ceil(cy + self._offsets[-1]) + self._margin + 1
        region = self.reader.read(y0, y1, x0, x1)
        if self._sigma > 0:
            region = ndimage.gaussian_filter(region, (self._sigma, self._sigma, 0), mode="nearest")
        rows, cols = np.meshgrid(cy + self._offsets - y0, cx + self._offsets - x0, indexing="ij")
        return np.stack(
            [ndimage.map_coordinates(region[..., c], [rows, cols], order=1) for c in range(3)],
            axis=-1,
        )

    def raw_tiles(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """``(len(indices), tile_px, tile_px, 3)`` float32 RGB in ``[0, 1]``, not normalised."""
        out = np.empty((len(indices), self.tile_px, self.tile_px, 3), dtype=np.float32)
        for row, i in enumerate(indices):
            out[row] = self._cut(*self.centres[i])
        return np.clip(out, 0, 1)

    def tiles(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Like :meth:`raw_tiles`, stain-normalised when a normaliser is set."""
        out = self.raw_tiles(indices)
        return out if self.normalizer is None else self.normalizer.transform(out)

    def batches(
        self, batch_size: int, *, desc: str = "tiles", raw: bool = False
    ) -> Iterator[np.ndarray]:
        """Yield the tiles of all spots in order, ``batch_size`` at a time (not normalised
        when ``raw``)."""
        cut = self.raw_tiles if raw else self.tiles
        starts = range(0, len(self), batch_size)
        for start in _logging.progress(starts, desc=desc, total=len(starts)):
            yield cut(np.arange(start, min(start + batch_size, len(self))))


TILE_PX = Interval(Integral, 8, None, closed="left")


def _check_geometry(size_um: float, tile_px: int, batch_size: int, caller: str) -> None:
    check_param("size_um", size_um, [POSITIVE_REAL], caller)
    check_param("tile_px", tile_px, [TILE_PX], caller)
    check_param("batch_size", batch_size, [POSITIVE_INT], caller)


def tile_params(
    adata: AnnData,
    *,
    library_id: str | None,
    image: str,
    size_um: float,
    tile_px: int,
    stain_normalization: str | None,
    tissue_threshold: float | None,
) -> dict[str, Any]:
    """Validate the slide and resolve the tile parameters (library and image names)."""
    _check_geometry(size_um, tile_px, 1, "sf.im.encode")
    library_id = validate_visium(
        adata, library_id=library_id, require_counts=False, require_image=True
    )
    make_normalizer(stain_normalization)  # checks the name
    return {
        "library_id": library_id,
        "image": choose_image(adata, library_id, image),
        "size_um": float(size_um),
        "tile_px": int(tile_px),
        "stain_normalization": stain_normalization,
        "tissue_threshold": tissue_threshold,
    }


def spot_diameter_um(adata: AnnData, library_id: str) -> float:
    """The library's spot diameter in micrometres (its metadata; Visium's 55 otherwise)."""
    metadata = adata.uns[_keys.SPATIAL][library_id].get("metadata") or {}
    return float(metadata.get(_keys.SPOT_DIAMETER_UM, SPOT_DIAMETER_UM))


def _source_from_params(adata: AnnData, params: dict[str, Any]) -> tuple[TileSource, float]:
    lib, image = params["library_id"], params["image"]
    scale = image_scale(adata, lib, image)
    spot_um = spot_diameter_um(adata, lib)
    fullres_px_per_um = get_scalefactors(adata, lib)["spot_diameter_fullres"] / spot_um
    side_px = params["size_um"] * fullres_px_per_um * scale
    source = TileSource(
        open_image(adata, lib, image), check_spatial(adata) * scale, side_px, params["tile_px"]
    )
    sample = source.raw_tiles(np.unique(np.linspace(0, len(source) - 1, N_FIT_TILES).astype(int)))
    threshold = params["tissue_threshold"]
    if threshold is None:  # on the smallest in-memory image (it shows glass), else tiles
        in_memory = [name for name in available_images(adata, lib) if name != "fullres"]
        reference = open_image(adata, lib, in_memory[-1]).image if in_memory else sample
        threshold = saturation_threshold(reference)
    source.normalizer = make_normalizer(params["stain_normalization"])
    if source.normalizer is not None:
        tissue = sample[tissue_mask(sample, threshold)]
        source.normalizer.fit(tissue if tissue.shape[0] >= 10 else sample.reshape(-1, 3))
    return source, float(threshold)


def tile_source(
    adata: AnnData,
    *,
    library_id: str | None = None,
    image: str = "auto",
    size_um: float = DEFAULT_SIZE_UM,
    tile_px: int = DEFAULT_TILE_PX,
    stain_normalization: str | None = None,
) -> TileSource:
    """A :class:`TileSource` cutting one tile per spot of ``adata`` from its tissue image.

    Reads ``obsm['spatial']`` and ``uns['spatial'][library_id]`` (images, scale factors,
    ``metadata['source_image_path']`` for the full-res TIFF). Parameters as in
    :func:`tile_quality`.
    """
    params = tile_params(
        adata,
        library_id=library_id,
        image=image,
        size_um=size_um,
        tile_px=tile_px,
        stain_normalization=stain_normalization,
        tissue_threshold=None,
    )
    return _source_from_params(adata, params)[0]


def iter_tile_batches(
    adata: AnnData,
    batch_size: int = 64,
    *,
    library_id: str | None = None,
    image: str = "auto",
    size_um: float = DEFAULT_SIZE_UM,
    tile_px: int = DEFAULT_TILE_PX,
    stain_normalization: str | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``(B, tile_px, tile_px, 3)`` float32 RGB tiles of all spots, in ``obs`` order.

    Parameters as in :func:`tile_quality`; concatenate the batches for all tiles in memory.
    """
    _check_geometry(size_um, tile_px, batch_size, "sf.im.iter_tiles")
    source = tile_source(
        adata,
        library_id=library_id,
        image=image,
        size_um=size_um,
        tile_px=tile_px,
        stain_normalization=stain_normalization,
    )
    yield from source.batches(batch_size)


@validate_params(
    {
        "adata": [AnnData],
        "library_id": [str, None],
        "image": [str],
        "size_um": [POSITIVE_REAL],
        "tile_px": [TILE_PX],
        "stain_normalization": [Options(("reinhard", "macenko")), None],
        "tissue_threshold": [FRACTION, None],
        "min_tissue_fraction": [FRACTION],
        "min_relative_sharpness": [NON_NEGATIVE_REAL],
        "batch_size": [POSITIVE_INT],
        "key_added": KEY,
        "copy": FLAG,
    }
)
def tile_quality(
    adata: AnnData,
    *,
    library_id: str | None = None,
    image: str = "auto",
    size_um: float = DEFAULT_SIZE_UM,
    tile_px: int = DEFAULT_TILE_PX,
    stain_normalization: str | None = None,
    tissue_threshold: float | None = None,
    min_tissue_fraction: float = 0.05,
    min_relative_sharpness: float = 0.3,
    batch_size: int = 256,
    key_added: str = _keys.TILES,
    copy: bool = False,
) -> AnnData | None:
    """Cut one tile per spot and score its quality.

    Tiles are centred on the spots, cut from the best image present (full-res TIFF > hires >
    lowres) and resampled to ``tile_px``; the pixels themselves are not stored (stream them with
    :func:`iter_tile_batches` or :func:`tile_source`).

    Parameters
    ----------
    adata
        The slide. Reads ``obsm['spatial']``, ``uns['spatial'][library_id]``.
    library_id
        Library whose image is used; the only one when ``None``.
    image
        ``"auto"`` (best present), ``"fullres"``, ``"hires"`` or ``"lowres"``.
    size_um
        Tile side in micrometres (a Visium spot is 55 um, spots are 100 um apart); the default
        220 um covers the spot and its ring of neighbours, which separated annotated regions
        best on lowres images (benchmarks/results/histology.md).
    tile_px
        Tile side in pixels after resampling.
    stain_normalization
        ``None``, ``"reinhard"`` or ``"macenko"``, fitted on the slide's tissue.
    tissue_threshold
        HSV saturation above which a pixel is tissue; when ``None``, the lower cut of a
        three-class Otsu (glass / eosin / hematoxylin) on the smallest in-memory image.
    min_tissue_fraction
        Tiles with less tissue, over the whole tile or over its centre one spot diameter wide
        (the spot itself), are not usable (glass, a black masked background, a blank spot).
        Low on purpose: sparse tissue (fat, loose stroma) is a tissue class, not a missing
        tile; at 0.25 a synthetic slide's pale texture (19 % tissue pixels) was dropped.
    min_relative_sharpness
        Tiles sharper (variance of the Laplacian) than this fraction of the median tissue tile
        are usable. On the ten DLPFC lowres images no in-tissue tile is below 0.41 x; tiles
        inside a blurred region of the synthetic slides are below 0.3 x.
    batch_size
        Tiles cut at a time.
    key_added
        ``uns`` key of the parameters.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None``, or the copy. Writes ``obs['tile_tissue_fraction']``,
    ``obs['tile_spot_tissue_fraction']`` (the centre, one spot wide), ``obs['tile_sharpness']``,
    ``obs['tile_usable']`` and ``uns[key_added]`` (the parameters, the tissue threshold used,
    ``side_px``: the tile side in pixels of the image used).

    Raises
    ------
    ImageError
        The slide has no image: run the expression-only pipeline instead.
    """
    adata = adata.copy() if copy else adata
    params = tile_params(
        adata,
        library_id=library_id,
        image=image,
        size_um=size_um,
        tile_px=tile_px,
        stain_normalization=stain_normalization,
        tissue_threshold=tissue_threshold,
    )
    source, threshold = _source_from_params(adata, params)
    # the spot itself: the centre of the tile, one spot diameter wide
    spot_px = max(
        1, round(tile_px * min(1.0, spot_diameter_um(adata, params["library_id"]) / size_um))
    )
    centre = slice((tile_px - spot_px) // 2, (tile_px - spot_px) // 2 + spot_px)
    fractions, spot_fractions, sharp = [], [], []
    # quality is a property of the scanned pixels: measured before stain normalisation, which
    # maps each slide's colours to a reference and shifted pale tissue below the threshold
    for batch in source.batches(batch_size, desc="tile quality", raw=True):
        fractions.append(tissue_fraction(batch, threshold))
        spot_fractions.append(tissue_fraction(batch[:, centre, centre], threshold))
        sharp.append(sharpness(batch))
    fraction, sharp_all = np.concatenate(fractions), np.concatenate(sharp)
    spot_fraction = np.concatenate(spot_fractions)
    adata.obs[_keys.TILE_TISSUE_FRACTION] = fraction.astype(np.float32)
    adata.obs[_keys.TILE_SPOT_TISSUE_FRACTION] = spot_fraction.astype(np.float32)
    adata.obs[_keys.TILE_SHARPNESS] = sharp_all.astype(np.float32)
    adata.obs[_keys.TILE_USABLE] = usable(
        np.minimum(fraction, spot_fraction),
        sharp_all,
        min_tissue_fraction=min_tissue_fraction,
        min_relative_sharpness=min_relative_sharpness,
    )
    adata.uns[key_added] = {
        **{k: v for k, v in params.items() if v is not None},
        "tissue_threshold_used": threshold,
        "min_tissue_fraction": float(min_tissue_fraction),
        "min_relative_sharpness": float(min_relative_sharpness),
        "side_px": float(source.side_px),
        **({"stain_fit": source.normalizer.fitted} if source.normalizer is not None else {}),
    }
    _logging.info(
        "added obs %r, %r, %r, %r (%d of %d tiles usable) and uns %r",
        _keys.TILE_TISSUE_FRACTION,
        _keys.TILE_SPOT_TISSUE_FRACTION,
        _keys.TILE_SHARPNESS,
        _keys.TILE_USABLE,
        int(adata.obs[_keys.TILE_USABLE].sum()),
        adata.n_obs,
        key_added,
    )
    return adata if copy else None


def recorded_source(
    adata: AnnData, *, tiles_key: str = _keys.TILES, tile_px: int | None = None
) -> TileSource:
    """The tiles :func:`tile_quality` measured, rebuilt from its record ``uns[tiles_key]``.

    Same image, spot centres, footprint (``side_px``) and fitted stain normaliser as the
    quality step, so the features describe the tiles the quality refers to; only the
    resampled side ``tile_px`` (``None``: the recorded one) may differ, for an encoder's input.
    """
    record = adata.uns[tiles_key]
    library_id, image = str(record["library_id"]), str(record["image"])
    source = TileSource(
        open_image(adata, library_id, image),
        check_spatial(adata) * image_scale(adata, library_id, image),
        float(record["side_px"]),
        int(record["tile_px"] if tile_px is None else tile_px),
    )
    source.normalizer = restore(record.get("stain_normalization"), record.get("stain_fit"))
    return source
