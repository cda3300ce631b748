"""A self-contained interactive HTML map of the domains: one file, no server, no internet.

The H&E is embedded as a base64 PNG and the spots, drawn on a canvas by a small
hand-written script (``templates/map.html``), are placed in that image's pixels. The page
has pan/zoom, an overlay opacity slider, a legend that shows/hides domains and a tooltip
with the barcode, domain, confidence and top genes of the spot under the cursor.
"""

from __future__ import annotations

import base64
import html
import io
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from anndata import AnnData
from PIL import Image

from .. import _keys
from .._atomic import atomic_path
from .._colors import domain_colors
from .._errors import ParameterError
from .._logging import info
from .._validation import (
    check_image_array,
    check_spatial,
    get_library_id,
    get_scalefactors,
    image_scale,
    resolve_image,
)

TEMPLATE = "templates/map.html"
MISSING_NAME, MISSING_COLOR = "unlabelled", "#d3d3d3"
ROWS_PER_CHUNK = 2048  # rows densified at a time when ranking each spot's genes


def _png_data_url(img: np.ndarray) -> str:
    pixels = (np.clip(check_image_array(img, "tissue"), 0, 1) * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _domain_codes(adata: AnnData, key: str) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Integer code per spot and ``{name, color}`` per domain (missing labels last)."""
    colors = domain_colors(adata, key)
    names = list(colors)
    labels = adata.obs[key].astype(object)
    missing = labels.isna().to_numpy()
    index = {name: i for i, name in enumerate(names)}
    codes = np.array([index.get(str(v), -1) for v in labels], dtype=int)
    domains = [{"name": name, "color": colors[name]} for name in names]
    if missing.any():
        codes[missing] = len(domains)
        domains.append({"name": MISSING_NAME, "color": MISSING_COLOR})
    return codes, domains


def _marker_genes(adata: AnnData, key: str, markers_key: str, names: list[str], top: int):
    """Top ``top`` marker genes per domain from ``uns[markers_key]``, or None when absent."""
    markers = adata.uns.get(markers_key)
    if not markers or markers.get("params", {}).get("groupby") != key:
        return None
    ranked = markers["names"]
    return [
        [str(g) for g in ranked[name][:top]] if name in ranked.dtype.names else [] for name in names
    ]


def _spot_top_genes(adata: AnnData, top: int) -> np.ndarray:
    """Indices of each spot's ``top`` highest values of ``X``, highest first."""
    top = min(top, adata.n_vars)
    out = np.empty((adata.n_obs, top), dtype=int)
    for start in range(0, adata.n_obs, ROWS_PER_CHUNK):
        block = adata.X[start : start + ROWS_PER_CHUNK]
        block = block.toarray() if sp.issparse(block) else np.asarray(block)
        part = np.argpartition(-block, top - 1, axis=1)[:, :top]
        order = np.argsort(-np.take_along_axis(block, part, axis=1), axis=1, kind="stable")
        out[start : start + len(block)] = np.take_along_axis(part, order, axis=1)
    return out


def _gene_fields(
    adata: AnnData, key: str, markers_key: str, domains: list[dict], top: int
) -> dict[str, Any]:
    per_domain = _marker_genes(adata, key, markers_key, [d["name"] for d in domains], top)
    if per_domain is not None:
        genes = sorted({g for genes in per_domain for g in genes})
        lookup = {g: i for i, g in enumerate(genes)}
        return {
            "geneSource": "markers",
            "genes": genes,
            "domainGenes": [[lookup[g] for g in domain] for domain in per_domain],
        }
    per_spot = _spot_top_genes(adata, top)
    used, compact = np.unique(per_spot, return_inverse=True)
    return {
        "geneSource": "expression",
        "genes": [str(g) for g in adata.var_names[used]],
        "spotGenes": compact.reshape(per_spot.shape).tolist(),
    }


def export_html(
    adata: AnnData,
    path: str | Path,
    *,
    key: str = _keys.DOMAIN,
    top_genes: int = 3,
    library_id: str | None = None,
    image: str | None = "auto",
    markers_key: str = _keys.MARKERS,
    title: str | None = None,
) -> Path:
    """Write a self-contained interactive HTML map of the domains over the H&E.

    One file that opens offline in any browser: the image is embedded (base64 PNG), the
    script and styles are inline, nothing is fetched. Spots are drawn at their true size;
    the page offers wheel zoom, drag pan, an overlay opacity slider, a legend that toggles
    domains, and a tooltip with the barcode, domain, confidence and top genes of a spot.

    Parameters
    ----------
    adata
        Reads ``obs[key]``, ``obsm['spatial']``, ``uns['spatial'][library_id]``,
        ``obs[key + '_confidence']`` (optional), ``uns[markers_key]`` (optional) and ``X``
        (only when there are no markers). Writes ``uns[key + '_colors']``.
    path
        Output ``.html`` file, written atomically.
    key
        ``obs`` column of domain labels.
    top_genes
        Genes listed per spot: the top markers of its domain when ``uns[markers_key]``
        was ranked on ``key`` (:func:`spatialfuse.tl.domain_markers`), else the spot's
        highest-expressed genes.
    library_id
        Slide to draw; the only one when ``None``.
    image
        In-memory image to embed (``"hires"``, ``"lowres"``), the best present with
        ``"auto"``, none with ``None`` (spots then drawn in full-resolution pixels).
    markers_key
        ``uns`` key of the marker genes.
    title
        Page title; ``"<library_id>: <key>"`` when ``None``.

    Returns
    -------
    The path written.
    """
    if top_genes < 1:
        raise ParameterError(f"top_genes={top_genes}; list at least 1 gene per spot.")
    library_id = get_library_id(adata, library_id)
    coords = check_spatial(adata)
    codes, domains = _domain_codes(adata, key)
    diameter = get_scalefactors(adata, library_id)["spot_diameter_fullres"]
    res = resolve_image(adata, library_id, image)
    if res is None:  # full-res pixels, framed around the spots
        scale, image_url = 1.0, None
        origin = coords.min(axis=0) - diameter
        width, height = (coords.max(axis=0) + diameter - origin).tolist()
    else:  # pixels of the embedded image
        img = adata.uns[_keys.SPATIAL][library_id]["images"][res]
        scale, image_url, origin = image_scale(adata, library_id, res), _png_data_url(img), 0.0
        height, width = np.shape(img)[:2]
    xy = np.round((coords - origin) * scale, 2)
    confidence_key = key + _keys.DOMAIN_CONFIDENCE_SUFFIX
    confidence = (
        [None if np.isnan(c) else round(c, 4) for c in adata.obs[confidence_key].astype(float)]
        if confidence_key in adata.obs
        else None
    )
    data = {
        "title": title or f"{library_id}: {key}",
        "image": image_url,
        "width": width,
        "height": height,
        "radius": diameter * scale / 2,
        "x": xy[:, 0].tolist(),
        "y": xy[:, 1].tolist(),
        "barcodes": adata.obs_names.tolist(),
        "domain": codes.tolist(),
        "domains": domains,
        "confidence": confidence,
        **_gene_fields(adata, key, markers_key, domains, top_genes),
    }
    # JSON escapes keep "</script>" or "<!--" in a name from ending the script element
    payload = (
        json.dumps(data, separators=(",", ":"), allow_nan=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )
    page = (
        files(__package__)
        .joinpath(TEMPLATE)
        .read_text(encoding="utf-8")
        .replace("__SPATIALFUSE_TITLE__", html.escape(data["title"]))
        .replace("__SPATIALFUSE_DATA__", payload)
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    info("wrote interactive map of %r (%d spots) to %s", key, adata.n_obs, path)
    return path
