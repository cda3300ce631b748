"""Domain outlines: each spot's hexagon of the Visium grid, merged per domain (shapely).

A spot's cell is its Voronoi cell clipped to its hexagon (circumradius = centre-to-centre
spacing / sqrt(3), oriented along the grid), so on the regular grid the cells are exactly
the hexagons that tile the slide, neighbouring cells share edges (no gaps, no overlaps)
and spots on the tissue border keep a hexagon-sized cell. Coordinates are full-resolution
pixels, like ``obsm['spatial']``.
"""

from __future__ import annotations

import numpy as np
from anndata import AnnData
from scipy.spatial import cKDTree

from ._colors import categories
from ._errors import LayoutError
from ._validation import check_spatial

BORDER_MARGIN = 1.02  # clip hexagons a little larger than the tiling ones: no gaps on jitter


def spot_spacing(coords: np.ndarray) -> float:
    """Median centre-to-centre distance between neighbouring spots."""
    if len(coords) < 2:
        raise LayoutError("the slide has a single spot: domain outlines need at least two spots.")
    distances, _ = cKDTree(coords).query(coords, k=2)
    spacing = float(np.median(distances[:, 1]))
    if spacing <= 0:
        raise LayoutError(
            "most spots share their coordinates with another spot: obsm['spatial'] must hold one "
            "distinct full-resolution (x, y) position per spot."
        )
    return spacing


def grid_angle(coords: np.ndarray, spacing: float) -> float:
    """Angle (radians, modulo 60 degrees) of the lines joining neighbouring spots."""
    distances, neighbours = cKDTree(coords).query(coords, k=7)
    close = (distances > 0) & (distances < 1.25 * spacing)
    rows = np.broadcast_to(np.arange(len(coords))[:, None], close.shape)[close]
    delta = coords[neighbours[close]] - coords[rows]
    sixfold = np.exp(6j * np.arctan2(delta[:, 1], delta[:, 0]))
    return float(np.angle(sixfold.mean()) / 6) if len(sixfold) else 0.0


def hexagon(center: np.ndarray, radius: float, angle: float) -> np.ndarray:
    """Vertices (6, 2) of a hexagon whose edges face the neighbours at ``angle + k * 60``."""
    theta = angle + np.pi / 6 + np.arange(6) * np.pi / 3
    return center + radius * np.column_stack([np.cos(theta), np.sin(theta)])


def spot_cells(coords: np.ndarray) -> list:
    """One shapely polygon per spot, in spot order, tiling the slide without overlap."""
    import shapely

    spacing = spot_spacing(coords)
    angle = grid_angle(coords, spacing)
    radius = spacing / np.sqrt(3) * BORDER_MARGIN
    points = shapely.points(coords)
    if len(np.unique(coords, axis=0)) < len(coords):
        raise LayoutError(
            "some spots share the same coordinates in obsm['spatial']; each spot needs its own "
            "(x, y) position to be outlined. Remove the duplicated spots."
        )
    extent = shapely.box(*(coords.min(0) - 2 * spacing), *(coords.max(0) + 2 * spacing))
    voronoi = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=extent, ordered=True)
    cells = shapely.get_parts(voronoi)
    hexagons = shapely.polygons([hexagon(c, radius, angle) for c in coords])
    return list(shapely.intersection(cells, hexagons))


def domain_shapes(adata: AnnData, key: str) -> dict[str, object]:
    """Merged cell outline (shapely Polygon or MultiPolygon) of each domain of ``obs[key]``.

    Reads ``obsm['spatial']`` and ``obs[key]``; spots with a missing label are left out.
    Returns ``{domain name: geometry}`` in full-resolution pixels, in category order.
    """
    import shapely

    coords = check_spatial(adata)
    labels = adata.obs[key]
    values = labels.astype(str).to_numpy()
    present = labels.notna().to_numpy()
    cells = np.asarray(spot_cells(coords), dtype=object)
    shapes = {}
    for name in categories(adata, key):
        members = present & (values == name)
        if members.any():
            shapes[name] = shapely.make_valid(shapely.union_all(cells[members]))
    return shapes
