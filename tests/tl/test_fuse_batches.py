"""``sf.tl.fuse`` on mini-batches (large-slide path, forced here with a tiny ``batch_size``) and
the per-step CPU time of the pipeline."""

from __future__ import annotations

import numpy as np
import pytest

import spatialfuse as sf
from spatialfuse.datasets._synthetic import synthetic

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = {"epochs": 60, "n_latent": 8, "hidden_dim": 16}


@pytest.fixture(scope="module")
def slide():
    adata = synthetic(600, n_domains=3, n_genes=200, scenario="basic", seed=3)
    sf.pp.preprocess(adata, n_comps=10, seed=0)
    sf.gr.spatial_graph(adata)
    return adata


def _fused(adata, **kwargs):
    out = sf.tl.fuse(adata, method="gene", seed=0, copy=True, **FAST, **kwargs)
    return out.obsm["X_fused"], out.uns["X_fused"]["params"]


def test_small_slides_train_full_batch_by_default(slide):
    z, params = _fused(slide)
    assert params["n_batches"] == 1 and params["batch_size"] == slide.n_obs
    z_explicit, _ = _fused(slide, batch_size=slide.n_obs)
    np.testing.assert_array_equal(z, z_explicit)


def test_mini_batches_embed_every_spot_and_keep_the_domains(slide):
    z, params = _fused(slide, batch_size=150)
    assert params["n_batches"] == 4 and params["epochs_run"] <= FAST["epochs"]
    assert z.shape == (slide.n_obs, 8) and np.isfinite(z).all()
    np.testing.assert_array_equal(z, _fused(slide, batch_size=150)[0])  # deterministic
    adata = slide.copy()
    adata.obsm["X_fused"] = z
    sf.tl.cluster_domains(adata, n_domains=3, seed=0)
    # full batch: 0.995; the PCA alone: 0.55
    assert sf.metrics.ari(adata.obs["domain_truth"], adata.obs["spatialfuse_domain"]) > 0.9


def test_bad_batch_size_and_missing_coordinates_raise(slide):
    with pytest.raises(sf.InputError, match="batch_size"):
        _fused(slide, batch_size=0)
    no_coords = slide.copy()
    del no_coords.obsm["spatial"]
    with pytest.raises(sf.InputError, match="spatial"):
        _fused(no_coords, batch_size=150)


def test_pipeline_records_cpu_time_of_every_step(slide):
    adata = synthetic(200, n_domains=3, n_genes=60, seed=4)
    options = {"fuse": {"epochs": 6, "batch_size": 64}, "cluster_domains": {"n_init": 1}}
    sf.tl.spatial_domains(
        adata, 3, fusion="gene", n_top_genes=60, n_comps=8, n_runs=1, step_options=options
    )
    steps = adata.uns["spatialfuse_pipeline"]["steps"]
    assert all(step["cpu_seconds"] >= 0 for step in steps.values())
    assert steps["fuse"]["cpu_seconds"] > 0
    assert adata.uns["X_fused"]["params"]["n_batches"] > 1
