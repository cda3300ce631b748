"""Spots drawn over the tissue image at the image's scale (squidpy ``spatial_scatter``)."""

from __future__ import annotations

from anndata import AnnData
from matplotlib.axes import Axes

from .._imports import import_squidpy
from .._validation import get_library_id, image_scale, resolve_image


def draw_spatial(
    adata: AnnData,
    color: str,
    *,
    ax: Axes,
    library_id: str | None,
    image: str | None,
    title: str,
    **scatter_kwargs,
) -> float:
    """Draw ``obs[color]`` per spot (true spot size) over the image; return its scale.

    The axes are in pixels of the drawn image: full-resolution coordinates times the
    returned scale (1 when no image is drawn).
    """
    sq = import_squidpy()

    library_id = get_library_id(adata, library_id)
    res = resolve_image(adata, library_id, image)
    scale = image_scale(adata, library_id, res) if res is not None else 1.0
    sq.pl.spatial_scatter(
        adata,
        color=color,
        library_id=library_id,
        img=res is not None,
        img_res_key=res or "lowres",
        scale_factor=scale,
        shape="circle",
        title=title,
        ax=ax,
        frameon=False,
        **scatter_kwargs,
    )
    return scale
