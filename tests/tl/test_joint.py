"""Tests of joint domains across slides: concatenation, per-slide graphs, slide-effect removal."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import spatialfuse as sf
from spatialfuse._errors import InputError, ParameterError
from spatialfuse.datasets._synthetic import synthetic
from spatialfuse.tl._slides import cross_slide_edges

N_DOMAINS = 4
FAST = {"fuse": {"epochs": 8}, "cluster_domains": {"n_init": 1}}


@pytest.fixture(scope="module")
def base() -> ad.AnnData:
    return synthetic(n_spots=300, n_domains=N_DOMAINS, n_genes=100, seed=1)


def section(base: ad.AnnData, name: str, shift: float, seed: int) -> ad.AnnData:
    """A re-sampled copy of ``base`` (same tissue, new counts) whose genes are scaled by a
    slide effect of log-sd ``shift``, under library id ``name``."""
    rng = np.random.default_rng(seed)
    adata = base.copy()
    scale = np.exp(rng.normal(0.0, shift, adata.n_vars))
    adata.X = sp.csr_matrix(rng.poisson(adata.X.toarray() * scale).astype(np.float32))
    adata.uns["spatial"] = {name: adata.uns["spatial"].pop("synthetic")}
    return adata


@pytest.fixture(scope="module")
def sections(base) -> list[ad.AnnData]:
    return [section(base, "A", 0.0, 0), section(base, "B", 1.0, 1)]


@pytest.fixture(scope="module")
def joint(sections) -> ad.AnnData:
    return sf.tl.joint_domains(
        sections, N_DOMAINS, batch_correction="center", seed=0, step_options=FAST, n_runs=4
    )


def per_slide_ari(adata: ad.AnnData) -> list[float]:
    obs = adata.obs
    slides = obs["library_id"].astype(str)
    return [
        sf.metrics.ari(obs.loc[slides == s, "domain_truth"], obs.loc[slides == s, sf._keys.DOMAIN])
        for s in slides.unique()
    ]


def test_concat_keeps_shared_genes_raw_counts_and_every_library(sections):
    first, second = sections[0].copy(), sections[1][:, 10:].copy()
    first.layers["counts"] = first.X.copy()
    first.X = first.X * 0.5  # e.g. normalised: the counts layer must be used
    joint = sf.tl.concat_slides([first, second])
    assert joint.n_vars == 90 and list(joint.var_names) == list(first.var_names[10:])
    assert set(joint.uns["spatial"]) == {"A", "B"}
    assert list(joint.obs["library_id"].cat.categories) == ["A", "B"]
    assert joint.obs_names.is_unique and joint.n_obs == 600
    a_rows = (joint.obs["library_id"] == "A").to_numpy()
    expected = first.layers["counts"][:, 10:].toarray()
    np.testing.assert_array_equal(joint.X[a_rows].toarray(), expected)
    assert "X_pca" not in joint.obsm


def test_concat_refuses_duplicate_library_ids_and_a_single_slide(base):
    with pytest.raises(ParameterError, match="not distinct"):
        sf.tl.concat_slides([base, base])
    with pytest.raises(ParameterError, match="at least two"):
        sf.tl.concat_slides([base])


def test_no_graph_edge_joins_two_slides_even_when_they_overlap(sections, joint):
    alone = sections[0].copy()
    sf.gr.spatial_graph(alone)
    assert np.allclose(joint.obsm["spatial"][:300], joint.obsm["spatial"][300:])  # same spots
    assert cross_slide_edges(joint) == 0
    a_rows = (joint.obs["library_id"] == "A").to_numpy()
    block = joint.obsp["spatial_connectivities"][a_rows][:, a_rows]
    assert block.nnz == alone.obsp["spatial_connectivities"].nnz


def test_joint_domains_give_one_labelling_across_slides(joint):
    record = joint.uns["spatialfuse_joint"]
    assert list(record["slides"]) == ["A", "B"] and record["n_spots"] == {"A": 300, "B": 300}
    # the 4-px images are read, weighed slide by slide, and both slides earn the image
    assert list(record["steps"]) == [
        "preprocess",
        "spatial_graph",
        "encode",
        "fuse",
        "integrate",
        "cluster_domains",
        "weigh_image",
        "fuse_with_image",
        "integrate_with_image",
        "cluster_domains_with_image",
    ]
    assert record["image"]["read"] and record["image"]["weight"] > 0
    assert joint.obsm["X_joint"].shape == joint.obsm["X_fused"].shape
    assert joint.obs[sf._keys.DOMAIN].nunique() == N_DOMAINS
    assert min(per_slide_ari(joint)) > 0.25
    consistency = sf.metrics.slide_consistency(joint, truth_key="domain_truth")
    assert consistency["consistency"] > 0.5 and consistency["n_scored"] == 600


def test_one_anndata_with_a_library_column_is_analysed_in_place(sections):
    adata = sf.tl.concat_slides(sections)
    assert sf.tl.joint_domains(adata, N_DOMAINS, seed=0, n_runs=4, step_options=FAST) is None
    assert sf._keys.DOMAIN in adata.obs and "X_joint" in adata.obsm
    adata.obs = adata.obs.drop(columns="library_id")
    with pytest.raises(InputError, match="library_id"):
        sf.tl.joint_domains(adata, N_DOMAINS)


def test_integrate_slides_center_removes_each_slides_offset_and_scale():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    x[100:] = x[100:] * 3 + 10
    adata = ad.AnnData(obs=pd.DataFrame({"library_id": ["a"] * 100 + ["b"] * 100}))
    adata.obsm["X_fused"] = x.astype(np.float32)
    sf.tl.integrate_slides(adata, method="center")
    z = adata.obsm["X_joint"]
    for rows in (slice(0, 100), slice(100, 200)):
        np.testing.assert_allclose(z[rows].mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(z[rows].std(0), 1, atol=1e-4)
    sf.tl.integrate_slides(adata, method="none")
    np.testing.assert_array_equal(adata.obsm["X_joint"], adata.obsm["X_fused"])
    sf.tl.integrate_slides(adata, method="harmony", seed=0)
    assert adata.obsm["X_joint"].shape == x.shape and np.isfinite(adata.obsm["X_joint"]).all()
    with pytest.raises(ParameterError, match="choose one of"):
        sf.tl.integrate_slides(adata, method="combat")


def test_image_features_are_computed_per_slide_and_trained_runs_as_for_one_slide(sections):
    joint = sf.tl.joint_domains(
        sections,
        N_DOMAINS,
        fusion="gated",
        stain_normalization=None,
        seed=0,
        n_runs=2,
        step_options=FAST,
    )
    steps = joint.uns["spatialfuse_joint"]["steps"]
    assert "encode" in steps and "tile_quality" not in steps  # tiles scored inside encode
    # as for one slide, n_runs trained models, each integrated and clustered, then combined
    assert {"fuse[1]", "integrate[1]", "cluster_domains[1]"} <= set(steps)
    assert joint.uns[sf._keys.DOMAIN]["runs"]["seeds"] == [0, 1]
    features = joint.obsm["X_histology"]
    assert features.shape[0] == 600 and np.isfinite(features).all()
    # the two sections share one image, so each spot gets the same features on both
    np.testing.assert_allclose(features[:300], features[300:], atol=1e-5)
    assert joint.obs["tile_usable"].dtype == bool


def test_slide_consistency_counts_spots_matching_the_other_slides_majority():
    obs = pd.DataFrame(
        {
            "library_id": ["a"] * 4 + ["b"] * 4,
            "layer": ["L1", "L1", "L2", "L2", "L1", "L1", "L2", np.nan],
            "d": ["x", "x", "y", "x", "x", "y", "y", "y"],
        }
    )
    result = sf.metrics.slide_consistency(ad.AnnData(obs=obs), "d", "layer")
    # majorities (a tie goes to the first domain, x): a: L1 -> x, L2 -> x; b: L1 -> x, L2 -> y
    # spots of a against b's majorities: 3 of 4 agree; spots of b against a's: 1 of 3
    assert result["n_scored"] == 7
    assert result["consistency"] == pytest.approx(4 / 7)
    assert result["labels_agreeing"] == pytest.approx(0.5) and result["n_labels"] == 2
    assert result["pairs"] == {"a|b": pytest.approx(4 / 7)}


def test_joint_runs_reuse_the_step_cache(sections, tmp_path):
    """As for one slide: the same joint run again loads every cached step; a changed
    clustering option recomputes only the clustering."""
    kwargs = {"batch_correction": "center", "seed": 0, "cache_dir": tmp_path, "n_runs": 2}
    first = sf.tl.joint_domains(sections, N_DOMAINS, step_options=FAST, **kwargs)
    again = sf.tl.joint_domains(sections, N_DOMAINS, step_options=FAST, **kwargs)
    other = {**FAST, "cluster_domains": {"n_init": 2}}
    changed = sf.tl.joint_domains(sections, N_DOMAINS, step_options=other, **kwargs)
    sources = {
        name: [run.uns["spatialfuse_joint"]["steps"][name]["source"] for run in (first, again)]
        for name in ("preprocess", "spatial_graph", "fuse", "integrate", "cluster_domains")
    }
    assert all(pair == ["computed", "cache"] for pair in sources.values()), sources
    np.testing.assert_array_equal(first.obs[sf._keys.DOMAIN], again.obs[sf._keys.DOMAIN])
    steps = changed.uns["spatialfuse_joint"]["steps"]
    assert steps["fuse"]["source"] == "cache" and steps["cluster_domains"]["source"] == "computed"
    assert first.uns[sf._keys.DOMAIN]["runs"]["seeds"] == [0, 1]


def test_another_slide_set_does_not_hit_the_cache(sections, base, tmp_path):
    kwargs = {"batch_correction": "center", "seed": 0, "cache_dir": tmp_path, "n_runs": 1}
    sf.tl.joint_domains(sections, N_DOMAINS, step_options=FAST, **kwargs)
    others = [sections[0], section(base, "B", 1.0, 7)]  # same names, other counts
    run = sf.tl.joint_domains(others, N_DOMAINS, step_options=FAST, **kwargs)
    assert run.uns["spatialfuse_joint"]["steps"]["preprocess"]["source"] == "computed"


def test_one_slide_through_joint_domains_equals_spatial_domains(base):
    """One pipeline over a slide dimension: a single slide run as a one-slide joint run
    (no slide effect to remove) gives the domains of spatial_domains. Expression only: a
    joint run normalises each slide's stain to shared reference colours, one slide alone
    does not, so their image features differ by design."""
    kwargs = {
        "seed": 0,
        "n_runs": 2,
        "use_image": False,
        "step_options": {"cluster_domains": {"n_init": 1}},
    }
    alone = sf.tl.spatial_domains(base, N_DOMAINS, copy=True, **kwargs)
    one = base.copy()
    one.obs["library_id"] = "synthetic"
    sf.tl.joint_domains(one, N_DOMAINS, batch_correction="none", **kwargs)
    np.testing.assert_array_equal(one.obsm["X_joint"], alone.obsm["X_fused"])
    np.testing.assert_array_equal(one.obs[sf._keys.DOMAIN], alone.obs[sf._keys.DOMAIN])
    assert one.uns["spatialfuse_joint"]["image"] == alone.uns["spatialfuse_pipeline"]["image"]
