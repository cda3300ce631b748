"""Dot plot of the marker genes of each domain (scanpy ``rank_genes_groups_dotplot``)."""

from __future__ import annotations

from pathlib import Path

import scanpy as sc
from anndata import AnnData
from matplotlib.axes import Axes

from .. import _keys
from .._errors import LayoutError
from ._figure import axes_or_new, finish


def markers(
    adata: AnnData,
    *,
    key: str = _keys.MARKERS,
    n_genes: int = 3,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes:
    """Dot plot of the top ``n_genes`` markers of each domain: mean expression and fraction.

    Parameters
    ----------
    adata
        Reads ``uns[key]`` (written by :func:`spatialfuse.tl.domain_markers`), the domain
        column it was ranked on (``uns[key]['params']['groupby']``) and ``X``
        (log-normalised expression, as after :func:`spatialfuse.pp.preprocess`).
    key
        ``uns`` key of the rank_genes_groups result.
    n_genes
        Markers shown per domain.
    ax, show, save
        As in :func:`spatialfuse.pl.domains`.

    Returns
    -------
    The matplotlib axes of the dots.
    """
    if key not in adata.uns or "names" not in adata.uns[key]:
        raise LayoutError(
            f"adata.uns[{key!r}] is missing: run sf.tl.domain_markers(adata) first to rank the "
            "marker genes of each domain, or pass key= naming a rank_genes_groups result."
        )
    groupby = adata.uns[key]["params"]["groupby"]
    if groupby not in adata.obs:
        raise LayoutError(
            f"the markers in uns[{key!r}] were ranked on obs[{groupby!r}], which is missing: run "
            "sf.tl.domain_markers(adata) again on the current domains."
        )
    ax, new_figure = axes_or_new(ax, figsize=(max(6.0, 0.5 * n_genes * 8), 4))
    axes = sc.pl.rank_genes_groups_dotplot(
        adata, key=key, groupby=groupby, n_genes=n_genes, dendrogram=False, ax=ax, show=False
    )
    finish(ax.figure, show=show, save=save, new_figure=new_figure)
    return axes["mainplot_ax"]
