"""A 2-D UMAP of an embedding, for :func:`sf.pl.embedding` to draw."""

from __future__ import annotations

from numbers import Integral

import scanpy as sc
from anndata import AnnData

from .. import _keys
from .._logging import info
from .._params import (
    FLAG,
    KEY,
    SEED,
    Interval,
    validate_params,
)
from .._settings import resolve_seed
from .._validation import check_embedding

UMAP_SUFFIX, NEIGHBORS_SUFFIX = _keys.UMAP_SUFFIX, _keys.NEIGHBORS_SUFFIX


@validate_params(
    {
        "adata": [AnnData],
        "basis": KEY,
        "n_neighbors": [Interval(Integral, 2, None, closed="left")],
        "seed": SEED,
        "copy": FLAG,
    }
)
def umap(
    adata: AnnData,
    *,
    basis: str = _keys.FUSED,
    n_neighbors: int = 15,
    seed: int | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Compute the UMAP of ``obsm[basis]`` (:func:`scanpy.tl.umap` on its kNN graph).

    Parameters
    ----------
    adata
        Reads ``obsm[basis]``.
    basis
        ``obsm`` key of the embedding (the fused one by default).
    n_neighbors
        Neighbours of the kNN graph behind the UMAP.
    seed
        UMAP seed; ``sf.settings.seed`` when ``None``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` or the copy. Writes ``obsm[basis + '_umap']``, ``uns[basis + '_neighbors']`` and
    ``obsp[basis + '_neighbors_distances' / '_connectivities']``.
    """
    check_embedding(adata, basis)
    adata = adata.copy() if copy else adata
    neighbors_key = basis + NEIGHBORS_SUFFIX
    sc.pp.neighbors(adata, n_neighbors=n_neighbors, use_rep=basis, key_added=neighbors_key)
    sc.tl.umap(
        adata,
        neighbors_key=neighbors_key,
        random_state=resolve_seed(seed),
        key_added=basis + UMAP_SUFFIX,
    )
    info("added %r (UMAP of %r, adata.obsm)", basis + UMAP_SUFFIX, basis)
    return adata if copy else None
