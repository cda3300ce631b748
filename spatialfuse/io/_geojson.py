"""GeoJSON export of the domains for QuPath and napari, in full-resolution pixels.

``kind="polygons"``: one annotation per domain, the outline of its merged spot hexagons
(``spatialfuse._shapes.domain_shapes``, shared with ``sf.pl``). ``kind="points"``: one point
per spot.
Properties follow QuPath's GeoJSON import (``objectType``, ``classification`` with
``name`` and an ``[r, g, b]`` ``color``); napari-geojson reads the geometries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from anndata import AnnData
from matplotlib.colors import to_rgb

from .. import _keys
from .._atomic import atomic_path
from .._colors import domain_colors
from .._errors import ParameterError
from .._logging import info
from .._shapes import domain_shapes
from .._validation import check_spatial


def _classification(name: str, color: str) -> dict[str, Any]:
    return {"name": name, "color": [round(255 * c) for c in to_rgb(color)]}


def _polygon_features(adata: AnnData, key: str, colors: dict[str, str]) -> list[dict]:
    import shapely

    counts = adata.obs[key].astype(str).value_counts()
    return [
        {
            "type": "Feature",
            "id": f"domain-{name}",
            "geometry": json.loads(shapely.to_geojson(geometry)),
            "properties": {
                "objectType": "annotation",
                "name": name,
                "classification": _classification(name, colors[name]),
                "n_spots": int(counts[name]),
            },
        }
        for name, geometry in domain_shapes(adata, key).items()
    ]


def _point_features(adata: AnnData, key: str, colors: dict[str, str]) -> list[dict]:
    coords = check_spatial(adata)
    labels = adata.obs[key]
    confidence_key = key + _keys.DOMAIN_CONFIDENCE_SUFFIX
    confidence = (
        adata.obs[confidence_key].to_numpy(dtype=float)
        if confidence_key in adata.obs
        else np.full(adata.n_obs, np.nan)
    )
    features = []
    for barcode, (x, y), label, conf in zip(
        adata.obs_names, coords, labels, confidence, strict=True
    ):
        domain = None if label is None or label != label else str(label)  # NaN != NaN
        properties = {
            "objectType": "annotation",
            "name": barcode,
            "barcode": barcode,
            "domain": domain,
            "confidence": None if np.isnan(conf) else float(conf),
        }
        if domain is not None:
            properties["classification"] = _classification(domain, colors[domain])
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [float(x), float(y)]},
                "properties": properties,
            }
        )
    return features


def export_geojson(
    adata: AnnData,
    path: str | Path,
    *,
    key: str = _keys.DOMAIN,
    kind: Literal["polygons", "points"] = "polygons",
) -> Path:
    """Write the domains as a GeoJSON FeatureCollection in full-resolution pixel coordinates.

    Parameters
    ----------
    adata
        Reads ``obs[key]``, ``obsm['spatial']`` and, for points,
        ``obs[key + '_confidence']`` when present. Writes ``uns[key + '_colors']``
        (:func:`spatialfuse.pl.domain_colors`).
    path
        Output ``.geojson`` file, written atomically.
    key
        ``obs`` column of domain labels.
    kind
        ``"polygons"``: one (Multi)Polygon annotation per domain, the union of its spots'
        hexagons (spots with a missing label are left out). ``"points"``: one Point per
        spot with properties ``barcode``, ``domain``, ``confidence``.

    Returns
    -------
    The path written.
    """
    colors = domain_colors(adata, key)
    if kind == "polygons":
        features = _polygon_features(adata, key, colors)
    elif kind == "points":
        features = _point_features(adata, key, colors)
    else:
        raise ParameterError(f"kind={kind!r}; use 'polygons' or 'points'.")
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    info("wrote %d %s of %r to %s", len(features), kind, key, path)
    return path
