"""BANKSY (``pybanksy`` 1.3.5) with its DLPFC settings: k_geom 6 (first-order Visium
neighbours) and lambda 0.2 from the BANKSY R DLPFC vignette (``vignettes/dlpfc-analysis.Rmd``),
library-size normalisation, 3,000 HVGs, scaled-Gaussian decay with the AGF (max_m 1), PCA 20,
Leiden on 50 nearest neighbours from the Banksy_py DLPFC notebook
(``DLPFC_harmony_multisample``); the Leiden resolution is searched by pybanksy itself
(``run_Leiden_partition(max_labels=K)``) to give K clusters. The run's seed is the Leiden
``partition_seed``.

k_geom on legacy ST (square grid) is 4. The vignette's 6 is the first ring of the hexagonal
Visium grid, so the neighbourhood mean (m = 0) averages a spot's direct neighbours; on a
square grid the first ring has 4 spots, and 6 would add 2 of the 4 diagonals, picked by the
jitter of the spot positions. pybanksy builds the AGF (m = 1) on 2 x k_geom neighbours: 12 on
Visium (first ring and half of the second), 8 on ST (the full 3 x 3 block around the spot).
The grid is told apart from ``array_row``/``array_col`` (``_spatial.grid_shape``); positions
are ``obsm['spatial']``.
"""

from __future__ import annotations

from _runner import main
from _spatial import grid_shape

K_GEOM = {"hexagon": 6, "square": 4}
LAMBDA = 0.2
PCA_DIMS = 20


def cluster(adata, n_domains: int, seed: int) -> list:
    import scanpy as sc
    from banksy.cluster_methods import run_Leiden_partition
    from banksy.embed_banksy import generate_banksy_matrix
    from banksy.initialize_banksy import initialize_banksy
    from banksy_utils.umap_pca import pca_umap

    adata.var_names_make_unique()
    sc.pp.highly_variable_genes(adata, flavor="seurat_v3", n_top_genes=3000, subset=True)
    sc.pp.normalize_total(adata)
    adata.obs["x_pixel"] = adata.obsm["spatial"][:, 0]
    adata.obs["y_pixel"] = adata.obsm["spatial"][:, 1]
    adata.obsm["coord_xy"] = adata.obsm["spatial"]
    coord_keys = ("x_pixel", "y_pixel", "coord_xy")
    banksy_dict = initialize_banksy(
        adata,
        coord_keys,
        K_GEOM[grid_shape(adata)],
        nbr_weight_decay="scaled_gaussian",
        max_m=1,
        plt_edge_hist=False,
        plt_nbr_weights=False,
        plt_agf_angles=False,
        plt_theta=False,
    )
    banksy_dict, _ = generate_banksy_matrix(adata, banksy_dict, [LAMBDA], max_m=1, verbose=False)
    pca_umap(banksy_dict, pca_dims=[PCA_DIMS], plt_remaining_var=False, add_umap=False)
    results, _ = run_Leiden_partition(
        banksy_dict,
        [],
        num_nn=50,
        num_iterations=-1,
        partition_seed=seed,
        match_labels=False,
        max_labels=n_domains,
    )
    return list(results.iloc[0]["labels"].dense)


if __name__ == "__main__":
    main(cluster)
