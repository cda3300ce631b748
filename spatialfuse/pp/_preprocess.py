"""Normalise, log-transform, select variable genes and compute the PCA gene representation."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import scanpy as sc
import scipy.sparse as sp
from anndata import AnnData
from dask import delayed

from .. import _keys
from .._errors import InputError
from .._logging import info
from .._params import (
    FLAG,
    KEY,
    POSITIVE_INT,
    POSITIVE_REAL,
    SEED,
    Options,
    validate_params,
)
from .._settings import resolve_seed
from .._validation import check_counts
from ..cluster import neighbourhood_operator

HVG_FLAVORS = ("seurat", "seurat_v3", "spatial")
AVERAGE_BLOCK_VALUES = 2**22  # values per block of the neighbourhood average (32 MiB)


def _top_genes(adata: AnnData, n_top: int, flavor: str) -> np.ndarray:
    """Flags of the ``n_top`` most variable genes by scanpy's ``flavor``."""
    table = sc.pp.highly_variable_genes(adata, n_top_genes=n_top, flavor=flavor, inplace=False)
    return table["highly_variable"].to_numpy()


def _neighbourhood_average(adata: AnnData, graph_key: str) -> AnnData:
    """The log data averaged over each spot and its neighbours in ``obsp[graph_key]``, as a
    dask array of dense blocks of genes computed one at a time when read (an averaged sparse
    matrix would hold several times the nonzeros of ``X``)."""
    if graph_key not in adata.obsp:
        raise InputError(
            f"flavor='spatial' ranks genes on the spatial graph adata.obsp[{graph_key!r}], which "
            "is missing; build it first with sf.gr.spatial_graph(adata)."
        )
    average = neighbourhood_operator(adata.obsp[graph_key])
    X = sp.csc_matrix(adata.X) if sp.issparse(adata.X) else np.asarray(adata.X)
    width = max(1, AVERAGE_BLOCK_VALUES // max(adata.n_obs, 1))

    def block(start: int) -> np.ndarray:
        part = average @ X[:, start : start + width]
        return part.toarray() if sp.issparse(part) else np.asarray(part)

    blocks = [
        da.from_delayed(
            delayed(block)(start),
            shape=(adata.n_obs, min(width, adata.n_vars - start)),
            dtype=np.float64,
        )
        for start in range(0, adata.n_vars, width)
    ]
    return AnnData(da.concatenate(blocks, axis=1), var=adata.var[[]].copy())


@validate_params(
    {
        "adata": [AnnData],
        "n_top_genes": [POSITIVE_INT, None],
        "flavor": [Options(HVG_FLAVORS)],
        "graph_key": KEY,
        "n_comps": [POSITIVE_INT],
        "target_sum": [POSITIVE_REAL],
        "scale": FLAG,
        "key_added": KEY,
        "seed": SEED,
        "copy": FLAG,
    }
)
def preprocess(
    adata: AnnData,
    *,
    n_top_genes: int = 3000,
    flavor: str = "seurat",
    n_comps: int = 30,
    target_sum: float = 1e4,
    scale: bool = True,
    graph_key: str = _keys.SPATIAL_CONNECTIVITIES,
    key_added: str = _keys.PCA,
    seed: int | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Compute the gene representation used by the fusion model, as scanpy does it.

    Keeps raw counts in ``layers['counts']``, normalises each spot to ``target_sum``,
    log1p-transforms, flags ``n_top_genes`` highly variable genes (scanpy's Seurat flavour
    on the log data by default), optionally scales them, and runs PCA on them.

    Parameters
    ----------
    adata
        Slide with raw counts in ``X``.
    n_top_genes
        Number of highly variable genes; all genes are used when the slide has fewer.
    flavor
        How they are ranked (:func:`scanpy.pp.highly_variable_genes`): ``"seurat"``
        (dispersion on the log data, the default: it ranks weakly expressed genes high) or
        ``"seurat_v3"`` (standardised variance of the raw counts, as STAGATE, GraphST and
        BANKSY select; it prefers expressed genes) or ``"spatial"`` (the ``"seurat"``
        dispersion of the log data averaged over each spot and its neighbours in
        ``obsp[graph_key]``: variation that neighbouring spots do not share, such as
        sampling noise of weakly expressed genes, averages out, so genes that vary from region
        to region rank first; the components are still computed from the spots' own values).
        Which ranking suits a slide was measured to differ (README, *Performance*);
        :func:`sf.tl.spatial_domains` tries ``"seurat"`` and ``"spatial"`` and keeps the one
        whose domains are spatially more coherent.
    n_comps
        Number of principal components.
    target_sum
        Library size after normalisation.
    scale
        Scale the variable genes to unit variance (clipped at 10) before PCA.
    graph_key
        ``obsp`` key of the spatial graph ``flavor="spatial"`` averages over
        (:func:`sf.gr.spatial_graph`).
    key_added
        ``obsm`` key of the PCA representation.
    seed
        Random seed of the PCA solver (``sf.settings.seed`` when ``None``).
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None``, or the copy when ``copy=True``. Writes ``layers['counts']``, log-normalised
    ``X``, ``var['highly_variable']``, ``obsm[key_added]`` and ``uns['spatialfuse_preprocess']``.
    """
    check_counts(adata)
    adata = adata.copy() if copy else adata
    seed = resolve_seed(seed)
    if _keys.COUNTS_LAYER not in adata.layers:
        adata.layers[_keys.COUNTS_LAYER] = adata.X.copy()
    keep = np.asarray(adata.X.sum(axis=0)).ravel() > 0
    n_top = min(n_top_genes, int(keep.sum()))
    if flavor == "seurat_v3":  # ranked on the counts, kept aside before normalising
        flags = np.zeros(adata.n_vars, dtype=bool)
        flags[keep] = _top_genes(adata[:, keep], n_top, flavor)
    sc.pp.normalize_total(adata, target_sum=target_sum)
    sc.pp.log1p(adata)
    if flavor != "seurat_v3":  # dispersion of the log data, or of its neighbourhood average
        if flavor == "spatial":
            with dask.config.set(scheduler="synchronous"):  # one block in memory at a time
                flags = _top_genes(_neighbourhood_average(adata, graph_key), n_top, "seurat")
        else:
            flags = _top_genes(adata, n_top, "seurat")
        flags &= keep
    adata.var["highly_variable"] = flags
    hvg = adata[:, adata.var["highly_variable"].to_numpy()]
    X = hvg.X.toarray() if hasattr(hvg.X, "toarray") else np.asarray(hvg.X, dtype=np.float32)
    if scale:
        X = sc.pp.scale(X, max_value=10)
    n_comps = min(n_comps, X.shape[0] - 1, X.shape[1] - 1)
    adata.obsm[key_added] = sc.pp.pca(X, n_comps=n_comps, random_state=seed).astype(np.float32)
    adata.uns[_keys.PREPROCESS] = {
        "params": {
            "n_top_genes": n_top,
            "flavor": flavor,
            "n_comps": n_comps,
            "target_sum": target_sum,
            "scale": scale,
            "seed": seed,
            "key_added": key_added,
        }
    }
    info("added %r (PCA of %d variable genes, adata.obsm)", key_added, n_top)
    return adata if copy else None
