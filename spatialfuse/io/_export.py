"""Exports of a finished analysis, each written atomically (temporary file, then rename)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys
from .._atomic import atomic_path
from .._errors import LayoutError, OutputExistsError
from .._logging import info
from .._validation import check_spatial, get_library_id, get_scalefactors, image_scale

SPOTS_ELEMENT = "spots"  # SpatialData shapes element of the spot circles


def _domain_column(adata: AnnData, key: str) -> pd.Series:
    if key not in adata.obs:
        raise LayoutError(
            f"adata.obs[{key!r}] is missing: run sf.tl.spatial_domains (or "
            "sf.tl.cluster_domains) first, or pass the key of your domain column."
        )
    return adata.obs[key]


def export_domains_csv(adata: AnnData, path: str | Path, *, key: str = _keys.DOMAIN) -> Path:
    """Write ``barcode,domain[,confidence]`` for every spot.

    Reads ``obs[key]`` and, when present, ``obs[key + '_confidence']``.
    """
    table = pd.DataFrame({"barcode": adata.obs_names, "domain": _domain_column(adata, key).values})
    confidence = key + _keys.DOMAIN_CONFIDENCE_SUFFIX
    if confidence in adata.obs:
        table["confidence"] = adata.obs[confidence].to_numpy()
    path = Path(path)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path


def export_h5ad(adata: AnnData, path: str | Path) -> Path:
    """Write the annotated AnnData to ``path`` (gzip-compressed h5ad)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp, compression="gzip")
    return path


def write_json(data: dict[str, Any], path: str | Path) -> Path:
    """Write ``data`` as indented JSON."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str))
    return path


def export_loupe_csv(
    adata: AnnData, path: str | Path, *, key: str = _keys.DOMAIN, name: str = _keys.DOMAIN
) -> Path:
    """Write ``Barcode,<name>``: a custom category that 10x Loupe Browser imports.

    Reads ``obs[key]``; spots with a missing domain are left out (Loupe shows them as
    unassigned). Barcodes are written as they are in ``obs_names`` (Space Ranger's
    ``AAAC...-1``), which is what Loupe matches.
    """
    labels = _domain_column(adata, key)
    keep = labels.notna().to_numpy()
    table = pd.DataFrame({"Barcode": adata.obs_names[keep], name: labels[keep].astype(str).values})
    path = Path(path)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path


@contextlib.contextmanager
def _atomic_directory(target: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a fresh path beside ``target`` for a folder; move it onto ``target`` on success."""
    if target.exists() and not overwrite:
        raise OutputExistsError(
            f"{str(target)!r} exists. Choose another path, or pass overwrite=True to replace it."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent))
    tmp.rmdir()  # writers want to create the folder themselves
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            os.replace(target, old)
            os.replace(tmp, target)
            if old.is_dir():
                shutil.rmtree(old)
            else:
                old.unlink()
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def export_spatialdata(
    adata: AnnData,
    path: str | Path,
    *,
    library_id: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the slide as a SpatialData zarr store (needs the ``spatialdata`` package).

    The store holds the in-memory images (``<library>_hires`` / ``<library>_lowres``, each
    scaled into full-resolution pixels), the spots as circles (``spots``, full-resolution
    pixels, radius from ``spot_diameter_fullres``) and ``adata`` as the table annotating them.

    Parameters
    ----------
    adata
        Reads ``obsm['spatial']`` and ``uns['spatial'][library_id]`` (images, scale factors).
    path
        Output ``.zarr`` folder, written to a temporary folder then moved into place.
    library_id
        Slide to export; the only one when ``None``.
    overwrite
        Replace an existing store.

    Returns
    -------
    The path written.
    """
    try:
        import spatialdata
        from spatialdata.models import Image2DModel, ShapesModel, TableModel
        from spatialdata.transformations import Scale
    except ImportError:
        raise LayoutError(
            "export_spatialdata needs the optional package spatialdata, which is not "
            "installed. Install it with `pip install spatialdata`, or export with "
            "sf.io.export_h5ad."
        ) from None
    library_id = get_library_id(adata, library_id)
    coords = check_spatial(adata)
    radius = get_scalefactors(adata, library_id)["spot_diameter_fullres"] / 2
    images = {}
    for name, img in (adata.uns[_keys.SPATIAL][library_id].get("images") or {}).items():
        if img is None:
            continue
        to_fullres = 1.0 / image_scale(adata, library_id, name)
        images[f"{library_id}_{name}"] = Image2DModel.parse(
            np.asarray(img)[..., :3] if np.ndim(img) == 3 else np.asarray(img)[..., None],
            dims=("y", "x", "c"),
            transformations={"global": Scale([to_fullres, to_fullres], axes=("y", "x"))},
        )
    spots = ShapesModel.parse(
        coords, geometry=0, radius=np.full(len(coords), radius), index=adata.obs_names.copy()
    )
    table = adata.copy()
    table.obs["region"] = pd.Categorical([SPOTS_ELEMENT] * table.n_obs)
    table.obs["spot_id"] = adata.obs_names.to_numpy()
    table = TableModel.parse(
        table, region=SPOTS_ELEMENT, region_key="region", instance_key="spot_id"
    )
    sdata = spatialdata.SpatialData(
        images=images, shapes={SPOTS_ELEMENT: spots}, tables={"table": table}
    )
    path = Path(path)
    with _atomic_directory(path, overwrite=overwrite) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*autosharding", category=UserWarning)
        sdata.write(tmp)
    info("wrote SpatialData store %s (%d images, %d spots)", path, len(images), adata.n_obs)
    return path


def export_all(adata: AnnData, out: str | Path) -> dict[str, str]:
    """Write every result file of a run into the folder ``out``; return their paths by name.

    ``adata.h5ad``, ``domains.csv``, ``domains_loupe.csv`` (10x Loupe Browser),
    ``domains.geojson`` (QuPath / napari), ``map.html`` (interactive) and ``domain_map.png``.
    Each file is written under a temporary name and renamed when complete.
    """
    from .. import pl
    from ._geojson import export_geojson
    from ._html import export_html

    out = Path(out)
    paths = {
        "adata": export_h5ad(adata, out / "adata.h5ad"),
        "domains": export_domains_csv(adata, out / "domains.csv"),
        "loupe": export_loupe_csv(adata, out / "domains_loupe.csv"),
        "geojson": export_geojson(adata, out / "domains.geojson"),
        "html": export_html(adata, out / "map.html"),
    }
    paths["map"] = out / "domain_map.png"
    pl.domains(adata, save=paths["map"], show=False)
    return {name: str(path) for name, path in paths.items()}
