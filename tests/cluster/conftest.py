"""Planted spatial clusters on a square grid, for the clustering tests."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp


def grid_graph(n_side: int) -> sp.csr_matrix:
    """4-neighbour graph of an ``n_side x n_side`` grid (row-major node order), sparse."""
    path = sp.diags([1.0, 1.0], [-1, 1], shape=(n_side, n_side))
    eye = sp.identity(n_side)
    return sp.csr_matrix(sp.kron(eye, path) + sp.kron(path, eye))


def planted(
    n_side: int, n_domains: int, noise: float, n_features: int = 5, seed: int = 0
) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
    """Vertical bands of ``n_domains`` labels, Gaussian features around separated means."""
    rng = np.random.default_rng(seed)
    cols = np.tile(np.arange(n_side), n_side)
    truth = cols * n_domains // n_side
    centres = 3.0 * np.eye(n_domains, n_features)
    X = centres[truth] + noise * rng.normal(size=(truth.size, n_features))
    return X, grid_graph(n_side), truth


@pytest.fixture
def make_planted():
    """The :func:`planted` generator, for tests that need other sizes."""
    return planted


@pytest.fixture
def clean() -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
    return planted(30, 4, noise=0.5)


@pytest.fixture
def noisy() -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
    """Noise high enough that a plain mixture mislabels many spots (salt and pepper)."""
    return planted(40, 4, noise=1.6)
