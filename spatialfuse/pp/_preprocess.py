"""Normalise, log-transform, select variable genes and compute the PCA gene representation."""

from __future__ import annotations

import numpy as np
import scanpy as sc
from anndata import AnnData

from .. import _keys
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

HVG_FLAVORS = ("seurat", "seurat_v3")


@validate_params(
    {
        "adata": [AnnData],
        "n_top_genes": [POSITIVE_INT, None],
        "flavor": [Options(HVG_FLAVORS)],
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
        BANKSY select; it prefers expressed genes). ``"seurat_v3"`` held up better on DLPFC
        thinned to half its depth and lower on the legacy-ST slides (README, *Performance*).
    n_comps
        Number of principal components.
    target_sum
        Library size after normalisation.
    scale
        Scale the variable genes to unit variance (clipped at 10) before PCA.
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
        hvg_flags = sc.pp.highly_variable_genes(
            adata[:, keep], n_top_genes=n_top, flavor=flavor, inplace=False
        )["highly_variable"].to_numpy()
        adata.var["highly_variable"] = False
        adata.var.loc[adata.var_names[keep], "highly_variable"] = hvg_flags
    sc.pp.normalize_total(adata, target_sum=target_sum)
    sc.pp.log1p(adata)
    if flavor == "seurat":
        sc.pp.highly_variable_genes(adata, n_top_genes=n_top, flavor=flavor, subset=False)
        adata.var["highly_variable"] &= keep
    hvg = adata[:, adata.var["highly_variable"].to_numpy()]
    X = hvg.X.toarray() if hasattr(hvg.X, "toarray") else np.asarray(hvg.X, dtype=np.float32)
    if scale:
        X = sc.pp.scale(X, max_value=10)
    n_comps = min(n_comps, X.shape[0] - 1, X.shape[1] - 1)
    adata.obsm[key_added] = sc.pp.pca(X, n_comps=n_comps, random_state=seed).astype(np.float32)
    adata.uns["spatialfuse_preprocess"] = {
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
