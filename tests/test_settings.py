"""Seeded steps fix torch's thread count, so a result does not depend on what ran before."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spatialfuse as sf
from spatialfuse._settings import resolve_n_threads, seed_everything
from spatialfuse.datasets._synthetic import synthetic


@pytest.fixture
def restore_threads():
    before, before_setting = torch.get_num_threads(), sf.settings.n_threads
    yield
    sf.settings.n_threads = before_setting
    torch.set_num_threads(before)


def test_n_threads_defaults_to_omp_num_threads_then_cores(monkeypatch, restore_threads):
    sf.settings.n_threads = None
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert resolve_n_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert resolve_n_threads() >= 1
    sf.settings.n_threads = 2
    assert resolve_n_threads() == 2


def test_seeding_sets_the_thread_count_that_another_library_changed(restore_threads):
    sf.settings.n_threads = 1
    torch.set_num_threads(2)  # what numba's OpenMP layer does when scanpy first runs it
    seed_everything(0)
    assert torch.get_num_threads() == 1


def test_fusion_gives_the_same_embedding_whatever_threads_ran_before(restore_threads):
    adata = synthetic(n_spots=150, n_domains=3, n_genes=60, seed=1)
    sf.pp.preprocess(adata, n_top_genes=60, n_comps=10)
    sf.gr.spatial_graph(adata)
    sf.settings.n_threads = 1
    embeddings = []
    for threads_before in (1, 2):
        torch.set_num_threads(threads_before)
        sf.tl.fuse(adata, method="gene", epochs=30, seed=0)
        embeddings.append(adata.obsm["X_fused"].copy())
    np.testing.assert_array_equal(*embeddings)
