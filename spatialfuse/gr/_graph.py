"""Build the sparse spatial neighbour graph with squidpy, per slide."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy.spatial import cKDTree

from .. import _keys
from .._imports import import_squidpy
from .._logging import info
from .._params import (
    FLAG,
    POSITIVE_INT,
    Options,
    validate_params,
)
from .._validation import check_spatial


def _spot_pitch(coords: np.ndarray, array_rc: np.ndarray | None) -> float:
    """Full-resolution distance between adjacent spots.

    With the array grid (``array_row``, ``array_col``), each spot's nearest neighbour gives one
    estimate, its pixel distance over its distance on the hexagonal grid (in pitches), so the
    estimate holds however many spots are missing. Without it, the median nearest-neighbour
    distance.
    """
    coords = coords[:, :2]
    if coords.shape[0] < 2:
        return 1.0
    distances, neighbour = cKDTree(coords).query(coords, k=2)
    if array_rc is None:
        return float(np.median(distances[:, 1]))
    grid = np.column_stack([array_rc[:, 1] * 0.5, array_rc[:, 0] * np.sqrt(3) / 2])
    steps = np.linalg.norm(grid - grid[neighbour[:, 1]], axis=1)
    valid = steps > 0
    if not valid.any():
        return float(np.median(distances[:, 1]))
    return float(np.median(distances[valid, 1] / steps[valid]))


@validate_params(
    {
        "adata": [AnnData],
        "n_rings": [POSITIVE_INT],
        "coord_type": [Options(("grid", "generic")), None],
        "n_neighs": [POSITIVE_INT, None],
        "library_key": [str, None],
        "copy": FLAG,
    }
)
def spatial_graph(
    adata: AnnData,
    *,
    n_rings: int = 1,
    coord_type: Literal["grid", "generic"] | None = None,
    n_neighs: int | None = None,
    library_key: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Build the spot neighbour graph with :func:`squidpy.gr.spatial_neighbors`.

    Visium slides (``obs['array_row']`` present) get the hexagonal grid graph with ``n_rings``
    rings of 6 neighbours: a radius graph of ``n_rings`` spot pitches (the median
    nearest-neighbour distance), which stays symmetric and local at tissue edges and holes.
    Other data get a k-nearest-neighbour graph. With ``library_key`` no edge joins two slides.

    Parameters
    ----------
    adata
        Slide(s) with ``obsm['spatial']``.
    n_rings
        Rings of hexagonal neighbours (grid graphs).
    coord_type
        ``"grid"`` or ``"generic"``; inferred when ``None``.
    n_neighs
        Neighbours per spot of a generic graph (default 6).
    library_key
        ``obs`` column naming the slide of each spot, for several slides in one AnnData
        (made categorical when it is not).
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` or the copy. Writes ``obsp['spatial_connectivities']``,
    ``obsp['spatial_distances']`` and ``uns['spatial_neighbors']`` (squidpy's keys).
    """
    sq = import_squidpy()

    check_spatial(adata)
    adata = adata.copy() if copy else adata
    if library_key is not None and not isinstance(
        adata.obs[library_key].dtype, pd.CategoricalDtype
    ):
        adata.obs[library_key] = adata.obs[library_key].astype(str).astype("category")
        info("made obs[%r] categorical (squidpy groups slides by its categories)", library_key)
    if coord_type is None:
        coord_type = "grid" if "array_row" in adata.obs else "generic"
    if coord_type == "grid":
        # ring r of a hex grid lies within r pitches; ring r + 1 starts at sqrt(3) r pitches
        coords = np.asarray(adata.obsm[_keys.SPATIAL], dtype=float)
        slides = adata.obs[library_key].to_numpy() if library_key else np.zeros(adata.n_obs)
        has_grid = {"array_row", "array_col"} <= set(adata.obs.columns)
        array_rc = adata.obs[["array_row", "array_col"]].to_numpy(float) if has_grid else None
        pitch = np.median(
            [
                _spot_pitch(
                    coords[slides == slide], None if array_rc is None else array_rc[slides == slide]
                )
                for slide in np.unique(slides)
            ]
        )
        radius = n_rings * float(pitch) * 1.05
        sq.gr.spatial_neighbors_radius(adata, radius=radius, library_key=library_key)
    else:
        sq.gr.spatial_neighbors_knn(adata, n_neighs=n_neighs or 6, library_key=library_key)
    graph = adata.obsp[_keys.SPATIAL_CONNECTIVITIES]
    info(
        "added %r (%s graph, %.1f neighbours per spot on average, adata.obsp)",
        _keys.SPATIAL_CONNECTIVITIES,
        coord_type,
        graph.nnz / max(adata.n_obs, 1),
    )
    return adata if copy else None
