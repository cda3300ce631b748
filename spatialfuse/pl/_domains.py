"""Domain map drawn over the tissue image at the right scale."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from anndata import AnnData
from matplotlib.axes import Axes

from .. import _keys
from .._atomic import atomic_path
from .._validation import available_images, get_library_id


def domains(
    adata: AnnData,
    *,
    key: str = _keys.DOMAIN,
    library_id: str | None = None,
    image: str | None = "auto",
    outline: bool = False,
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
        Slide with ``obs[key]`` and ``obsm['spatial']``.
    key
        Categorical ``obs`` column to colour by.
    library_id
        Slide to draw; the only one when ``None``.
    image
        In-memory image to draw under the spots (``"hires"``, ``"lowres"``), the best present
        with ``"auto"``, none with ``None``.
    outline
        Outline spots (helps to see domain boundaries).
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
    import squidpy as sq

    library_id = get_library_id(adata, library_id)
    in_memory = [
        name for name in available_images(adata, library_id) if name in ("hires", "lowres")
    ]
    res = in_memory[0] if (image == "auto" and in_memory) else image
    draw_image = res not in (None, "auto")
    new_figure = ax is None
    if new_figure:
        _, ax = plt.subplots(figsize=(6, 6))
    sq.pl.spatial_scatter(
        adata,
        color=key,
        library_id=library_id,
        img=draw_image,
        img_res_key=res if draw_image else "lowres",
        shape="circle",
        outline=outline,
        title=title or key,
        ax=ax,
        frameon=False,
    )
    if save is not None:
        save = Path(save)
        with atomic_path(save) as tmp:
            ax.figure.savefig(tmp, dpi=150, bbox_inches="tight", format=save.suffix.lstrip("."))
    if show or (show is None and save is None and new_figure):
        plt.show()
    return ax
