"""Tests of sf.tl.spatial_domains: the one-call pipeline and its step cache."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import spatialfuse as sf
from spatialfuse._errors import CountsError, ParameterError
from spatialfuse._logging import logger
from spatialfuse.datasets._synthetic import synthetic

N_DOMAINS = 4
FAST = {
    "encode": {"encoder": "handcrafted"},
    "fuse": {"epochs": 8},
    "cluster_domains": {"n_init": 1},
}
IMAGE_STEPS = ("tile_quality", "encode")


def run(adata, **kwargs):
    kwargs.setdefault("step_options", FAST)
    kwargs.setdefault("fusion", "gated")  # exercise the image steps too
    kwargs.setdefault("n_runs", 1)
    sf.tl.spatial_domains(adata, N_DOMAINS, n_top_genes=100, n_comps=10, **kwargs)
    return adata.uns["spatialfuse_pipeline"]["steps"]


@pytest.fixture(scope="module")
def slide():
    return synthetic(n_spots=300, n_domains=N_DOMAINS, n_genes=100, seed=1)


@pytest.fixture
def log_lines():
    """Messages of the spatialfuse logger during the test."""
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


@pytest.fixture(scope="module")
def cached_runs(slide, tmp_path_factory):
    """A first run filling a cache, the same run again, and a run with other fuse epochs."""
    cache = tmp_path_factory.mktemp("cache")
    first, again, other = slide.copy(), slide.copy(), slide.copy()
    steps = {
        "first": run(first, cache_dir=cache),
        "again": run(again, cache_dir=cache),
        "other": run(other, cache_dir=cache, step_options={**FAST, "fuse": {"epochs": 9}}),
    }
    return {"first": first, "again": again, "other": other, "steps": steps, "cache": cache}


def test_first_run_computes_every_step_and_checkpoints_it(cached_runs):
    steps = cached_runs["steps"]["first"]
    assert list(steps) == ["preprocess", "spatial_graph", *IMAGE_STEPS, "fuse", "cluster_domains"]
    assert all(step["source"] == "computed" for step in steps.values())
    stored = {p.stem for p in (cached_runs["cache"] / "steps").glob("*.pkl")}
    assert {step["cache_key"] for step in steps.values()} <= stored


def test_same_inputs_reuse_every_step_and_give_the_same_domains(cached_runs):
    steps = cached_runs["steps"]["again"]
    assert all(step["source"] == "cache" for step in steps.values())
    first, again = cached_runs["first"], cached_runs["again"]
    np.testing.assert_array_equal(
        first.obs["spatialfuse_domain"].to_numpy(), again.obs["spatialfuse_domain"].to_numpy()
    )
    np.testing.assert_array_equal(first.obsm["X_fused"], again.obsm["X_fused"])
    assert (first.X != again.X).nnz == 0  # the log-normalised matrix is restored too
    assert first.var["highly_variable"].equals(again.var["highly_variable"])


def test_changed_fuse_parameter_reruns_only_fuse_and_clustering(cached_runs):
    steps = cached_runs["steps"]["other"]
    sources = {name: step["source"] for name, step in steps.items()}
    assert sources == {
        "preprocess": "cache",
        "spatial_graph": "cache",
        "tile_quality": "cache",
        "encode": "cache",
        "fuse": "computed",
        "cluster_domains": "computed",
    }
    first = cached_runs["steps"]["first"]
    assert steps["fuse"]["cache_key"] != first["fuse"]["cache_key"]
    assert len(cached_runs["other"].uns["X_fused"]["history"]["loss"]) <= 9


def test_cache_hit_is_logged_with_its_key(slide, tmp_path, log_lines):
    adata = slide.copy()
    run(adata, cache_dir=tmp_path, use_image=False)
    keys = {name: step["cache_key"] for name, step in run(slide.copy(), cache_dir=tmp_path).items()}
    assert f"preprocess: reused cached result {keys['preprocess']}" in log_lines
    assert "no image used (use_image=False): running expression-only" in log_lines


def test_expression_only_skips_image_steps(slide):
    adata = slide.copy()
    steps = run(adata, use_image=False)
    assert not set(IMAGE_STEPS) & set(steps)
    assert "X_histology" not in adata.obsm
    params = adata.uns["spatialfuse_pipeline"]["params"]
    assert params["fusion"] == "gene" and params["use_image"] is False
    assert adata.obs["spatialfuse_domain"].nunique() >= 2


def test_zero_count_spots_are_refused_with_the_fix(slide):
    adata = slide.copy()
    counts = adata.X.tolil()
    counts[3, :] = 0
    adata.X = counts.tocsr()
    with pytest.raises(CountsError, match="1 of 300 spots have zero counts.*filter_cells"):
        sf.tl.spatial_domains(adata, N_DOMAINS)
    assert "X_pca" not in adata.obsm  # refused before any step ran


def test_unknown_step_option_is_refused(slide):
    with pytest.raises(ParameterError, match="unknown steps \\['fusion'\\]"):
        sf.tl.spatial_domains(slide.copy(), N_DOMAINS, step_options={"fusion": {"epochs": 3}})
    # the gene choice re-runs other steps with their options and takes none itself
    with pytest.raises(ParameterError, match="unknown steps \\['choose_genes'\\]"):
        sf.tl.spatial_domains(slide.copy(), N_DOMAINS, step_options={"choose_genes": {}})


def test_several_runs_average_their_aligned_posteriors(slide):
    adata = slide.copy()
    steps = run(adata, fusion="gene", n_runs=3, seed=2)
    assert [name for name in steps if name.startswith("fuse")] == ["fuse", "fuse[1]", "fuse[2]"]
    runs = adata.uns["spatialfuse_domain"]["runs"]
    assert runs["seeds"] == [6, 7, 8] and runs["averaged"] == [0, 1, 2]
    agreement = np.asarray(runs["agreement_ari"])
    assert agreement.shape == (3, 3) and np.allclose(np.diag(agreement), 1)
    assert runs["kept"] == int(np.argmax(agreement.sum(axis=1)))
    # each run is the same as one run alone with its seed (and the same PCA, whose solver
    # takes the pipeline's seed); the embedding kept is the most agreeing run's, the
    # domains the argmax of the mean of the three aligned posteriors
    options = {**FAST, "preprocess": {"seed": 2}}
    alone = []
    for run_seed in runs["seeds"]:
        alone.append(slide.copy())
        run(alone[-1], fusion="gene", n_runs=1, seed=run_seed, step_options=options)
    kept = alone[runs["kept"]]
    np.testing.assert_array_equal(adata.obsm["X_fused"], kept.obsm["X_fused"])
    probas = [a.obsm["spatialfuse_domain_proba"] for a in alone]
    mean = sf.cluster.mean_aligned_posterior(probas, runs["kept"])
    np.testing.assert_allclose(adata.obsm["spatialfuse_domain_proba"], mean, rtol=1e-6, atol=1e-7)
    domains = adata.obs["spatialfuse_domain"]
    assert list(domains.cat.categories) == list(kept.obs["spatialfuse_domain"].cat.categories)
    np.testing.assert_array_equal(domains.cat.codes.to_numpy(), mean.argmax(axis=1))
    np.testing.assert_allclose(adata.obs["spatialfuse_domain_confidence"], mean.max(axis=1))


def test_an_embedding_already_there_is_not_trained_again(slide):
    adata = slide.copy()
    run(adata, fusion="gene", n_runs=1)
    steps = run(adata, fusion="gene", n_runs=3, seed=2)
    assert [name for name in steps if name.startswith(("fuse", "cluster"))] == [
        "fuse",
        "cluster_domains",
    ]
    assert steps["fuse"]["source"] == "adata"
    assert adata.uns["spatialfuse_domain"]["runs"]["seeds"] == [6, 7, 8]


def test_smoothed_default_clusters_one_embedding_several_times(slide):
    adata = slide.copy()
    steps = run(adata, fusion="smoothed", n_runs=3, seed=1)
    # its 4-px image is read and weighed (weight 0 here: nothing is clustered again)
    assert set(IMAGE_STEPS) | {"weigh_image"} <= set(steps)
    assert adata.uns["spatialfuse_image"]["weight"] == 0
    assert [name for name in steps if name.startswith(("fuse", "cluster"))] == [
        "fuse",
        "cluster_domains",
    ]
    assert adata.uns["X_fused"]["params"]["method"] == "smoothed"
    assert adata.uns["spatialfuse_domain"]["runs"]["seeds"] == [3, 4, 5]
    # the synthetic domains combine an expression class and a tissue texture: expression
    # alone can only find the expression classes
    assert sf.metrics.ari(adata.obs["gene_class"], adata.obs["spatialfuse_domain"]) > 0.5


@pytest.mark.parametrize("n_runs", [0, 1.5, True])
def test_bad_number_of_runs_is_refused(slide, n_runs):
    with pytest.raises(ParameterError, match="n_runs"):
        sf.tl.spatial_domains(slide.copy(), N_DOMAINS, n_runs=n_runs)


def test_smoothed_with_an_image_weight_reads_the_image(log_lines):
    """With ``image_weight``, "smoothed" runs the image steps and the image moves the domains:
    on a slide whose domains combine 2 expression classes with textures, ARI goes up."""
    base = synthetic(
        n_spots=500, n_domains=6, n_genes=100, scenario="complementary", image="hires", seed=2
    )
    scores = {}
    for weight in (0.0, 0.1):
        adata = base.copy()
        options = {"encode": {"encoder": "handcrafted"}, "fuse": {"image_weight": weight}}
        sf.tl.spatial_domains(adata, 6, n_top_genes=100, step_options=options, n_runs=2, seed=0)
        steps = adata.uns["spatialfuse_pipeline"]["steps"]
        assert bool(set(IMAGE_STEPS) & set(steps)) == (weight > 0)
        image = adata.obs["fusion_weight_image"].to_numpy()
        assert image.max() == pytest.approx(weight)
        assert adata.uns["X_fused"]["params"]["image_weight"] == weight
        scores[weight] = sf.metrics.ari(adata.obs["domain_truth"], adata.obs["spatialfuse_domain"])
    assert scores[0.1] > scores[0.0] + 0.1, scores
    assert any("image_weight=0" in line for line in log_lines)


def test_smoothed_image_weight_without_image_runs_expression_only(slide):
    adata = slide.copy()
    del adata.uns["spatial"][next(iter(adata.uns["spatial"]))]["images"]["lowres"]
    steps = run(adata, fusion="smoothed", step_options={"fuse": {"image_weight": 0.2}})
    assert not set(IMAGE_STEPS) & set(steps)
    assert adata.uns["X_fused"]["params"]["image_weight"] == 0.0


def _domains_run(adata, **kwargs):
    options = {"n_top_genes": 40, "n_comps": 10, "use_image": False, "n_runs": 2, "seed": 0}
    sf.tl.spatial_domains(adata, **{"n_domains": N_DOMAINS, **options, **kwargs})
    return adata


def test_auto_flavor_keeps_the_ranking_whose_domains_agree_more_with_the_graph(slide):
    auto = _domains_run(slide.copy())
    record = auto.uns["spatialfuse_genes"]
    agreement = record["neighbour_agreement"]
    assert set(agreement) == {"seurat", "spatial"}
    kept = record["flavor"]
    assert agreement[kept] == max(agreement.values())
    assert "choose_genes" in auto.uns["spatialfuse_pipeline"]["steps"]
    # the result is that of a run told the kept ranking, which compares nothing
    given = _domains_run(slide.copy(), flavor=kept)
    assert "spatialfuse_genes" not in given.uns
    assert "choose_genes" not in given.uns["spatialfuse_pipeline"]["steps"]
    assert auto.uns["spatialfuse_preprocess"]["params"]["flavor"] == kept
    np.testing.assert_array_equal(auto.var["highly_variable"], given.var["highly_variable"])
    np.testing.assert_array_equal(auto.obs["spatialfuse_domain"], given.obs["spatialfuse_domain"])


def test_auto_flavor_switches_to_the_spatial_ranking_when_it_agrees_more(slide, monkeypatch):
    from spatialfuse.tl import _genes

    scores = iter([0.5, 0.9])  # the seurat domains first, then the spatial ones
    monkeypatch.setattr(_genes, "neighbour_agreement", lambda labels, graph: next(scores))
    auto = _domains_run(slide.copy(), n_domains=None)
    assert auto.uns["spatialfuse_genes"]["flavor"] == "spatial"
    assert not auto.uns["spatialfuse_genes"]["near_tie"]
    given = _domains_run(slide.copy(), n_domains=None, flavor="spatial")
    seurat = _domains_run(slide.copy(), n_domains=None, flavor="seurat")
    np.testing.assert_array_equal(auto.var["highly_variable"], given.var["highly_variable"])
    np.testing.assert_array_equal(auto.obsm["X_pca"], given.obsm["X_pca"])
    # the number of domains is the one chosen on the seurat genes, with its scores
    k = auto.uns["spatialfuse_domain"]["n_domains"]
    assert k == seurat.uns["spatialfuse_domain"]["n_domains"]
    assert auto.obs["spatialfuse_domain"].nunique() == k
    np.testing.assert_array_equal(
        auto.uns["spatialfuse_domain"]["n_domains_scores"]["stability"],
        seurat.uns["spatialfuse_domain"]["n_domains_scores"]["stability"],
    )


def test_auto_flavor_flags_a_near_tie(slide, monkeypatch):
    from spatialfuse.tl import _genes

    scores = iter([0.905, 0.9])  # seurat ahead by less than NEAR_TIE: kept, flagged
    monkeypatch.setattr(_genes, "neighbour_agreement", lambda labels, graph: next(scores))
    logged = []
    monkeypatch.setattr(_genes, "info", lambda msg, *args: logged.append(msg % args))
    record = _domains_run(slide.copy()).uns["spatialfuse_genes"]
    assert record["flavor"] == "seurat" and record["near_tie"]
    assert any("near tie" in line and "'spatial'" in line for line in logged)


def test_auto_flavor_skips_the_comparison_when_every_gene_is_variable(slide):
    every = _domains_run(slide.copy(), n_top_genes=500)
    record = every.uns["spatialfuse_genes"]
    assert record["flavor"] == "seurat" and set(record["neighbour_agreement"]) == {"seurat"}
    assert "every expressed gene" in record["why"] and not record["near_tie"]
    with pytest.raises(ParameterError, match="flavor"):
        _domains_run(slide.copy(), flavor="cell_ranger")
