"""Expression-only baselines shared by ``run_pca_leiden.py`` and ``run_pca_gmm.py``: scanpy's
standard preprocessing to a PCA embedding, no spatial information."""

from __future__ import annotations

import numpy as np


def pca_embedding(adata, seed: int) -> np.ndarray:
    """Scanpy tutorial defaults: 3,000 seurat_v3 HVGs on counts (all genes when fewer),
    normalise to 1e4, log1p, scale (max 10), 50-component PCA. Returns ``obsm['X_pca']``."""
    import scanpy as sc

    sc.pp.highly_variable_genes(adata, flavor="seurat_v3", n_top_genes=3000, subset=True)
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.scale(adata, max_value=10)
    sc.pp.pca(adata, n_comps=50, random_state=seed)
    return adata.obsm["X_pca"]
