"""Exports of a finished analysis, each written atomically (temporary file, then rename)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from anndata import AnnData

from .. import _keys
from .._atomic import atomic_path
from .._errors import LayoutError


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
