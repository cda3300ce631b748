"""GraphST 1.1.1 at the defaults of its DLPFC tutorial ("Tutorial 1: 10X Visium", GraphST docs):
``GraphST.GraphST(adata, device)`` (its own preprocessing: 3,000 seurat_v3 HVGs, normalise,
log1p, scale; 3-NN spatial graph; 600 epochs) then ``clustering(adata, n_clusters, radius=50,
method="mclust", refinement=True)`` (PCA 20 + R mclust EEE, refinement used for DLPFC).
The run's seed replaces GraphST's ``random_seed=41``; mclust keeps GraphST's fixed seed 2020.
"""

from __future__ import annotations

from _runner import main


def cluster(adata, n_domains: int, seed: int) -> list:
    import torch
    from GraphST import GraphST
    from GraphST.utils import clustering

    adata.var_names_make_unique()
    model = GraphST.GraphST(adata, device=torch.device("cpu"), random_seed=seed)
    adata = model.train()
    clustering(adata, n_domains, radius=50, method="mclust", refinement=True)
    return adata.obs["domain"].tolist()


if __name__ == "__main__":
    main(cluster)
