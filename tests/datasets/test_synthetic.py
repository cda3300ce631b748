"""Tests of the synthetic Visium slide generator."""

from __future__ import annotations

import numpy as np
import pytest

import spatialfuse as sf
from spatialfuse._validation import validate_visium
from spatialfuse.datasets._synthetic import synthetic


@pytest.mark.parametrize("scenario", ["basic", "complementary", "corrupted_image", "missing_tiles"])
def test_layout_is_valid_visium(scenario):
    adata = synthetic(300, n_domains=4, n_genes=60, scenario=scenario, seed=1)
    assert validate_visium(adata, require_counts=True, require_image=True) == "synthetic"
    assert adata.n_obs == 300 and adata.n_vars == 60
    counts = adata.X.toarray()
    assert np.array_equal(counts, np.round(counts)) and counts.min() >= 0
    assert adata.obs["domain_truth"].dtype == "category"
    assert adata.obs["domain_truth"].nunique() == 4
    img = adata.uns["spatial"]["synthetic"]["images"]["lowres"]
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


def test_deterministic_for_a_seed():
    a, b = synthetic(200, n_domains=3, seed=5), synthetic(200, n_domains=3, seed=5)
    c = synthetic(200, n_domains=3, seed=6)
    assert (a.X != b.X).nnz == 0
    assert np.array_equal(
        a.uns["spatial"]["synthetic"]["images"]["lowres"],
        b.uns["spatial"]["synthetic"]["images"]["lowres"],
    )
    assert (a.X != c.X).nnz > 0


def test_domains_are_spatially_contiguous():
    adata = synthetic(600, n_domains=4, seed=0)
    sf.gr.spatial_graph(adata)
    graph = adata.obsp["spatial_connectivities"].tocoo()
    labels = adata.obs["domain_truth"].cat.codes.to_numpy()
    same = (labels[graph.row] == labels[graph.col]).mean()
    assert same > 0.85  # bands: most neighbours share the domain (random labels: ~0.25)


def test_image_texture_depends_on_domain():
    adata = synthetic(600, n_domains=4, scenario="complementary", image="hires", seed=0)
    img = adata.uns["spatial"]["synthetic"]["images"]["hires"].astype(float)
    scale = adata.uns["spatial"]["synthetic"]["scalefactors"]["tissue_hires_scalef"]
    xy = np.round(adata.obsm["spatial"] * scale).astype(int)
    darkness = 255 - img[xy[:, 1], xy[:, 0]].mean(axis=1)
    image_class = adata.obs["image_class"].astype(int).to_numpy()
    assert darkness[image_class == 1].mean() > darkness[image_class == 0].mean() + 10
    # in the complementary scenario the gene class alone does not fix the image class
    pairs = adata.obs.groupby(["gene_class", "image_class"], observed=True).size()
    assert len(pairs) == 4


def test_damaged_scenarios_mark_the_damage():
    corrupted = synthetic(400, n_domains=4, scenario="corrupted_image", seed=0)
    assert 0.2 < corrupted.obs["image_corrupted"].mean() < 0.5
    missing = synthetic(400, n_domains=4, scenario="missing_tiles", missing_fraction=0.3, seed=0)
    assert 0.2 < (~missing.obs["tile_usable"]).mean() < 0.4


def test_bad_parameters_raise_input_errors():
    with pytest.raises(sf.InputError, match="scenario"):
        synthetic(100, scenario="nonsense")
    with pytest.raises(sf.InputError, match="domains"):
        synthetic(10, n_domains=5)


def test_counts_drawn_in_blocks_equal_one_draw(monkeypatch):
    import spatialfuse.datasets._synthetic as module

    whole = synthetic(150, n_domains=3, n_genes=40, seed=2)
    monkeypatch.setattr(module, "COUNT_BLOCK_VALUES", 7 * 40)  # blocks of 7 spots
    blocks = synthetic(150, n_domains=3, n_genes=40, seed=2)
    assert blocks.X.format == "csr" and blocks.X.dtype == np.float32
    assert (whole.X != blocks.X).nnz == 0
