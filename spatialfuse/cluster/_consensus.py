"""Combine several runs on the same spots: the most agreeing labelling, the mean posterior."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score


def most_agreeing(labelings: Sequence[np.ndarray]) -> tuple[int, np.ndarray]:
    """Index of the labelling with the highest mean ARI to the others (the medoid partition).

    Runs that differ only by their random seed mostly land in one mode and sometimes in a
    worse local optimum (a layer split in two, two layers merged); the medoid is a typical
    member of the main mode. The choice uses the labellings alone, never a ground truth.
    Ties go to the earliest labelling.

    Parameters
    ----------
    labelings
        Two or more label arrays of the same length.

    Returns
    -------
    The chosen index, and the ``(R, R)`` matrix of pairwise ARI (ones on the diagonal).
    """
    if len(labelings) < 2:
        raise ValueError(f"most_agreeing needs at least 2 labellings, got {len(labelings)}.")
    n_runs = len(labelings)
    agreement = np.eye(n_runs)
    for i in range(n_runs):
        for j in range(i + 1, n_runs):
            agreement[i, j] = agreement[j, i] = adjusted_rand_score(labelings[i], labelings[j])
    mean_to_others = (agreement.sum(axis=1) - 1) / (n_runs - 1)
    return int(np.argmax(mean_to_others)), agreement


def mean_aligned_posterior(probas: Sequence[np.ndarray], reference: int) -> np.ndarray:
    """Average several runs' posterior probabilities after matching their domains.

    Each run's columns are permuted to the domains of ``probas[reference]`` they overlap most
    (Hungarian assignment on the soft contingency table ``P_run.T @ P_reference``), then the
    runs are averaged. Domains found by most runs keep their spots; a spot on which runs
    disagree goes to the domain with the most posterior mass over all runs.

    Parameters
    ----------
    probas
        ``(n_spots, K)`` posterior probabilities of each run, same ``n_spots`` and ``K``.
    reference
        Index of the run whose domain order the result follows.

    Returns
    -------
    The ``(n_spots, K)`` mean of the aligned posteriors.
    """
    target = np.asarray(probas[reference], dtype=np.float64)
    if any(np.shape(p) != target.shape for p in probas):
        raise ValueError("mean_aligned_posterior needs posteriors of one shape (spots, domains).")
    total = np.zeros_like(target)
    for proba in probas:
        proba = np.asarray(proba, dtype=np.float64)
        rows, cols = linear_sum_assignment(proba.T @ target, maximize=True)
        total[:, cols] += proba[:, rows]
    return total / len(probas)
