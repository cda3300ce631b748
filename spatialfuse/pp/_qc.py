"""Quality control of the count matrix."""

from __future__ import annotations

import numpy as np
from anndata import AnnData

from .._logging import info


def drop_empty(adata: AnnData) -> AnnData:
    """Drop the spots and genes without any count, saying how many.

    Parameters
    ----------
    adata
        Slide with counts in ``X``.

    Returns
    -------
    ``adata`` itself when nothing is empty, else a new AnnData without the empty spots and
    genes (a spot with no counts cannot be normalised; a gene with none carries nothing).
    """
    spot_total = np.asarray(adata.X.sum(axis=1)).ravel()
    gene_total = np.asarray(adata.X.sum(axis=0)).ravel()
    spots, genes = spot_total > 0, gene_total > 0
    if spots.all() and genes.all():
        return adata
    if not spots.all():
        info("dropped %d of %d spots with zero counts", int((~spots).sum()), adata.n_obs)
    if not genes.all():
        info("dropped %d of %d genes with zero counts", int((~genes).sum()), adata.n_vars)
    return adata[spots][:, genes].copy()
