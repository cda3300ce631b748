"""Input validation, used at every entry point (the one place that checks the layout).

Inner code trusts what these functions let through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import tifffile
from anndata import AnnData
from PIL import Image

from . import _keys
from ._errors import (
    BarcodeError,
    CountsError,
    ImageError,
    LayoutError,
    ParameterError,
    ScaleFactorError,
)
from ._logging import warning

IMAGE_PREFERENCE = ("fullres", "hires", "lowres")
SOURCE_IMAGE_PATH = "source_image_path"  # uns['spatial'][lib]['metadata'] key (squidpy)
SCALEFACTOR_OF = {"hires": "tissue_hires_scalef", "lowres": "tissue_lowres_scalef"}
IMAGE_DTYPES = (np.uint8, np.uint16)
TIFF_SUFFIXES = (".tif", ".tiff", ".btf")


def get_library_id(adata: AnnData, library_id: str | None = None) -> str:
    """Return the library id of a single-slide AnnData, checking that it exists."""
    libraries = adata.uns.get(_keys.SPATIAL)
    if not isinstance(libraries, dict) or not libraries:
        raise LayoutError(
            "adata.uns['spatial'] is missing or empty: there is no library with images and scale "
            "factors. Read the slide with sf.io.read_visium(folder), or add "
            "uns['spatial'][library_id] = {'images': {...}, 'scalefactors': {...}} yourself."
        )
    if library_id is None:
        if len(libraries) > 1:
            raise LayoutError(
                f"adata.uns['spatial'] holds {len(libraries)} libraries ({sorted(libraries)}); "
                "pass library_id= to choose one."
            )
        return next(iter(libraries))
    if library_id not in libraries:
        raise LayoutError(
            f"library_id {library_id!r} is not in adata.uns['spatial'] (found {sorted(libraries)})."
        )
    return library_id


def get_scalefactors(adata: AnnData, library_id: str) -> dict[str, float]:
    """Return the scale factors of ``library_id``, checking they are present and positive."""
    sf = adata.uns[_keys.SPATIAL][library_id].get("scalefactors")
    if not isinstance(sf, dict) or "spot_diameter_fullres" not in sf:
        raise ScaleFactorError(
            f"uns['spatial'][{library_id!r}]['scalefactors'] is missing or has no "
            "'spot_diameter_fullres'. Copy the Space Ranger file spatial/scalefactors_json.json "
            "into it (sf.io.read_visium does this)."
        )
    out = {}
    for key, value in sf.items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            raise ScaleFactorError(
                f"scale factor {key!r} of library {library_id!r} is {value!r}, not a number. "
                "Fix scalefactors_json.json."
            ) from None
        if not np.isfinite(out[key]) or out[key] <= 0:
            raise ScaleFactorError(
                f"scale factor {key!r} of library {library_id!r} is {value!r}; it must be a "
                "positive number. Fix scalefactors_json.json."
            )
    return out


def fullres_image_path(adata: AnnData, library_id: str) -> Path | None:
    """Path of the full-resolution image of ``library_id``, or ``None`` when it is not on disk.

    Reads ``uns['spatial'][library_id]['metadata']['source_image_path']`` (the squidpy key).
    """
    metadata = adata.uns[_keys.SPATIAL][library_id].get("metadata") or {}
    path = metadata.get(SOURCE_IMAGE_PATH)
    if path is None or not Path(str(path)).is_file():
        return None
    return Path(str(path))


def available_images(adata: AnnData, library_id: str) -> list[str]:
    """Names of the images present for ``library_id``, best resolution first.

    ``"fullres"`` is present when the full-resolution image file recorded in
    ``uns['spatial'][library_id]['metadata']['source_image_path']`` exists (it stays on disk);
    ``"hires"`` and ``"lowres"`` when ``uns['spatial'][library_id]['images']`` holds them.
    """
    images = adata.uns[_keys.SPATIAL][library_id].get("images") or {}
    present = {name for name, img in images.items() if img is not None}
    if fullres_image_path(adata, library_id) is not None:
        present.add("fullres")
    return [name for name in IMAGE_PREFERENCE if name in present]


def image_file_shape(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image file, read from its header without loading the pixels."""
    path = Path(path)
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                return series.shape[series.axes.index("Y")], series.shape[series.axes.index("X")]
        with Image.open(path) as img:
            width, height = img.size
            return height, width
    except Exception as err:  # tifffile and PIL raise many types on a bad file
        raise ImageError(
            f"cannot read the image file {str(path)!r} ({type(err).__name__}: {err}). Check it is "
            "the complete full-resolution TIFF/JPEG given to Space Ranger, or leave it out."
        ) from None


def image_shape(adata: AnnData, library_id: str, image: str) -> tuple[int, int]:
    """(height, width) in pixels of ``image``; the full-res image is measured on disk."""
    if image == "fullres":
        path = fullres_image_path(adata, library_id)
        if path is None:
            raise ImageError(
                f"library {library_id!r} has no full-resolution image file on disk (set "
                f"uns['spatial'][{library_id!r}]['metadata']['source_image_path'], e.g. with "
                "sf.io.read_visium(folder, fullres_image=path))."
            )
        return image_file_shape(path)
    height, width = np.shape(adata.uns[_keys.SPATIAL][library_id]["images"][image])[:2]
    return int(height), int(width)


def image_scale(adata: AnnData, library_id: str, image: str) -> float:
    """Pixels of ``image`` per full-resolution pixel (1.0 for the full-res image)."""
    if image == "fullres":
        return 1.0
    scalefactors = get_scalefactors(adata, library_id)
    key = SCALEFACTOR_OF.get(image)
    if key is None or key not in scalefactors:
        raise ScaleFactorError(
            f"there is no scale factor for the {image!r} image of library {library_id!r} "
            f"(expected {key!r} in its scalefactors)."
        )
    return scalefactors[key]


def _is_blank(img: Any) -> bool:
    """True when an image holds a single colour (e.g. an all-black placeholder PNG)."""
    arr = np.asarray(img)
    step = max(1, min(arr.shape[:2]) // 256)  # a subsample is enough to see any variation
    sample = arr[::step, ::step].reshape(-1, arr.shape[2] if arr.ndim == 3 else 1)
    return bool(sample.size) and bool((sample.min(axis=0) == sample.max(axis=0)).all())


def choose_image(adata: AnnData, library_id: str, image: str = "auto") -> str:
    """Resolve ``image="auto"`` to the best resolution present, checking a named one exists.

    ``"auto"`` skips an in-memory image that holds one colour only (a placeholder), unless
    it is the only one."""
    present = available_images(adata, library_id)
    if image == "auto":
        if not present:
            raise ImageError(
                f"library {library_id!r} has no tissue image (looked for {IMAGE_PREFERENCE} in "
                f"uns['spatial'][{library_id!r}]['images']). Add the H&E image, or run "
                "expression-only (image steps are skipped by sf.tl.spatial_domains(..., "
                "use_image=False))."
            )
        in_memory = adata.uns[_keys.SPATIAL][library_id].get("images") or {}
        for name in present:
            if name in in_memory and _is_blank(in_memory[name]):
                warning(
                    "the %s image of library %r holds one colour only (a placeholder?); "
                    "using the next resolution",
                    name,
                    library_id,
                )
                continue
            return name
        return present[-1]
    if image not in present:
        raise ImageError(
            f"image {image!r} is not present for library {library_id!r} (present: {present}). "
            "Pass image='auto' to use the best one available."
        )
    return image


def check_image_layout(img: Any, name: str) -> np.ndarray:
    """Check an image is a grey, RGB or RGBA array of a supported dtype, without converting it."""
    arr = np.asarray(img)
    grey = arr.ndim == 2
    colour = arr.ndim == 3 and arr.shape[2] in (3, 4)
    if not (grey or colour) or min(arr.shape[:2]) < 2:
        raise ImageError(
            f"the {name} image has shape {arr.shape}; expected (height, width) grey, "
            "(height, width, 3) RGB or (height, width, 4) RGBA."
        )
    if arr.dtype not in IMAGE_DTYPES and not np.issubdtype(arr.dtype, np.floating):
        raise ImageError(f"the {name} image has dtype {arr.dtype}; use uint8, uint16 or float.")
    return arr


def check_image_array(img: Any, name: str) -> np.ndarray:
    """Check an image is a 2-D grey, RGB or RGBA array and return it as float RGB in [0, 1]."""
    arr = check_image_layout(img, name)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    arr = arr[..., :3]
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0
    if not np.isfinite(arr).all():
        raise ImageError(f"the {name} image holds NaN or infinite pixels.")
    hi = float(arr.max()) if arr.size else 0.0
    return (arr / 255.0 if hi > 1.0 else arr).astype(np.float32)


def check_counts(adata: AnnData) -> None:
    """Check the raw counts are a non-empty matrix of finite, non-negative whole numbers.

    The counts are ``layers['counts']`` once :func:`sf.pp.preprocess` has kept them there
    (``X`` then holds log-normalised values), else ``X``.
    """
    check_not_empty(adata)
    if adata.n_vars == 0:
        raise CountsError("the AnnData has no genes. Check the feature-barcode matrix file.")
    if adata.var_names.duplicated().any():
        dup = adata.var_names[adata.var_names.duplicated()].unique()[:3].tolist()
        raise CountsError(
            f"{int(adata.var_names.duplicated().sum())} gene names are duplicated (e.g. {dup}). "
            "Make them unique with adata.var_names_make_unique(), or use gene ids as var_names."
        )
    in_layer = _keys.COUNTS_LAYER in adata.layers
    X = adata.layers[_keys.COUNTS_LAYER] if in_layer else adata.X
    data = X.data if sp.issparse(X) else np.asarray(X)
    if not np.issubdtype(data.dtype, np.number):
        raise CountsError(f"adata.X has dtype {data.dtype}; expected numeric counts.")
    if not np.isfinite(data).all():
        raise CountsError(
            "adata.X holds NaN or infinite values. Raw counts are finite integers: re-read the "
            "matrix from Space Ranger, or drop the affected spots/genes."
        )
    if (data < 0).any():
        raise CountsError(
            "adata.X holds negative values: it looks scaled or centred. spatialfuse expects raw "
            "counts (or non-negative normalised values); pass the raw matrix, e.g. "
            "adata.raw.to_adata()."
        )
    fractional = np.abs(data - np.round(data)) > NON_INTEGER_TOLERANCE
    if fractional.any():
        example = float(np.ravel(data)[np.argmax(np.ravel(fractional))])
        where = f"adata.layers[{_keys.COUNTS_LAYER!r}]" if in_layer else "adata.X"
        raise CountsError(
            f"{where} holds non-integer values (e.g. {example:.4g}): it looks log-normalised or "
            "scaled, and spatialfuse normalises the raw counts itself. Pass the raw UMI counts "
            "in X, or name the layer that holds them (layer='counts'; spatialfuse run --layer "
            "counts)."
        )
    totals = np.asarray(X.sum(axis=1)).ravel()
    if not (totals > 0).any():
        raise CountsError(
            "every spot has zero counts: the matrix is empty. Check the counts file is the "
            "filtered (or raw) feature-barcode matrix of this slide."
        )


def check_spatial(adata: AnnData) -> np.ndarray:
    """Check ``obsm['spatial']`` holds finite 2-D coordinates and return them as float."""
    if _keys.SPATIAL not in adata.obsm:
        raise LayoutError(
            "adata.obsm['spatial'] is missing: spot coordinates (full-resolution pixels, x then "
            "y) are needed. Read the slide with sf.io.read_visium, or set adata.obsm['spatial']."
        )
    coords = np.asarray(adata.obsm[_keys.SPATIAL])
    if coords.ndim != 2 or coords.shape[1] < 2:
        raise LayoutError(f"adata.obsm['spatial'] has shape {coords.shape}; expected (n_spots, 2).")
    try:
        coords = coords[:, :2].astype(float)
    except (TypeError, ValueError):
        raise LayoutError(
            "adata.obsm['spatial'] holds non-numeric coordinates; it must be full-resolution "
            "pixel positions (numbers)."
        ) from None
    if not np.isfinite(coords).all():
        raise LayoutError("adata.obsm['spatial'] holds NaN or infinite coordinates.")
    return coords


def check_not_empty(adata: AnnData) -> None:
    """Check the slide has at least one spot."""
    if adata.n_obs == 0:
        raise CountsError(
            "the slide has no spots. If it was read from Space Ranger, no spot of the count "
            "matrix is marked in tissue (column in_tissue = 1 of the tissue positions file): "
            "check that the positions file belongs to this run."
        )


def check_barcodes(adata: AnnData) -> None:
    """Check spot barcodes are unique."""
    if not adata.obs_names.is_unique:
        dup = adata.obs_names[adata.obs_names.duplicated()].unique()[:3].tolist()
        raise BarcodeError(
            f"{int(adata.obs_names.duplicated().sum())} barcodes are duplicated (e.g. {dup}). "
            "Make them unique with adata.obs_names_make_unique(), or fix the input files."
        )


def check_spots_in_image(adata: AnnData, library_id: str, image: str) -> None:
    """Check the spots fall inside ``image`` once scaled; wrong scale factors fail here."""
    coords = check_spatial(adata) * image_scale(adata, library_id, image)
    h, w = image_shape(adata, library_id, image)
    inside = (
        (coords[:, 0] >= 0) & (coords[:, 0] < w) & (coords[:, 1] >= 0) & (coords[:, 1] < h)
    ).mean()
    if inside < 0.9:
        raise ScaleFactorError(
            f"only {inside:.0%} of the spots fall inside the {image} image ({w} x {h} px) once "
            f"scaled by {image_scale(adata, library_id, image):.4g}. The scale factors do not "
            "match the image (e.g. the hires factor used on the lowres image): check "
            "scalefactors_json.json and that the image is the one Space Ranger wrote."
        )


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """Check ``value`` is a whole number ``>= minimum`` (``bool`` is refused) and return it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ParameterError(f"{name}={value!r}; give a whole number >= {minimum}.")
    return int(value)


NON_INTEGER_TOLERANCE = 1e-3  # counts stored as float32 are whole numbers to this
MIN_SPOTS_TISSUE_CHECK = 20  # fewer spots say little about the scale factors
MAX_SPOTS_OFF_TISSUE = 0.75  # wrong scale factors put (nearly) all of them off; pale tissue some


def check_spots_on_tissue(adata: AnnData, library_id: str, image: str) -> None:
    """Check most spots lie on stained tissue of an in-memory image, not on glass or a masked
    background: the tissue signal averaged over each spot's disc against the tissue threshold
    of the tile QC (``sf.im``). Scale factors of another image (or slide) fail here."""
    from scipy import ndimage

    from .im._quality import saturation_threshold, tissue_signal

    rgb = check_image_array(adata.uns[_keys.SPATIAL][library_id]["images"][image], image)
    scale = image_scale(adata, library_id, image)
    xy = np.round(check_spatial(adata) * scale).astype(int)
    h, w = rgb.shape[:2]
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    spot_px = get_scalefactors(adata, library_id)["spot_diameter_fullres"] * scale
    signal = ndimage.uniform_filter(tissue_signal(rgb), size=max(1, round(spot_px)))
    off_tissue = signal[xy[inside, 1], xy[inside, 0]] < saturation_threshold(rgb)
    if inside.sum() >= MIN_SPOTS_TISSUE_CHECK and off_tissue.mean() > MAX_SPOTS_OFF_TISSUE:
        raise ScaleFactorError(
            f"{off_tissue.mean():.0%} of the spots sit off the tissue of the {image} image once "
            f"scaled by {image_scale(adata, library_id, image):.4g}: the scale factors (or the "
            "image) are not this slide's. Check scalefactors_json.json, and that "
            f"tissue_{image}_scalef belongs to this {image} image."
        )


AUTO_RUNS_BUDGET = 16_000  # n_runs="auto": about this many spot-fits, within the bounds below
# up to 64 runs on slides under 250 spots: chosen leave-one-slide-out over 16 and 32
# (benchmarks/results/generalisation.md); more runs even out single runs on small slides
AUTO_RUNS_BOUNDS = (4, 64)


def resolve_n_runs(n_runs: int | str, n_obs: int, *, trained: bool = False) -> int:
    """The number of clustering runs: ``n_runs``, or for ``"auto"`` a fixed budget of
    ``AUTO_RUNS_BUDGET`` spot-fits spread over runs (4 on a 4,000-spot Visium slide, 53 on a
    300-spot legacy-ST slide, where runs are cheap and single runs vary most; 64 at most). With a
    ``trained`` fusion every run trains a model too: ``"auto"`` is then the minimum, 4."""
    if isinstance(n_runs, str):
        if n_runs != "auto":
            raise ParameterError(f"n_runs={n_runs!r}; give a positive whole number or 'auto'.")
        low, high = AUTO_RUNS_BOUNDS
        return int(np.clip(AUTO_RUNS_BUDGET // max(n_obs, 1), low, low if trained else high))
    return check_positive_int(n_runs, "n_runs")


AUTO_N_DOMAINS_RANGE = (3, 12)  # the numbers of domains tried when none is given


def check_n_domains(n_obs: int, n_domains: int | None) -> None:
    """Check a requested number of domains (``None``: the fewest tried automatically) is
    possible for ``n_obs`` spots."""
    if n_domains is None:
        n_domains = AUTO_N_DOMAINS_RANGE[0]
    if int(n_domains) != n_domains or n_domains < 2:
        raise ParameterError(f"n_domains={n_domains!r}; ask for at least 2 domains.")
    if n_obs < 2 * n_domains:
        raise ParameterError(
            f"{n_obs} spots are too few for {n_domains} domains (need at least {2 * n_domains}, "
            "two per domain). Ask for fewer domains or use a larger slide."
        )


def validate_visium(
    adata: AnnData,
    *,
    library_id: str | None = None,
    require_counts: bool = True,
    require_image: bool = False,
) -> str:
    """Check ``adata`` is in the scanpy/squidpy Visium layout and return its library id.

    Parameters
    ----------
    adata
        The slide. Reads ``obsm['spatial']``, ``uns['spatial'][library_id]``, ``X``.
    library_id
        Library to check; the only one when ``None``.
    require_counts
        Check ``X`` holds finite, non-negative values.
    require_image
        Require a tissue image and check the spots fall inside it.

    Returns
    -------
    The library id.

    Raises
    ------
    InputError
        A subclass naming what is wrong and how to fix it.
    """
    if not isinstance(adata, AnnData):
        raise LayoutError(
            f"expected an AnnData, got {type(adata).__name__}. Read data with "
            "sf.io.read_visium(folder) or sf.io.read_h5ad(path)."
        )
    check_not_empty(adata)
    check_barcodes(adata)
    check_spatial(adata)
    library_id = get_library_id(adata, library_id)
    get_scalefactors(adata, library_id)
    if require_counts:
        check_counts(adata)
    for name, img in (adata.uns[_keys.SPATIAL][library_id].get("images") or {}).items():
        if img is not None:
            check_image_layout(img, name)
    present = available_images(adata, library_id)
    if require_image and not present:
        choose_image(adata, library_id)  # raises the missing-image error
    if present:
        check_spots_in_image(adata, library_id, present[0])
        in_memory = [name for name in present if name in IN_MEMORY]
        if in_memory:
            check_spots_on_tissue(adata, library_id, in_memory[-1])
    return library_id


IN_MEMORY = ("hires", "lowres")  # images held in uns; the full-res one stays on disk


def resolve_image(adata: AnnData, library_id: str, image: str | None) -> str | None:
    """In-memory image to draw: the best present for ``"auto"``, none for ``None``."""
    if image is None:
        return None
    if image == "auto":
        present = [name for name in available_images(adata, library_id) if name in IN_MEMORY]
        return present[0] if present else None
    if image not in IN_MEMORY:
        raise ParameterError(
            f"image={image!r}: only the in-memory images {IN_MEMORY} can be drawn (the "
            "full-resolution image stays on disk). Pass image='auto', 'hires' or 'lowres'."
        )
    return choose_image(adata, library_id, image)


def counts_from_layer(adata: AnnData, layer: str) -> None:
    """Copy the raw counts of ``adata.layers[layer]`` into ``X`` (where every step reads them)."""
    if layer not in adata.layers:
        raise LayoutError(
            f"layer={layer!r} is not in adata.layers (found {sorted(adata.layers)}). Name the "
            "layer that holds the raw counts, or leave the layer out to use X."
        )
    adata.X = adata.layers[layer].copy()


def check_embedding(adata: AnnData, basis: str) -> None:
    """Check ``obsm[basis]`` exists (an embedding to draw or to build a UMAP on)."""
    if basis not in adata.obsm:
        raise LayoutError(
            f"adata.obsm[{basis!r}] is missing (obsm has {list(adata.obsm)}). Run sf.tl.fuse(adata)"
            " first, or pass basis= naming an existing embedding, e.g. basis='X_pca'."
        )
