"""Row-wise log-sum-exp for the ``(n, K)`` arrays of the mixture and Potts updates.

scipy's and scikit-learn's versions handle any axis, array namespace and weights; for the
small dense float arrays here that overhead was a fifth of the clustering time, so one
plain numpy version (the usual shift by the row maximum) serves every caller.
"""

from __future__ import annotations

import numpy as np


def logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """``log(sum_k exp(a_ik))`` as an ``(n, 1)`` column, stable for large ``|a|``."""
    shift = a.max(axis=1, keepdims=True)
    shift[~np.isfinite(shift)] = 0.0
    with np.errstate(divide="ignore"):
        return np.log(np.exp(a - shift).sum(axis=1, keepdims=True)) + shift


def log_softmax_rows(a: np.ndarray) -> np.ndarray:
    """``a_ik - log(sum_k exp(a_ik))``: each row's log posterior."""
    return a - logsumexp_rows(a)
