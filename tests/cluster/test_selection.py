import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

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


def test_a_domain_the_mean_posterior_drops_is_restored_from_the_kept_run(monkeypatch):
    """Three runs agree on two domains and each puts a third domain on a different spot:
    the mean posterior drops it; the domains asked for are then the kept run's."""
    from types import SimpleNamespace

    import spatialfuse.cluster._selection as selection

    def run(seed, **_):
        proba = np.zeros((9, 3))
        proba[:3] = [0.9, 0.05, 0.05]
        proba[3:6] = [0.05, 0.9, 0.05]
        proba[6:] = [0.6, 0.35, 0.05]
        proba[6 + seed] = [0.3, 0.3, 0.4]
        return SimpleNamespace(proba=proba, labels=proba.argmax(axis=1), log_likelihood=[0.0])

    monkeypatch.setattr(selection, "hmrf_gmm", lambda X, graph, k, seed, **kw: run(seed))
    consensus = consensus_hmrf(np.zeros((9, 2)), None, 3, [0, 1, 2], best_fraction=1.0)
    assert np.bincount(consensus.labels, minlength=3)[2] == 0  # the average drops domain 2
    complete = consensus.with_every_domain()
    kept = consensus.runs[consensus.kept]
    np.testing.assert_array_equal(complete.labels, kept.labels)
    assert np.bincount(complete.labels, minlength=3).min() == 1
    single = consensus_hmrf(np.zeros((9, 2)), None, 3, [0])
    assert single.with_every_domain() is single  # nothing dropped: unchanged


def test_the_consensus_averages_the_runs_of_highest_likelihood(monkeypatch):
    """Two runs of high likelihood split the spots one way, three of lower likelihood
    another (the majority): the consensus follows the better half, while the stability
    still measures every run; averaging every run follows the majority."""
    from types import SimpleNamespace

    import spatialfuse.cluster._selection as selection

    good = np.repeat([0, 1], 5)
    poor = np.tile([0, 1], 5)

    def run(seed, **_):
        labels = good if seed in (1, 3) else poor
        proba = np.eye(2)[labels] * 0.8 + 0.1
        return SimpleNamespace(
            proba=proba, labels=labels, log_likelihood=[-5.0, -1.0 if seed in (1, 3) else -2.0]
        )

    monkeypatch.setattr(selection, "hmrf_gmm", lambda X, graph, k, seed, **kw: run(seed))
    best = consensus_hmrf(np.zeros((10, 2)), None, 2, [0, 1, 2, 3, 4], best_fraction=0.4)
    assert best.averaged == [1, 3]
    assert best.kept in (1, 3)
    assert adjusted_rand_score(best.labels, good) == 1.0
    every = consensus_hmrf(np.zeros((10, 2)), None, 2, [0, 1, 2, 3, 4], best_fraction=1.0)
    assert every.averaged == [0, 1, 2, 3, 4]
    assert adjusted_rand_score(every.labels, poor) == 1.0
    assert best.stability == every.stability < 1.0
    # at least two runs: the best one (seed 1) and the first of the tied others (seed 0)
    few = consensus_hmrf(np.zeros((10, 2)), None, 2, [0, 1, 2], best_fraction=0.1)
    assert few.averaged == [0, 1]
