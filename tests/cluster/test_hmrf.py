import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score

from spatialfuse.cluster import COVARIANCE_TYPES, estimate_beta, hmrf_gmm, prepare_graph


def test_recovers_planted_clusters(clean):
    X, graph, truth = clean
    result = hmrf_gmm(X, graph, 4, seed=0)
    assert adjusted_rand_score(truth, result.labels) > 0.95
    np.testing.assert_allclose(result.proba.sum(axis=1), 1.0, atol=1e-8)
    assert result.converged


def test_hmrf_fixes_salt_and_pepper_noise(noisy):
    X, graph, truth = noisy
    plain = hmrf_gmm(X, graph, 4, beta=0, n_init=2, seed=0)
    smooth = hmrf_gmm(X, graph, 4, beta="auto", initial_proba=np.eye(4)[plain.labels])
    plain_ari = adjusted_rand_score(truth, plain.labels)
    smooth_ari = adjusted_rand_score(truth, smooth.labels)
    assert plain_ari < 0.8
    assert smooth_ari > plain_ari + 0.15
    assert smooth.beta > 0


def test_deterministic_for_a_seed(noisy):
    X, graph, _ = noisy
    first = hmrf_gmm(X, graph, 4, n_init=2, seed=3)
    second = hmrf_gmm(X, graph, 4, n_init=2, seed=3)
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.proba, second.proba)
    assert first.beta == second.beta


@pytest.mark.parametrize("covariance", COVARIANCE_TYPES)
def test_every_covariance_structure(clean, covariance):
    X, graph, truth = clean
    result = hmrf_gmm(X, graph, 4, covariance=covariance, n_init=2, seed=0)
    assert adjusted_rand_score(truth, result.labels) > 0.9
    assert result.components.covariance == covariance
    assert np.isfinite(result.log_likelihood).all()


def test_beta_zero_is_the_plain_mixture(clean):
    X, graph, _ = clean
    result = hmrf_gmm(X, graph, 4, beta=0, seed=0)
    np.testing.assert_array_equal(result.labels, result.initial_labels)
    assert result.beta_trace == [0.0] * result.n_iter


def test_pseudo_likelihood_beta_grows_with_spatial_coherence(clean):
    _, graph, truth = clean
    adjacency = prepare_graph(graph)
    log_weights = np.log(np.full(4, 0.25))
    contiguous = np.eye(4)[truth]
    shuffled = np.eye(4)[np.random.default_rng(0).permutation(truth)]
    assert estimate_beta(contiguous, adjacency, log_weights) > 5
    assert estimate_beta(shuffled, adjacency, log_weights) < 0.5


def test_prepare_graph_row_normalises_without_self_loops():
    graph = sp.csr_matrix(np.array([[1.0, 1, 0], [1, 0, 1], [0, 0, 0]]))
    adjacency = prepare_graph(graph).toarray()
    np.testing.assert_allclose(adjacency.diagonal(), 0)
    np.testing.assert_allclose(adjacency.sum(axis=1), [1, 1, 0])


def test_large_sparse_input_runs_without_dense_matrix(make_planted):
    """50k spots: a dense n x n float matrix would need 20 GB; the fit stays far below."""
    X, graph, truth = make_planted(224, 4, noise=1.0, n_features=3)
    rng = np.random.default_rng(0)
    start = np.where(rng.random(truth.size) < 0.3, rng.integers(0, 4, truth.size), truth)
    tracemalloc.start()
    result = hmrf_gmm(X, graph, 4, beta=2.0, max_iter=5, initial_proba=np.eye(4)[start])
    peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    assert result.labels.shape == (50_176,)
    assert peak_mb < 300
    assert adjusted_rand_score(truth, result.labels) > 0.9


def test_rejects_bad_parameters(clean):
    X, graph, _ = clean
    with pytest.raises(ValueError, match="covariance"):
        hmrf_gmm(X, graph, 4, covariance="EEE")
    with pytest.raises(ValueError, match="beta"):
        hmrf_gmm(X, graph, 4, beta=-1)
    with pytest.raises(ValueError, match="graph"):
        hmrf_gmm(X, graph[:10, :10], 4)


def test_tied_mixture_is_sklearns(noisy):
    from sklearn.mixture import GaussianMixture

    from spatialfuse.cluster._gaussian import _GaussianMixture

    X = noisy[0]
    ours = _GaussianMixture(3, covariance_type="tied", n_init=2, random_state=0).fit(X)
    theirs = GaussianMixture(3, covariance_type="tied", n_init=2, random_state=0).fit(X)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-9)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-9)
    np.testing.assert_allclose(ours.score(X), theirs.score(X), rtol=1e-12)


def test_logsumexp_rows_is_scipys():
    from scipy.special import log_softmax, logsumexp

    from spatialfuse.cluster._logspace import log_softmax_rows, logsumexp_rows

    a = np.random.default_rng(0).normal(scale=300.0, size=(50, 6))
    a[3] = -np.inf  # a spot no component can explain
    a[4, :2] = -np.inf
    np.testing.assert_allclose(logsumexp_rows(a), logsumexp(a, axis=1, keepdims=True))
    rows = np.isfinite(a).any(axis=1)
    np.testing.assert_allclose(log_softmax_rows(a)[rows], log_softmax(a, axis=1)[rows], atol=1e-12)
