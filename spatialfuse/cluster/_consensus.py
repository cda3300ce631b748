"""Pick, among several labellings of the same spots, the one that agrees most with the others."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
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
