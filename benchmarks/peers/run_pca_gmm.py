"""Baseline: scanpy PCA + a full-covariance Gaussian mixture with ``n_domains`` components."""

from __future__ import annotations

from _expression import pca_embedding
from _runner import main


def cluster(adata, n_domains: int, seed: int) -> list:
    from sklearn.mixture import GaussianMixture

    embedding = pca_embedding(adata, seed)
    gmm = GaussianMixture(n_domains, covariance_type="full", n_init=1, random_state=seed)
    return gmm.fit_predict(embedding).tolist()


if __name__ == "__main__":
    main(cluster)
