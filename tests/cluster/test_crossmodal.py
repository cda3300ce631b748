import numpy as np

from spatialfuse.cluster import cross_modal_vote


def _posterior(truth: np.ndarray, k: int, sure: float = 0.95) -> np.ndarray:
    proba = np.full((truth.size, k), (1 - sure) / (k - 1))
    proba[np.arange(truth.size), truth] = sure
    return proba


def test_features_that_show_the_domains_learn_them_and_vote_for_them(make_planted):
    X, graph, truth = make_planted(20, 4, noise=1.0, seed=3)
    vote = cross_modal_vote(X, _posterior(truth, 4), graph)
    assert vote.kappa > 0.8 and vote.accuracy > 0.85 and vote.n_sure == truth.size
    assert (vote.ratio.argmax(axis=1) == truth).mean() > 0.85
    assert np.all(vote.ratio > 0)


def test_features_unrelated_to_the_domains_have_no_opinion(make_planted):
    _, graph, truth = make_planted(20, 4, noise=1.0, seed=3)
    noise = np.random.default_rng(0).normal(size=(truth.size, 10))
    vote = cross_modal_vote(noise, _posterior(truth, 4), graph)
    assert vote.kappa < 0.3
    # likelihood ratios hover around 1: no domain is favoured on average
    assert np.abs(np.log(vote.ratio).mean(axis=0)).max() < 0.3


def test_unusable_spots_and_unlearnable_domains_stay_neutral(make_planted):
    X, graph, truth = make_planted(20, 4, noise=1.0, seed=3)
    usable = np.ones(truth.size, dtype=bool)
    usable[::7] = False
    X = X.copy()
    X[~usable] = np.nan  # unusable features are never read
    vote = cross_modal_vote(X, _posterior(truth, 4), graph, usable=usable)
    np.testing.assert_array_equal(vote.ratio[~usable], 1.0)
    unsure = cross_modal_vote(X, _posterior(truth, 4, sure=0.5), graph, usable=usable)
    assert np.isnan(unsure.kappa) and np.all(unsure.ratio == 1.0) and unsure.n_sure == 0
