import numpy as np
import pytest
import scipy.sparse as sp

from spatialfuse.cluster import neighbourhood_mean, spatial_coherence


def _path(n: int) -> sp.csr_matrix:
    """A path graph 0 - 1 - ... - n-1."""
    return sp.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1], format="csr")


def test_hops_average_over_the_reachable_spots():
    X = np.arange(6, dtype=float)[:, None]
    np.testing.assert_array_equal(neighbourhood_mean(X, _path(6), 0), X)
    one = neighbourhood_mean(X, _path(6), 1).ravel()
    np.testing.assert_allclose(one, [0.5, 1, 2, 3, 4, 4.5])
    two = neighbourhood_mean(X, _path(6), 2).ravel()
    # spot 2 reaches 0..4 in two steps; every reached spot counts once
    np.testing.assert_allclose(two[[0, 2, 5]], [1.0, 2.0, 4.0])


def test_averaging_keeps_domains_and_divides_noise(make_planted):
    X, graph, truth = make_planted(30, 3, noise=1.5, seed=1)
    smoothed = neighbourhood_mean(X, graph, 2)
    noise_before = np.mean([X[truth == k].std(axis=0).mean() for k in range(3)])
    noise_after = np.mean([smoothed[truth == k].std(axis=0).mean() for k in range(3)])
    assert noise_after < noise_before / 2
    gap = np.linalg.norm(smoothed[truth == 0].mean(0) - smoothed[truth == 2].mean(0))
    assert gap > 3.0  # the domain means stay apart


def test_no_spot_borrows_from_an_unconnected_slide():
    graph = sp.block_diag([_path(3), _path(3)], format="csr")
    X = np.r_[np.zeros(3), np.ones(3)][:, None]
    np.testing.assert_array_equal(neighbourhood_mean(X, graph, 5), X)


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_bad_hops_are_refused(bad):
    with pytest.raises(ValueError, match="n_hops"):
        neighbourhood_mean(np.zeros((3, 1)), _path(3), bad)


def test_coherence_separates_spatial_structure_from_a_random_order(make_planted):
    X, graph, _ = make_planted(20, 4, noise=1.0, seed=2)
    banded = spatial_coherence(X, graph)
    shuffled = spatial_coherence(X[np.random.default_rng(0).permutation(len(X))], graph)
    assert banded > 0.3
    assert abs(shuffled) < 0.05
    assert spatial_coherence(np.ones((len(X), 3)), graph) == 0.0


def test_coherence_of_a_linear_path_is_known():
    # on a path, x_i = i: each inner spot equals its neighbours' mean, so the pooled Moran's
    # I is close to 1 and exactly computable
    X = np.arange(5, dtype=float)[:, None]
    centred = X.ravel() - 2
    neighbours = np.array([1, 1, 2, 3, 3], dtype=float) - 2
    expected = (centred * neighbours).sum() / (centred**2).sum()
    assert spatial_coherence(X, _path(5)) == pytest.approx(expected)
    with pytest.raises(ValueError, match="graph has shape"):
        spatial_coherence(X, _path(4))


def test_sparse_input_is_averaged_like_dense_input():
    from spatialfuse.cluster import neighbourhood_operator

    rng = np.random.default_rng(0)
    graph = sp.random(30, 30, density=0.1, random_state=0, format="csr")
    X = sp.random(30, 12, density=0.3, random_state=1, format="csr")
    averaged = neighbourhood_mean(X, graph)
    assert sp.issparse(averaged)
    np.testing.assert_allclose(averaged.toarray(), neighbourhood_mean(X.toarray(), graph))
    operator = neighbourhood_operator(graph, n_hops=2)
    np.testing.assert_allclose(np.asarray(operator.sum(axis=1)).ravel(), 1.0)
    dense = rng.normal(size=(30, 4))
    np.testing.assert_array_equal(operator @ dense, neighbourhood_mean(dense, graph, n_hops=2))
