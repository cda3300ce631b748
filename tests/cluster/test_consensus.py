"""Combining runs: the medoid labelling and the mean of aligned posteriors."""

from __future__ import annotations

import numpy as np
import pytest

from spatialfuse.cluster import mean_aligned_posterior, most_agreeing


def one_hot(labels: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k)[labels]


def test_the_medoid_is_the_labelling_closest_to_the_others():
    truth = np.repeat([0, 1, 2], 20)
    renamed = (truth + 1) % 3  # same partition, other names
    noisy = truth.copy()
    noisy[:6] = 1
    merged = np.minimum(truth, 1)
    kept, agreement = most_agreeing([merged, noisy, renamed, truth])
    assert kept == 2  # ties go to the earliest of the identical partitions
    assert agreement[2, 3] == pytest.approx(1.0)
    assert np.allclose(agreement, agreement.T)
    with pytest.raises(ValueError, match="at least 2"):
        most_agreeing([truth])


def test_posteriors_are_matched_before_they_are_averaged():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, 200)
    reference = one_hot(truth, 4) * 0.7 + 0.075
    permuted = reference[:, [2, 0, 3, 1]]  # the same run with its domains renamed
    mean = mean_aligned_posterior([reference, permuted, reference], reference=0)
    np.testing.assert_allclose(mean, reference)
    # a run that moved 20 spots to another domain is outvoted by two that agree
    moved = truth.copy()
    moved[:20] = (moved[:20] + 1) % 4
    mean = mean_aligned_posterior(
        [one_hot(moved, 4), one_hot(truth, 4)[:, [1, 2, 3, 0]], one_hot(truth, 4)], reference=2
    )
    assert (mean.argmax(axis=1) == truth).all()
    np.testing.assert_allclose(mean.sum(axis=1), 1)
    with pytest.raises(ValueError, match="one shape"):
        mean_aligned_posterior([reference, reference[:, :3]], reference=0)
