"""Gaussian mixture components: initial fit, weighted M-step and per-component log densities.

scikit-learn's :class:`~sklearn.mixture.GaussianMixture` gives the initial fit; its module
helpers compute the weighted parameter estimates and log densities for the four
covariance structures, so the HMRF EM reuses exactly the same maths. They are private
scikit-learn functions, used only here, so a change there is a one-file fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.mixture import GaussianMixture
from sklearn.mixture._gaussian_mixture import (
    _compute_log_det_cholesky,
    _compute_precision_cholesky,
    _estimate_gaussian_parameters,
    _estimate_log_gaussian_prob,
)

from ._logspace import logsumexp_rows

Covariance = Literal["tied", "full", "diag", "spherical"]
COVARIANCE_TYPES: tuple[str, ...] = ("tied", "full", "diag", "spherical")
MCLUST_NAMES = {"tied": "EEE", "full": "VVV", "diag": "VVI", "spherical": "VII"}


@dataclass
class GaussianComponents:
    """Mixture weights, means and covariances of ``K`` Gaussian components."""

    covariance: str
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray

    @property
    def n_parameters(self) -> int:
        """Number of free parameters (as in :meth:`GaussianMixture._n_parameters`)."""
        n_components, n_features = self.means.shape
        n_cov = {
            "full": n_components * n_features * (n_features + 1) / 2.0,
            "tied": n_features * (n_features + 1) / 2.0,
            "diag": n_components * n_features,
            "spherical": n_components,
        }[self.covariance]
        return int(n_cov + n_components * n_features + n_components - 1)


def fit_components(
    X: np.ndarray, resp: np.ndarray, covariance: str, reg_covar: float
) -> GaussianComponents:
    """M-step: weights, means and covariances weighted by the responsibilities ``resp``."""
    nk, means, covariances = _estimate_gaussian_parameters(X, resp, reg_covar, covariance)
    return GaussianComponents(
        covariance=covariance,
        weights=nk / nk.sum(),
        means=means,
        covariances=covariances,
        precisions_cholesky=_compute_precision_cholesky(covariances, covariance),
    )


def _log_gaussian_prob(
    X: np.ndarray, means: np.ndarray, precisions_chol: np.ndarray, covariance: str
) -> np.ndarray:
    """scikit-learn's ``_estimate_log_gaussian_prob``, faster for a tied covariance.

    With one precision factor ``P`` for every component, the squared Mahalanobis distance
    ``|xP - mu P|^2`` expands into ``|xP|^2 - 2 (xP)(mu P)' + |mu P|^2``: one whitening and
    one matrix product instead of an ``(n, d)`` difference per component (that loop
    dominated the clustering). Equal to scikit-learn's up to rounding (1e-13 here).
    """
    if covariance != "tied":
        return _estimate_log_gaussian_prob(X, means, precisions_chol, covariance)
    n_features = X.shape[1]
    whitened = X @ precisions_chol
    centres = means @ precisions_chol
    squared = (
        np.einsum("ij,ij->i", whitened, whitened)[:, None]
        - 2.0 * (whitened @ centres.T)
        + np.einsum("ij,ij->i", centres, centres)[None, :]
    )
    np.maximum(squared, 0.0, out=squared)  # rounding below an exact zero distance
    log_det = _compute_log_det_cholesky(precisions_chol, covariance, n_features)
    return -0.5 * (n_features * math.log(2 * math.pi) + squared) + log_det


class _GaussianMixture(GaussianMixture):
    """:class:`~sklearn.mixture.GaussianMixture` with :func:`_log_gaussian_prob` and
    :func:`logsumexp_rows`: the same EM; with both, the clustering of a 4k-spot slide took
    40 % less time."""

    def _estimate_log_prob(self, X: np.ndarray, xp: object = None) -> np.ndarray:
        return _log_gaussian_prob(X, self.means_, self.precisions_cholesky_, self.covariance_type)

    def _estimate_log_prob_resp(
        self, X: np.ndarray, xp: object = None
    ) -> tuple[np.ndarray, np.ndarray]:
        weighted = self._estimate_weighted_log_prob(X)
        norm = logsumexp_rows(weighted)
        return norm.ravel(), weighted - norm


def log_densities(X: np.ndarray, components: GaussianComponents) -> np.ndarray:
    """``log N(x_i | mu_k, Sigma_k)`` as an ``(n, K)`` array."""
    return _log_gaussian_prob(
        X, components.means, components.precisions_cholesky, components.covariance
    )


def initial_mixture(
    X: np.ndarray,
    n_components: int,
    covariance: str,
    *,
    n_init: int,
    reg_covar: float,
    seed: int,
) -> tuple[GaussianMixture, np.ndarray]:
    """Fit a plain Gaussian mixture (best of ``n_init`` k-means starts) and its posteriors."""
    gmm = _GaussianMixture(
        n_components=n_components,
        covariance_type=covariance,
        n_init=n_init,
        reg_covar=reg_covar,
        random_state=seed,
    ).fit(X)
    return gmm, gmm.predict_proba(X)
