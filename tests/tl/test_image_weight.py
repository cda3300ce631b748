"""The default weighs the H&E itself: used where it adds structure, not read below 2 px per spot."""

from __future__ import annotations

import json

import numpy as np
import pytest

import spatialfuse as sf
from spatialfuse import _keys
from spatialfuse.tl._fuse import _image_components
from spatialfuse.tl._image_weight import (
    MIN_SPOT_PX,
    MIN_VOTE_SPOT_PX,
    _vote,
    image_resolves_spots,
)


def _ari(adata) -> float:
    return sf.metrics.ari(adata.obs["domain_truth"], adata.obs[_keys.DOMAIN])


@pytest.fixture(scope="module")
def complementary():
    """Six domains: pairs differ only in texture, others only in expression (~12 px spots)."""
    adata = sf.datasets.synthetic(n_spots=2000, scenario="complementary", image="hires", seed=0)
    sf.tl.spatial_domains(adata, 6, seed=0, n_runs=2)
    return adata


def test_default_uses_an_image_that_adds_structure(complementary):
    decision = complementary.uns[_keys.IMAGE_DECISION]
    assert decision["weight"] > 0
    assert decision["stability_image"] - decision["stability_expression"] >= decision["margin"]
    assert _ari(complementary) >= 0.8
    record = complementary.uns[_keys.PIPELINE]
    assert record["image"]["read"] and record["image"]["weight"] == decision["weight"]
    assert "weigh_image" in record["steps"] and "cluster_domains_with_image" in record["steps"]
    assert (complementary.obs[_keys.FUSION_WEIGHT_IMAGE] > 0).mean() > 0.9


def test_tiles_in_a_random_spatial_order_get_no_weight(complementary):
    real = complementary.uns[_keys.IMAGE_DECISION]
    assert real["coherence"] >= real["min_coherence"]
    shuffled = complementary.copy()
    order = np.random.default_rng(0).permutation(shuffled.n_obs)
    shuffled.obsm[_keys.HISTOLOGY] = shuffled.obsm[_keys.HISTOLOGY][order]
    sf.tl.weigh_image(shuffled, seed=0)
    decision = shuffled.uns[_keys.IMAGE_DECISION]
    assert decision["weight"] == 0
    assert abs(decision["coherence"]) < 0.05 < real["coherence"]
    assert "spatial coherence" in decision["decision"]
    assert "stability_image" not in decision  # no clustering runs were spent on it


def test_expression_only_cannot_find_those_domains(complementary):
    alone = sf.datasets.synthetic(n_spots=2000, scenario="complementary", image="hires", seed=0)
    sf.tl.spatial_domains(alone, 6, seed=0, n_runs=2, use_image=False)
    assert _ari(alone) < _ari(complementary) - 0.2


@pytest.fixture(scope="module")
def corrupted():
    """Expression and image both separate every domain; a third of the image is damaged."""
    adata = sf.datasets.synthetic(n_spots=900, scenario="corrupted_image", image="hires", seed=0)
    expression = sf.tl.spatial_domains(adata, 6, seed=0, n_runs=2, use_image=False, copy=True)
    sf.tl.spatial_domains(adata, 6, seed=0, n_runs=2)
    return adata, expression


def test_a_corrupted_image_gets_no_weight(corrupted):
    adata, _ = corrupted
    decision = adata.uns[_keys.IMAGE_DECISION]
    assert decision["weight"] == 0
    assert decision["agreement"] > decision["max_agreement"]  # the image repeats expression
    assert "related to expression's" in decision["decision"]
    assert "cluster_domains_with_image" not in adata.uns[_keys.PIPELINE]["steps"]


def test_an_image_that_predicts_the_domains_votes_on_them(corrupted):
    adata, expression = corrupted
    vote = adata.uns[_keys.IMAGE_DECISION]["vote"]
    assert vote["applied"] and vote["kappa"] >= vote["min_kappa"]
    assert len(vote["held_domains"]) < 6  # the guard holds some domains at most
    assert 0 < vote["changed_fraction"] < 0.2  # a vote at the margins, not a new partition
    assert adata.obs[_keys.DOMAIN].nunique() == expression.obs[_keys.DOMAIN].nunique() == 6
    assert "refine_with_image" in adata.uns[_keys.PIPELINE]["steps"]
    assert adata.uns[_keys.PIPELINE]["image"]["vote"]["applied"]  # report.json carries it
    changed = adata.obs[_keys.DOMAIN].to_numpy() != expression.obs[_keys.DOMAIN].to_numpy()
    assert changed.mean() == pytest.approx(vote["changed_fraction"])
    assert _ari(adata) >= _ari(expression) - 0.01


def test_an_image_that_cannot_tell_the_domains_apart_changes_nothing(corrupted):
    _, expression = corrupted
    shuffled = expression.copy()
    sf.im.tile_quality(shuffled)
    sf.im.encode(shuffled, encoder="handcrafted", seed=0)
    order = np.random.default_rng(0).permutation(shuffled.n_obs)
    shuffled.obsm[_keys.HISTOLOGY] = shuffled.obsm[_keys.HISTOLOGY][order]
    sf.tl.refine_with_image(shuffled, seed=0)
    vote = shuffled.uns[_keys.IMAGE_DECISION]["vote"]
    assert not vote["applied"] and vote["kappa"] < vote["min_kappa"]
    assert "no image vote" in vote["decision"]
    np.testing.assert_array_equal(
        shuffled.obs[_keys.DOMAIN].to_numpy(), expression.obs[_keys.DOMAIN].to_numpy()
    )


def test_images_below_two_px_per_spot_are_not_read():
    adata = sf.datasets.synthetic(n_spots=600, scenario="complementary", image="lowres", seed=0)
    library = adata.uns["spatial"]["synthetic"]
    library["images"]["lowres"] = library["images"]["lowres"][::3, ::3]  # a spot in ~1.4 px
    library["scalefactors"]["tissue_lowres_scalef"] /= 3
    resolves, why = image_resolves_spots(adata, "synthetic")
    assert not resolves and f"below {MIN_SPOT_PX:g} px" in why
    sf.tl.spatial_domains(adata, 6, seed=0, n_runs=2)
    assert _keys.HISTOLOGY not in adata.obsm and _keys.IMAGE_DECISION not in adata.uns
    image = adata.uns[_keys.PIPELINE]["image"]
    assert not image["read"] and "about one pixel" in image["why"]
    # a weight the user gives still reads the image
    sf.tl.spatial_domains(
        adata, 6, seed=0, n_runs=2, recompute=True, step_options={"fuse": {"image_weight": 0.1}}
    )
    assert _keys.HISTOLOGY in adata.obsm
    assert adata.uns[_keys.PIPELINE]["image"]["decision"] == "image_weight given"


def test_a_4_px_image_is_read_and_weighed_by_the_data():
    """Lowres Visium shows a spot in ~4 px: the default reads it and lets the data decide
    (benchmarks/results/image_weight.md has what it decides on real and synthetic slides)."""
    adata = sf.datasets.synthetic(n_spots=600, scenario="complementary", image="lowres", seed=0)
    assert image_resolves_spots(adata, "synthetic")[0]
    sf.tl.spatial_domains(adata, 6, seed=0, n_runs=2)
    assert adata.uns[_keys.PIPELINE]["image"]["read"]
    decision = adata.uns[_keys.IMAGE_DECISION]
    assert decision["coherence"] >= decision["min_coherence"]
    assert "stability_image" in decision
    # the vote judges spots one by one: 4-px tiles cannot, so it is not cast
    vote = decision["vote"]
    assert vote["spot_px"] < vote["min_spot_px"] == MIN_VOTE_SPOT_PX
    assert not vote["applied"] and "too coarse to judge spots" in vote["decision"]


def test_weighing_is_deterministic_and_recorded():
    adata = sf.datasets.synthetic(n_spots=600, scenario="complementary", image="hires", seed=0)
    sf.pp.preprocess(adata, seed=0)
    sf.gr.spatial_graph(adata)
    sf.im.encode(adata, seed=0)  # runs tile_quality first
    sf.tl.fuse(adata, method="smoothed")
    sf.tl.cluster_domains(adata, 6, seed=0, n_runs=2)
    first = sf.tl.weigh_image(adata, seed=0, copy=True).uns[_keys.IMAGE_DECISION]
    again = sf.tl.weigh_image(adata, seed=0, copy=True).uns[_keys.IMAGE_DECISION]
    assert first["stability_image"] == again["stability_image"]
    assert first["stability_expression"] == again["stability_expression"]
    assert first["weight"] in (0.0, 0.1) and first["decision"].startswith("image weight")
    assert _keys.IMAGE_DECISION not in adata.uns  # copy=True left adata alone


def test_spots_without_a_tile_borrow_the_image_of_their_expression_neighbours():
    adata = sf.datasets.synthetic(n_spots=900, scenario="missing_tiles", image="hires", seed=0)
    sf.pp.preprocess(adata, seed=0)
    missing = ~adata.obs[_keys.TILE_USABLE].to_numpy(dtype=bool)  # the slide's missing tiles
    sf.im.encode(adata, seed=0)
    adata.obs[_keys.TILE_USABLE] = ~missing  # as a QC that flags exactly those
    assert missing.sum() > 50
    gene = np.asarray(adata.obsm[_keys.PCA])
    image, usable = _image_components(adata, _keys.HISTOLOGY, gene)
    assert np.array_equal(usable, ~missing)
    # not one shared value (a blank strip would become a domain of its own) ...
    assert np.unique(image[missing].round(6), axis=0).shape[0] > missing.sum() // 2
    # ... but the mean image of the usable spots nearest in expression
    from sklearn.neighbors import NearestNeighbors

    from spatialfuse.tl._fuse import IMPUTE_NEIGHBOURS

    nearest = NearestNeighbors(n_neighbors=IMPUTE_NEIGHBOURS).fit(gene[usable])
    index = nearest.kneighbors(gene[missing], return_distance=False)
    np.testing.assert_allclose(image[missing], image[usable][index].mean(axis=1), atol=1e-10)


def test_report_json_says_how_much_image(tmp_path):
    adata = sf.datasets.synthetic(n_spots=600, scenario="complementary", image="hires", seed=0)
    path = tmp_path / "slide.h5ad"
    adata.write_h5ad(path)
    options = sf.workflow.RunOptions(n_domains=6, n_runs=2)
    report = sf.workflow.run_slide(path, tmp_path / "out", options)
    written = json.loads((tmp_path / "out" / "report.json").read_text())
    assert written["image"]["read"] is True
    assert written["image"]["weight"] == report["image"]["weight"]
    assert {"stability_image", "stability_expression", "decision"} <= set(written["image"])


def test_joint_runs_weigh_each_slide_and_fuse_the_image_only_when_all_earn_it(monkeypatch):
    from spatialfuse.tl import _image_weight

    slides = []
    for seed, name in enumerate(("A", "B")):
        adata = sf.datasets.synthetic(
            n_spots=400, scenario="complementary", image="hires", seed=seed
        )
        adata.uns["spatial"] = {name: adata.uns["spatial"].pop("synthetic")}
        slides.append(adata)
    joint = sf.tl.joint_domains(slides, 6, seed=0, n_runs=2)
    decision = joint.uns[_keys.IMAGE_DECISION]
    assert set(decision["slides"]) == {"A", "B"}
    assert decision["weight"] == min(d["weight"] for d in decision["slides"].values())
    # each slide is weighed on its own spots, as a single slide would be
    alone = joint[joint.obs["library_id"] == "B"].copy()
    sf.tl.weigh_image(alone, seed=0)
    assert alone.uns[_keys.IMAGE_DECISION] == decision["slides"]["B"]
    assert joint.uns[_keys.JOINT_RECORD]["image"]["read"]

    def earns(adata, **options):
        return {"weight": options["weight"], "decision": "earned"}

    monkeypatch.setattr(_image_weight, "_weigh_slide", earns)
    joint = sf.tl.joint_domains(slides, 6, seed=0, n_runs=2)
    steps = joint.uns[_keys.JOINT_RECORD]["steps"]
    assert {"weigh_image", "integrate_with_image", "cluster_domains_with_image"} <= set(steps)
    assert joint.uns[_keys.FUSED]["params"]["image_weight"] == _image_weight.IMAGE_WEIGHT
    assert joint.uns[_keys.JOINT_RECORD]["image"]["weight"] == _image_weight.IMAGE_WEIGHT


def test_the_vote_never_takes_over_a_domain():
    proba = np.repeat([[0.9, 0.1], [0.1, 0.9], [0.2, 0.8]], [50, 40, 10], axis=0)
    labels = proba.argmax(axis=1)
    # the image favours domain 0 everywhere: it would empty domain 1, which keeps its spots
    labels_after, combined, held = _vote(proba, labels, np.tile([4.0, 0.25], (100, 1)), 2.0)
    assert held == [1]
    np.testing.assert_array_equal(labels_after, labels)
    np.testing.assert_allclose(combined[labels == 1], proba[labels == 1])
    # a weaker vote takes only the uncertain spots (10 of 50): domain 1 is not held
    labels_after, combined, held = _vote(proba, labels, np.tile([1.5, 0.6], (100, 1)), 2.0)
    assert held == []
    assert np.sum(labels_after != labels) == 10
    assert np.all(labels_after[labels != labels_after] == 0)
    np.testing.assert_array_equal(labels_after, combined.argmax(axis=1))
