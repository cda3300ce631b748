"""Spot geometry and image of an h5ad in scanpy's Visium layout, for the peer runners.

Works for 10x Visium (hexagonal grid) and legacy Spatial Transcriptomics (square grid) alike:
positions come from ``obsm['spatial']`` (x = column, y = row, full-resolution pixels), the
image is the hires one if the slide has it, else the lowres one, else none. Imports only numpy
and scipy (every peer venv has them).
"""

from __future__ import annotations

import numpy as np


def grid_shape(adata) -> str:
    """``"hexagon"`` (Visium: spots of one array row sit 2 array columns apart) or
    ``"square"`` (legacy ST: 1 apart), from ``obs['array_row']`` / ``obs['array_col']``."""
    rows = np.round(adata.obs["array_row"].to_numpy(dtype=float)).astype(int)
    cols = np.round(adata.obs["array_col"].to_numpy(dtype=float)).astype(int)
    order = np.lexsort((cols, rows))
    same_row = np.diff(rows[order]) == 0
    return "square" if (np.diff(cols[order])[same_row] == 1).any() else "hexagon"


def row_col_fullres(adata) -> tuple[np.ndarray, np.ndarray]:
    """Spot centres as (row, column) full-resolution pixel arrays (``obsm['spatial']`` is x, y)."""
    xy = np.asarray(adata.obsm["spatial"], dtype=float)
    return xy[:, 1], xy[:, 0]


def pitch(adata) -> float:
    """Centre-to-centre spot distance: median nearest-neighbour distance (full-res px)."""
    from scipy.spatial import cKDTree

    xy = np.asarray(adata.obsm["spatial"], dtype=float)
    distances, _ = cKDTree(xy).query(xy, k=2)
    return float(np.median(distances[:, 1]))


def mean_neighbours(adata, radius: float) -> float:
    """Mean number of other spots within ``radius`` full-res px of a spot."""
    from scipy.spatial import cKDTree

    xy = np.asarray(adata.obsm["spatial"], dtype=float)
    return float(np.mean([len(i) - 1 for i in cKDTree(xy).query_ball_point(xy, radius)]))


def image_and_scale(adata) -> tuple[np.ndarray | None, float]:
    """The slide's hires image, else its lowres one, with the scale factor from full-res
    pixels to it (``tissue_hires_scalef`` / ``tissue_lowres_scalef``); ``(None, 1.0)`` when
    the slide has no image."""
    library = next(iter(adata.uns["spatial"]))
    entry = adata.uns["spatial"][library]
    images = entry.get("images", {})
    for resolution in ("hires", "lowres"):
        if resolution in images:
            return images[resolution], float(entry["scalefactors"][f"tissue_{resolution}_scalef"])
    return None, 1.0


def use_symbols(adata) -> None:
    """Gene symbols as ``var_names``: ``var['symbol']`` where there is one (the DLPFC files
    are indexed by Ensembl id), else the names already are symbols (the ST files)."""
    if "symbol" in adata.var.columns:
        adata.var_names = adata.var["symbol"].astype(str).to_numpy()
    adata.var_names_make_unique()
