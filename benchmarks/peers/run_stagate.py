"""STAGATE (``stagate-modern`` 1.0.0.post1, a packaging of STAGATE_pyG) at the defaults of the
STAGATE_pyG DLPFC tutorial (T1_DLPFC): 3,000 seurat_v3 HVGs, normalise to 1e4, log1p, radius
spatial net ``rad_cutoff=150`` (full-res px), ``train_STAGATE`` defaults (hidden [512, 30],
1,000 epochs, lr 1e-3), then ``mclust_R(adata, used_obsm="STAGATE", num_cluster=7)``: R
``Mclust(emb, K, "EEE")`` after ``set.seed(2020)`` (this package has no ``mclust_R``, so it is
called here the same way). The run's seed replaces ``train_STAGATE``'s ``random_seed=0``.
"""

from __future__ import annotations

from _runner import main, r_mclust


def cluster(adata, n_domains: int, seed: int) -> list:
    import scanpy as sc
    import STAGATE_pyG as STAGATE

    adata.var_names_make_unique()
    sc.pp.highly_variable_genes(adata, flavor="seurat_v3", n_top_genes=3000)
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    STAGATE.Cal_Spatial_Net(adata, rad_cutoff=150, verbose=False)
    adata = STAGATE.train_STAGATE(adata, random_seed=seed, device="cpu", verbose=False)
    return r_mclust(adata.obsm["STAGATE"], n_domains, seed=2020).tolist()


if __name__ == "__main__":
    main(cluster)
