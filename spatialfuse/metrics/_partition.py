"""Agreement between a labelling and the truth: ARI, NMI, AMI (scikit-learn), ignoring NaN truth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm


def _known(truth: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    truth = pd.Series(np.asarray(truth, dtype=object))
    labels = np.asarray(labels, dtype=object)
    if len(truth) != len(labels):
        raise ValueError(f"truth has {len(truth)} entries but labels {len(labels)}.")
    keep = truth.notna().to_numpy()
    return truth[keep].astype(str).to_numpy(), labels[keep].astype(str)


def _score(metric: Callable[[np.ndarray, np.ndarray], float], truth: Any, labels: Any) -> float:
    truth, labels = _known(truth, labels)
    if truth.size == 0:
        return float("nan")
    return float(metric(truth, labels))


def ari(truth: Any, labels: Any) -> float:
    """Adjusted Rand index; spots whose truth is NaN/None are ignored."""
    return _score(skm.adjusted_rand_score, truth, labels)


def nmi(truth: Any, labels: Any) -> float:
    """Normalised mutual information (arithmetic mean); NaN truth ignored."""
    return _score(skm.normalized_mutual_info_score, truth, labels)


def ami(truth: Any, labels: Any) -> float:
    """Adjusted mutual information; NaN truth ignored."""
    return _score(skm.adjusted_mutual_info_score, truth, labels)
