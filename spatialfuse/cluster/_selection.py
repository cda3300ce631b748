"""Choose the number of domains by the BIC of a plain Gaussian mixture over a range."""

from __future__ import annotations

import numpy as np

from ._gaussian import initial_mixture


def select_n_domains(
    X: np.ndarray,
    n_domains_range: tuple[int, int],
    *,
    covariance: str = "tied",
    n_init: int = 3,
    reg_covar: float = 1e-6,
    seed: int = 0,
) -> tuple[int, dict[int, float]]:
    """Return the ``K`` in ``n_domains_range`` (inclusive) with the lowest mixture BIC.

    BIC (``-2 log L + p log n``, as mclust but with the opposite sign) is that of a plain
    Gaussian mixture of the same covariance structure as the HMRF will use; the spatial
    prior does not change the number of mixture parameters.

    Returns
    -------
    The chosen ``K`` and ``{K: BIC}`` for every ``K`` tried, so the choice can be inspected.
    """
    low, high = n_domains_range
    X = np.asarray(X, dtype=np.float64)
    scores = {}
    for k in range(low, high + 1):
        gmm, _ = initial_mixture(X, k, covariance, n_init=n_init, reg_covar=reg_covar, seed=seed)
        scores[k] = float(gmm.bic(X))
    best = min(scores, key=scores.__getitem__)
    return best, scores
