"""Baseline: scanpy PCA + a full-covariance Gaussian mixture with ``n_domains`` components.

scikit-learn's default ``reg_covar`` (1e-6) is used where the fit succeeds (all DLPFC
sections). On the small legacy-ST slides (176-346 spots, 50 PCs) a component can get too few
spots for a full 50 x 50 covariance and the fit fails ("ill-defined empirical covariance");
there ``reg_covar`` is raised tenfold until it succeeds, as scikit-learn's error suggests.
"""

from __future__ import annotations

import sys

from _expression import pca_embedding
from _runner import main

REG_COVARS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def cluster(adata, n_domains: int, seed: int) -> list:
    from sklearn.mixture import GaussianMixture

    embedding = pca_embedding(adata, seed)
    for reg_covar in REG_COVARS:
        gmm = GaussianMixture(
            n_domains, covariance_type="full", n_init=1, random_state=seed, reg_covar=reg_covar
        )
        try:
            labels = gmm.fit_predict(embedding)
        except ValueError as error:
            if reg_covar == REG_COVARS[-1]:
                raise
            print(f"reg_covar {reg_covar:g}: {error}", file=sys.stderr)
            continue
        print(f"fitted with reg_covar {reg_covar:g}", file=sys.stderr)
        return labels.tolist()
    raise AssertionError("unreachable")


if __name__ == "__main__":
    main(cluster)
