"""UMAP of the fused embedding, coloured by domain (scanpy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scanpy as sc
from anndata import AnnData
from matplotlib.axes import Axes

from .. import _keys
from .._colors import domain_colors
from .._errors import LayoutError
from .._validation import check_embedding
from ._figure import axes_or_new, finish


def plotted_basis(adata: AnnData, basis: str) -> str:
    """The 2-D ``obsm`` key that draws ``basis``: itself when 2-D, else its UMAP."""
    check_embedding(adata, basis)
    if np.shape(adata.obsm[basis])[1] == 2:
        return basis
    umap_key = basis + _keys.UMAP_SUFFIX
    if umap_key not in adata.obsm:
        raise LayoutError(
            f"adata.obsm[{umap_key!r}] is missing: plots only draw. Compute the UMAP first with "
            f"sf.tl.umap(adata, basis={basis!r})."
        )
    return umap_key


def embedding(
    adata: AnnData,
    *,
    basis: str = _keys.FUSED,
    color: str = _keys.DOMAIN,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes:
    """Scatter the UMAP of ``obsm[basis]`` (from :func:`sf.tl.umap`) coloured by ``obs[color]``.

    A 2-D ``obsm[basis]`` is drawn as it is. Plots only draw: compute the UMAP first with
    ``sf.tl.umap(adata, basis=basis)``.

    Parameters
    ----------
    adata
        Reads ``obsm[basis + '_umap']`` (or a 2-D ``obsm[basis]``) and ``obs[color]``; for a
        categorical ``color`` sets ``uns[color + '_colors']`` (scanpy's colour key).
    basis
        ``obsm`` key of the embedding.
    color
        ``obs`` column to colour by (domains by default).
    ax, show, save
        As in :func:`spatialfuse.pl.domains`.

    Returns
    -------
    The matplotlib axes.
    """
    plotted = plotted_basis(adata, basis)
    if color in adata.obs and adata.obs[color].dtype.name == "category":
        domain_colors(adata, color)
    ax, new_figure = axes_or_new(ax)
    sc.pl.embedding(adata, basis=plotted, color=color, ax=ax, show=False, frameon=False)
    finish(ax.figure, show=show, save=save, new_figure=new_figure)
    return ax
