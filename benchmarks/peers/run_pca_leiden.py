"""Baseline: scanpy PCA + Leiden (15-NN graph), resolution bisected to ``n_domains`` clusters."""

from __future__ import annotations

from _expression import pca_embedding
from _runner import main


def cluster(adata, n_domains: int, seed: int) -> list:
    import scanpy as sc

    pca_embedding(adata, seed)
    sc.pp.neighbors(adata, n_neighbors=15, use_rep="X_pca", random_state=seed)
    low, high = 0.01, 3.0
    for _ in range(40):  # bisection on the resolution; the cluster count grows with it
        resolution = (low + high) / 2
        sc.tl.leiden(
            adata, resolution=resolution, random_state=seed, flavor="igraph", n_iterations=2
        )
        found = adata.obs["leiden"].nunique()
        if found == n_domains:
            break
        low, high = (resolution, high) if found < n_domains else (low, resolution)
    return adata.obs["leiden"].tolist()


if __name__ == "__main__":
    main(cluster)
