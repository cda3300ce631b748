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
from .._logging import info
from .._settings import resolve_seed
from ._figure import axes_or_new, finish

UMAP_SUFFIX = "_umap"  # obsm[basis + suffix]: 2-D UMAP of obsm[basis]
NEIGHBORS_SUFFIX = "_neighbors"  # uns/obsp prefix of the kNN graph the UMAP is built on


def embedding(
    adata: AnnData,
    *,
    basis: str = _keys.FUSED,
    color: str = _keys.DOMAIN,
    n_neighbors: int = 15,
    seed: int | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes:
    """Scatter the UMAP of ``obsm[basis]`` coloured by ``obs[color]``.

    The UMAP is computed with :func:`scanpy.tl.umap` when ``obsm[basis + '_umap']`` is
    missing; a 2-D ``obsm[basis]`` is drawn as it is.

    Parameters
    ----------
    adata
        Reads ``obsm[basis]`` and ``obs[color]``. Writes, when the UMAP is computed,
        ``obsm[basis + '_umap']``, ``uns[basis + '_neighbors']`` and
        ``obsp[basis + '_neighbors_distances' / '_connectivities']``; for a categorical
        ``color`` also ``uns[color + '_colors']``.
    basis
        ``obsm`` key of the embedding.
    color
        ``obs`` column to colour by (domains by default).
    n_neighbors
        Neighbours of the kNN graph behind the UMAP.
    seed
        UMAP seed; ``sf.settings.seed`` when ``None``.
    ax, show, save
        As in :func:`spatialfuse.pl.domains`.

    Returns
    -------
    The matplotlib axes.
    """
    if basis not in adata.obsm:
        raise LayoutError(
            f"adata.obsm[{basis!r}] is missing (obsm has {list(adata.obsm)}). Run sf.tl.fuse(adata)"
            " first, or pass basis= naming an existing embedding, e.g. basis='X_pca'."
        )
    plotted = basis if np.shape(adata.obsm[basis])[1] == 2 else basis + UMAP_SUFFIX
    if plotted not in adata.obsm:
        neighbors_key = basis + NEIGHBORS_SUFFIX
        sc.pp.neighbors(adata, n_neighbors=n_neighbors, use_rep=basis, key_added=neighbors_key)
        sc.tl.umap(
            adata, neighbors_key=neighbors_key, random_state=resolve_seed(seed), key_added=plotted
        )
        info("added %r (UMAP of %r)", plotted, basis)
    if color in adata.obs and adata.obs[color].dtype.name == "category":
        domain_colors(adata, color)
    ax, new_figure = axes_or_new(ax)
    sc.pl.embedding(adata, basis=plotted, color=color, ax=ax, show=False, frameon=False)
    finish(ax.figure, show=show, save=save, new_figure=new_figure)
    return ax
