"""Domain map drawn over the tissue image at the right scale, with optional domain outlines."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection

from .. import _keys
from .._colors import domain_colors
from .._shapes import domain_shapes
from ._figure import axes_or_new, finish
from ._spatial import draw_spatial


def domains(
    adata: AnnData,
    *,
    key: str = _keys.DOMAIN,
    library_id: str | None = None,
    image: str | None = "auto",
    outline: bool = False,
    palette: Mapping[str, str] | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes:
    """Draw the domains over the H&E, spots at their true size, with a legend.

    Uses :func:`squidpy.pl.spatial_scatter`, which places spots with the image's scale factor.

    Parameters
    ----------
    adata
        Slide; reads ``obs[key]``, ``obsm['spatial']`` and ``uns['spatial']``. Writes
        ``uns[key + '_colors']`` (see :func:`spatialfuse.pl.domain_colors`); a
        non-categorical ``obs[key]`` is stored as categorical.
    key
        ``obs`` column of domain labels.
    library_id
        Slide to draw; the only one when ``None``.
    image
        In-memory image to draw under the spots (``"hires"``, ``"lowres"``), the best present
        with ``"auto"``, none with ``None``.
    outline
        Draw the boundary of each domain (its merged spot hexagons) in black.
    palette
        ``{domain: colour}`` overriding the stored or default colours.
    title
        Axes title; ``key`` when ``None``.
    ax
        Axes to draw into; a new figure when ``None``.
    show
        Show the figure (default: only when neither ``ax`` nor ``save`` is given).
    save
        Write the figure to this path (PNG, SVG or PDF by suffix), atomically.

    Returns
    -------
    The matplotlib axes.
    """
    if key in adata.obs and not isinstance(adata.obs[key].dtype, pd.CategoricalDtype):
        adata.obs[key] = adata.obs[key].astype("category")
    domain_colors(adata, key, palette)
    ax, new_figure = axes_or_new(ax)
    scale = draw_spatial(
        adata,
        key,
        ax=ax,
        library_id=library_id,
        image=image,
        title=title or key,
        na_color="lightgrey",
    )
    if outline:
        _draw_outlines(ax, domain_shapes(adata, key), scale)
    finish(ax.figure, show=show, save=save, new_figure=new_figure)
    return ax


def _draw_outlines(ax: Axes, shapes: dict, scale: float) -> None:
    import shapely

    rings = []
    for geometry in shapes.values():
        for line in shapely.get_parts(shapely.boundary(geometry)):
            rings.extend(shapely.get_parts(line))
    segments = [shapely.get_coordinates(ring) * scale for ring in rings]
    ax.add_collection(LineCollection(segments, colors="black", linewidths=0.8))
