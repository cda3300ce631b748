"""Read a Space Ranger output folder or an h5ad file into the scanpy/squidpy Visium layout.

The count matrix is read by :func:`scanpy.read_10x_h5` / :func:`scanpy.read_10x_mtx`. The
spatial files are read here rather than by :func:`squidpy.read.visium` because that reader
requires both PNG images and an ``.h5`` matrix and keeps out-of-tissue spots of a raw
matrix; the layout written is the same as squidpy's. Every failure of the underlying readers
is turned into an :class:`~spatialfuse.InputError` naming the file and the fix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scanpy as sc
from anndata import AnnData
from PIL import Image

from .. import _keys
from .._errors import BarcodeError, ImageError, InputError, LayoutError, ScaleFactorError
from .._logging import info
from .._validation import SOURCE_IMAGE_PATH, image_file_shape, validate_visium

COUNTS_H5 = "filtered_feature_bc_matrix.h5"
COUNTS_MTX_DIR = "filtered_feature_bc_matrix"
# Space Ranger >= 2.0 writes tissue_positions.csv (with a header), 1.x tissue_positions_list.csv
POSITIONS_FILES = ("tissue_positions.csv", "tissue_positions_list.csv")
POSITION_COLUMNS = [
    "in_tissue",
    "array_row",
    "array_col",
    "pxl_row_in_fullres",
    "pxl_col_in_fullres",
]
SCALEFACTORS_FILE = "scalefactors_json.json"
IMAGE_FILES = {"hires": "tissue_hires_image.png", "lowres": "tissue_lowres_image.png"}
H5_METADATA = ("chemistry_description", "software_version")


def read_visium(
    path: str | os.PathLike,
    *,
    library_id: str | None = None,
    counts_file: str | None = None,
    fullres_image: str | os.PathLike | None = None,
    load_images: bool = True,
) -> AnnData:
    """Read a Space Ranger output folder into the scanpy/squidpy Visium layout.

    Parameters
    ----------
    path
        Space Ranger ``outs`` folder: a count matrix (``filtered_feature_bc_matrix.h5`` or the
        ``filtered_feature_bc_matrix/`` mtx folder) and ``spatial/`` with the tissue positions
        (``tissue_positions.csv`` or ``tissue_positions_list.csv``), ``scalefactors_json.json``
        and whichever of ``tissue_hires_image.png`` / ``tissue_lowres_image.png`` exist.
    library_id
        Name of the library; by default the one stored in the ``.h5`` file, else the folder name.
    counts_file
        Count matrix inside ``path`` (an ``.h5`` file or an mtx folder), e.g.
        ``"raw_feature_bc_matrix.h5"``; the filtered matrix by default.
    fullres_image
        The full-resolution TIFF/JPEG given to Space Ranger. It is not loaded: its path is
        recorded so image steps can read tiles from it.
    load_images
        Load the hires/lowres PNGs.

    Returns
    -------
    The in-tissue spots, with ``X`` raw counts, ``obs['in_tissue']``, ``obs['array_row']``,
    ``obs['array_col']``, ``obsm['spatial']`` (full-resolution pixel x, y) and
    ``uns['spatial'][library_id]`` holding ``images``, ``scalefactors`` and ``metadata``
    (``metadata['source_image_path']`` when ``fullres_image`` is given).

    Raises
    ------
    LayoutError
        A required file is missing, corrupt or truncated.
    BarcodeError
        The matrix holds barcodes that the positions file does not list.
    ScaleFactorError
        ``scalefactors_json.json`` is missing or malformed.
    ImageError
        An image file cannot be read.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise LayoutError(
            f"{str(folder)!r} is not a folder. Pass the Space Ranger output folder ('outs') that "
            f"holds {COUNTS_H5} and spatial/."
        )
    counts_path = _find_counts(folder, counts_file)
    positions_path = _find_positions(folder)
    scalefactors = _read_scalefactors(folder / "spatial" / SCALEFACTORS_FILE)
    adata = _read_counts(counts_path)
    attrs = _h5_attributes(counts_path)
    library_id = library_id or attrs.get("library_id") or folder.resolve().name
    adata = _restrict_to_tissue(adata, _read_positions(positions_path), counts_path, positions_path)
    metadata = {key: attrs[key] for key in H5_METADATA if key in attrs}
    if fullres_image is not None:
        metadata[SOURCE_IMAGE_PATH] = str(_check_fullres_image(fullres_image))
    adata.uns[_keys.SPATIAL] = {
        library_id: {
            "images": _read_images(folder / "spatial") if load_images else {},
            "scalefactors": scalefactors,
            "metadata": metadata,
        }
    }
    validate_visium(adata, library_id=library_id)
    info(
        "read %d in-tissue spots x %d genes of library %r from %s",
        adata.n_obs,
        adata.n_vars,
        library_id,
        folder,
    )
    return adata


def read(path: str | os.PathLike, *, library_id: str | None = None) -> AnnData:
    """Read a Space Ranger output folder (:func:`read_visium`) or an ``.h5ad`` file
    (:func:`read_h5ad`), whichever ``path`` is.

    Parameters
    ----------
    path
        Space Ranger ``outs`` folder, or ``.h5ad`` file in the Visium layout.
    library_id
        Library to read or check (see the two readers).

    Raises
    ------
    InputError
        ``path`` does not exist or is neither.
    """
    path = Path(path)
    if path.is_dir():
        return read_visium(path, library_id=library_id)
    if path.suffix == ".h5ad":
        return read_h5ad(path, library_id=library_id)
    if not path.exists():
        raise InputError(f"INPUT {str(path)!r} does not exist. Check the path.")
    raise InputError(
        f"INPUT {str(path)!r} is neither a Space Ranger output folder nor an .h5ad file. Pass "
        "the folder that holds filtered_feature_bc_matrix.h5 and spatial/, or an .h5ad file."
    )


def read_h5ad(path: str | os.PathLike, *, library_id: str | None = None) -> AnnData:
    """Read an ``.h5ad`` file and check it is in the Visium layout.

    Parameters
    ----------
    path
        The ``.h5ad`` file.
    library_id
        Library to check when ``uns['spatial']`` holds several.

    Returns
    -------
    The AnnData, checked by :func:`spatialfuse.io.validate`.

    Raises
    ------
    LayoutError
        The file is missing, truncated or not an h5ad file, or the data is not in the layout.
    """
    path = Path(path)
    if not path.is_file():
        raise LayoutError(f"the file {str(path)!r} does not exist. Check the path.")
    try:
        adata = ad.read_h5ad(path)
    except Exception as err:  # h5py/anndata raise many types on a damaged file
        raise LayoutError(
            f"cannot read {str(path)!r} as an h5ad file ({type(err).__name__}: {err}). It is "
            "truncated, corrupt or not an AnnData file: write it again with adata.write_h5ad()."
        ) from None
    validate_visium(adata, library_id=library_id)
    return adata


def _find_counts(folder: Path, counts_file: str | None) -> Path:
    names = [COUNTS_H5, f"{COUNTS_MTX_DIR}/"] if counts_file is None else [counts_file]
    for name in names:
        candidate = folder / name
        if candidate.is_dir() or (candidate.is_file() and candidate.suffix == ".h5"):
            return candidate
        if candidate.exists():
            raise LayoutError(
                f"the count matrix {str(candidate)!r} is neither an .h5 file nor an mtx folder "
                "(matrix.mtx.gz, barcodes.tsv.gz, features.tsv.gz). Pass one of those."
            )
    raise LayoutError(
        f"{str(folder)!r} is not a Space Ranger output folder: the count matrix "
        f"{' or '.join(names)} is missing. Pass the 'outs' folder of `spaceranger count`, or "
        "name the matrix with counts_file= (an .h5 file or an mtx folder)."
    )


def _find_positions(folder: Path) -> Path:
    for name in POSITIONS_FILES:
        if (folder / "spatial" / name).is_file():
            return folder / "spatial" / name
    raise LayoutError(
        f"{str(folder)!r} is not a complete Space Ranger output folder: "
        f"spatial/{POSITIONS_FILES[0]} (Space Ranger >= 2.0) or spatial/{POSITIONS_FILES[1]} "
        "(1.x) is missing. Copy the whole 'spatial' folder of the Space Ranger output."
    )


def _read_scalefactors(file: Path) -> dict[str, Any]:
    if not file.is_file():
        raise ScaleFactorError(
            f"spatial/{SCALEFACTORS_FILE} is missing from {str(file.parent.parent)!r}. Copy it "
            "from the Space Ranger output: it maps full-resolution pixels to the images."
        )
    try:
        scalefactors = json.loads(file.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ScaleFactorError(
            f"{str(file)!r} is not valid JSON ({err}). Copy it again from the Space Ranger output."
        ) from None
    if not isinstance(scalefactors, dict):
        raise ScaleFactorError(
            f"{str(file)!r} holds a {type(scalefactors).__name__}, not a JSON object of scale "
            "factors. Copy it again from the Space Ranger output."
        )
    return scalefactors


def _read_counts(path: Path) -> AnnData:
    try:
        adata = sc.read_10x_mtx(path) if path.is_dir() else sc.read_10x_h5(path)
    except Exception as err:  # h5py, scipy.io and pandas raise many types on a damaged file
        raise LayoutError(
            f"cannot read the count matrix {str(path)!r} ({type(err).__name__}: {err}). It is "
            "truncated, corrupt or not a 10x feature-barcode matrix: copy it again from the "
            "Space Ranger output."
        ) from None
    adata.var_names_make_unique()
    return adata


def _h5_attributes(path: Path) -> dict[str, str]:
    """Library id and metadata stored as attributes of a 10x ``.h5`` file (none for mtx)."""
    if path.is_dir():
        return {}
    with h5py.File(path, mode="r") as f:
        attrs = dict(f.attrs)
    out = {}
    for key in ("library_ids", *H5_METADATA):
        if key in attrs:
            value = np.ravel(attrs[key])[0]
            out[key] = value.decode("utf-8") if isinstance(value, bytes) else str(value)
    if "library_ids" in out:
        out["library_id"] = out.pop("library_ids")
    return out


def _read_positions(path: Path) -> pd.DataFrame:
    try:
        with path.open() as fh:
            has_header = fh.readline().split(",")[0].strip().lower() == "barcode"
        positions = pd.read_csv(path, header=0 if has_header else None, index_col=0)
        if positions.shape[1] != len(POSITION_COLUMNS):
            raise ValueError(f"{positions.shape[1] + 1} columns instead of 6")
        positions = positions.apply(pd.to_numeric)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise LayoutError(
            f"cannot read the tissue positions {str(path)!r} ({err}). Each row must be barcode, "
            "in_tissue, array_row, array_col, pxl_row_in_fullres, pxl_col_in_fullres: copy the "
            "file again from the Space Ranger output."
        ) from None
    positions.columns = POSITION_COLUMNS
    positions.index = positions.index.astype(str)
    if not positions.index.is_unique:
        raise BarcodeError(
            f"{int(positions.index.duplicated().sum())} barcodes appear twice in {str(path)!r}. "
            "Copy the file again from the Space Ranger output."
        )
    return positions


def _restrict_to_tissue(
    adata: AnnData, positions: pd.DataFrame, counts_path: Path, positions_path: Path
) -> AnnData:
    """Attach the positions to the matrix spots and keep the in-tissue ones."""
    missing = ~adata.obs_names.isin(positions.index)
    if missing.any():
        raise BarcodeError(
            f"{int(missing.sum())} of the {adata.n_obs} barcodes of the count matrix "
            f"{counts_path.name} are not in {positions_path.name} (e.g. "
            f"{adata.obs_names[missing][:3].tolist()}; {positions.shape[0]} positions listed). "
            "The matrix and the positions come from different Space Ranger runs: use the files "
            "of one run."
        )
    spots = positions.loc[adata.obs_names]
    for column in ("in_tissue", "array_row", "array_col"):
        adata.obs[column] = spots[column].to_numpy()
    adata.obsm[_keys.SPATIAL] = spots[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(
        dtype=float
    )
    in_tissue = adata.obs["in_tissue"].to_numpy() == 1
    if not in_tissue.all():
        info("kept %d of %d spots (in tissue)", int(in_tissue.sum()), adata.n_obs)
        adata = adata[in_tissue].copy()
    return adata


def _read_images(spatial: Path) -> dict[str, np.ndarray]:
    images = {}
    for name, file_name in IMAGE_FILES.items():
        file = spatial / file_name
        if not file.is_file():
            continue
        try:
            with Image.open(file) as img:
                images[name] = np.asarray(img.convert("RGB") if img.mode == "P" else img)
        except (OSError, ValueError, SyntaxError) as err:
            raise ImageError(
                f"cannot read the {name} image {str(file)!r} ({err}). Copy it again from the "
                "Space Ranger output, or delete it to read the slide without it."
            ) from None
    return images


def _check_fullres_image(path: str | os.PathLike) -> Path:
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ImageError(
            f"the full-resolution image {str(path)!r} does not exist. Pass the TIFF/JPEG given "
            "to Space Ranger, or leave fullres_image out."
        )
    image_file_shape(path)  # raises ImageError when the header is unreadable
    return path
