"""Per-spot modality weight of the fusion, drawn over the tissue image."""

from __future__ import annotations

from pathlib import Path

from anndata import AnnData
from matplotlib.axes import Axes

from .. import _keys
from .._errors import LayoutError
from ._figure import axes_or_new, finish
from ._spatial import draw_spatial


def fusion_weights(
    adata: AnnData,
    *,
    key: str = _keys.FUSION_WEIGHT_IMAGE,
    library_id: str | None = None,
    image: str | None = "auto",
    cmap: str = "viridis",
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes:
    """Map the weight the fusion gave the image branch at each spot (0: genes only, 1: image).

    Parameters
    ----------
    adata
        Reads ``obs[key]`` (written by :func:`spatialfuse.tl.fuse`), ``obsm['spatial']`` and
        ``uns['spatial']``.
    key
        ``obs`` column of the weights, ``'fusion_weight_image'`` by default
        (``'fusion_weight_gene'`` for the expression branch).
    library_id, image, ax, show, save
        As in :func:`spatialfuse.pl.domains`.
    cmap
        Matplotlib colour map.

    Returns
    -------
    The matplotlib axes.
    """
    if key not in adata.obs:
        raise LayoutError(
            f"adata.obs[{key!r}] is missing: the per-spot modality weights are written by "
            "sf.tl.fuse(adata) (attention fusion). Run it first, or pass key= naming a column."
        )
    ax, new_figure = axes_or_new(ax)
    draw_spatial(
        adata, key, ax=ax, library_id=library_id, image=image, title=key, cmap=cmap, vmin=0, vmax=1
    )
    finish(ax.figure, show=show, save=save, new_figure=new_figure)
    return ax
