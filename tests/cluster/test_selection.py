import numpy as np
import pytest

from spatialfuse.cluster import consensus_hmrf, hmrf_gmm, select_n_domains


def test_stability_finds_the_planted_number_of_domains(make_planted):
    X, graph, truth = make_planted(30, 4, noise=0.5)
    best, scores, consensus = select_n_domains(X, graph, (2, 7), [0, 1, 2], n_init=1)
    assert best == 4
    assert sorted(scores) == [2, 3, 4, 5, 6, 7]
    assert scores[4] == pytest.approx(1.0)
    assert scores[3] < 0.9  # which two bands merge depends on the start
    assert consensus.proba.shape == (truth.size, 4)


def test_a_k_with_an_emptied_domain_is_not_chosen(make_planted):
    # beyond 4 domains the extra mixture components empty out: perfectly stable, not chosen
    X, graph, _ = make_planted(30, 4, noise=0.5)
    best, scores, _ = select_n_domains(X, graph, (4, 6), [0, 1, 2], n_init=1, tolerance=0.5)
    assert scores[6] > 0.95 and best == 4


def test_consensus_of_one_seed_is_that_run(clean):
    X, graph, _ = clean
    single = hmrf_gmm(X, graph, 4, n_init=1, seed=3)
    consensus = consensus_hmrf(X, graph, 4, [3], n_init=1)
    np.testing.assert_array_equal(consensus.labels, single.labels)
    assert consensus.stability == 1.0


def test_consensus_outvotes_a_run_stuck_in_a_worse_optimum(noisy):
    X, graph, truth = noisy
    consensus = consensus_hmrf(X, graph, 4, list(range(5)), n_init=1)
    assert consensus.agreement.shape == (5, 5)
    np.testing.assert_allclose(consensus.proba.sum(axis=1), 1.0)
    from sklearn.metrics import adjusted_rand_score

    runs = [adjusted_rand_score(truth, run.labels) for run in consensus.runs]
    assert adjusted_rand_score(truth, consensus.labels) >= np.median(runs) - 1e-9


def test_selection_needs_two_seeds(clean):
    X, graph, _ = clean
    with pytest.raises(ValueError, match="two seeds"):
        select_n_domains(X, graph, (2, 4), [0])
