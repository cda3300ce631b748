"""sf.pl: spots on the image at the right scale, stable colours, outlines, saving."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import scanpy as sc
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.colors import to_hex
from scipy.spatial import cKDTree

import spatialfuse as sf
from spatialfuse._colors import PALETTE
from spatialfuse._errors import LayoutError, ParameterError

LOWRES = "tissue_lowres_scalef"


def _scale(adata) -> float:
    return adata.uns["spatial"]["151673"]["scalefactors"][LOWRES]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_domains_places_spots_on_the_lowres_image(annotated):
    ax = sf.pl.domains(annotated, show=False)
    image = annotated.uns["spatial"]["151673"]["images"]["lowres"]
    assert len(ax.images) == 1
    assert ax.images[0].get_array().shape[:2] == image.shape[:2]
    spots = next(c for c in ax.collections if isinstance(c, PatchCollection))
    centres = np.array([p.get_extents().get_points().mean(axis=0) for p in spots.get_paths()])
    expected = annotated.obsm["spatial"] * _scale(annotated)
    distance, _ = cKDTree(centres).query(expected)
    assert len(centres) == annotated.n_obs
    assert distance.max() < 0.01
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == list(annotated.obs["spatialfuse_domain"].cat.categories)


def test_domains_outline_follows_domain_boundaries(annotated):
    ax = sf.pl.domains(annotated, outline=True, show=False)
    lines = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(lines) == 1
    vertices = np.concatenate(lines[0].get_segments())
    spots = annotated.obsm["spatial"] * _scale(annotated)
    distance, _ = cKDTree(spots).query(vertices)
    spacing = 137 * _scale(annotated)  # DLPFC centre-to-centre distance, ~137 full-res px
    assert distance.max() < spacing  # every outline vertex lies next to a spot
    lo, hi = spots.min(axis=0) - spacing, spots.max(axis=0) + spacing
    assert (vertices >= lo).all() and (vertices <= hi).all()


def test_domain_colours_are_keyed_by_name(annotated):
    full = sf.pl.domain_colors(annotated, "spatialfuse_domain")
    assert annotated.uns["spatialfuse_domain_colors"] == list(full.values())
    without_l2 = annotated[annotated.obs["spatialfuse_domain"] != "L2"].copy()
    without_l2.obs["spatialfuse_domain"] = without_l2.obs[
        "spatialfuse_domain"
    ].cat.remove_unused_categories()
    del without_l2.uns["spatialfuse_domain_colors"]
    subset = sf.pl.domain_colors(without_l2, "spatialfuse_domain")
    assert subset == {name: color for name, color in full.items() if name != "L2"}
    annotated.obs["numbered"] = annotated.obs["spatialfuse_domain"].cat.codes.astype(str)
    annotated.obs["numbered"] = annotated.obs["numbered"].astype("category")
    numbered = sf.pl.domain_colors(annotated, "numbered")
    assert numbered == {name: to_hex(PALETTE[int(name)]) for name in numbered}
    assert sf.pl.domain_colors(annotated, "numbered", {"3": "black"})["3"] == "#000000"
    annotated.obs["many"] = [f"region {i % 30}" for i in range(annotated.n_obs)]
    many = sf.pl.domain_colors(annotated, "many")
    assert len(set(many.values())) == 30  # names hashing to one colour still get distinct ones


@pytest.mark.parametrize(
    "suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")]
)
def test_save_by_suffix(annotated, tmp_path, suffix, magic):
    path = tmp_path / f"map{suffix}"
    sf.pl.fusion_weights(annotated, save=path, show=False)
    assert path.read_bytes()[: len(magic)] == magic
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_save_rejects_unknown_suffix(annotated, tmp_path):
    with pytest.raises(ParameterError, match=r"\.png, \.svg or \.pdf"):
        sf.pl.training_curves(annotated, save=tmp_path / "curves.jpg", show=False)
    assert list(tmp_path.iterdir()) == []


def test_plots_draw_into_a_given_axes(annotated):
    fig, axes = plt.subplots(1, 3)
    assert sf.pl.domains(annotated, ax=axes[0], show=False) is axes[0]
    assert sf.pl.fusion_weights(annotated, ax=axes[1], show=False) is axes[1]
    assert sf.pl.training_curves(annotated, ax=axes[2], show=False) is axes[2]
    assert len(fig.axes) >= 3


def test_training_curves_one_line_per_term(annotated):
    ax = sf.pl.training_curves(annotated, show=False)
    history = annotated.uns["X_fused"]["history"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == set(history)
    for name, values in history.items():
        assert np.allclose(lines[name].get_ydata(), values)
        assert lines[name].get_xdata()[-1] == len(values)
    assert ax.get_yscale() == "log"


def test_tl_umap_computes_what_pl_embedding_draws(annotated, monkeypatch):
    """sf.tl.umap runs scanpy's UMAP (stubbed: numba compilation alone takes ~30 s) on
    obsm['X_fused']; sf.pl.embedding only draws it, and refuses without it."""
    calls = []

    def neighbors(adata, *, use_rep, key_added, **kwargs):
        calls.append(("neighbors", use_rep, key_added))

    def umap(adata, *, neighbors_key, random_state, key_added):
        calls.append(("umap", neighbors_key, random_state, key_added))
        adata.obsm[key_added] = adata.obsm["X_fused"][:, :2] * 10

    monkeypatch.setattr(sc.pp, "neighbors", neighbors)
    monkeypatch.setattr(sc.tl, "umap", umap)
    sf.settings.seed = 7
    with pytest.raises(sf._errors.LayoutError, match="sf.tl.umap"):
        sf.pl.embedding(annotated, show=False)
    assert calls == []  # plots never compute
    sf.tl.umap(annotated)
    ax = sf.pl.embedding(annotated, show=False)
    assert calls == [
        ("neighbors", "X_fused", "X_fused_neighbors"),
        ("umap", "X_fused_neighbors", 7, "X_fused_umap"),
    ]
    points = np.concatenate([c.get_offsets() for c in ax.collections])
    expected = annotated.obsm["X_fused"][:, :2] * 10
    assert np.allclose(np.sort(points, axis=0), np.sort(expected, axis=0))
    sf.pl.embedding(annotated, show=False)
    assert len(calls) == 2  # drawing again computes nothing


def test_embedding_of_a_2d_basis_is_drawn_as_is(annotated):
    annotated.obsm["X_2d"] = annotated.obsm["spatial"]
    sf.pl.embedding(annotated, basis="X_2d", show=False)
    assert "X_2d_umap" not in annotated.obsm


def test_markers_dotplot(annotated):
    sc.pp.normalize_total(annotated)
    sc.pp.log1p(annotated)
    sc.tl.rank_genes_groups(
        annotated, "spatialfuse_domain", method="t-test", key_added="spatialfuse_markers"
    )
    ax = sf.pl.markers(annotated, n_genes=2, show=False)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    names = annotated.uns["spatialfuse_markers"]["names"]
    assert labels[:2] == [str(g) for g in names["L1"][:2]]
    assert len(labels) == 2 * len(names.dtype.names)


@pytest.mark.parametrize(
    "plot, missing",
    [
        (sf.pl.domains, ("obs", "spatialfuse_domain")),
        (sf.pl.fusion_weights, ("obs", "fusion_weight_image")),
        (sf.pl.embedding, ("obsm", "X_fused")),
        (sf.pl.markers, ("uns", "spatialfuse_markers")),
        (sf.pl.training_curves, ("uns", "X_fused")),
    ],
)
def test_missing_results_name_the_step_to_run(annotated, plot, missing):
    attribute, key = missing
    container = getattr(annotated, attribute)
    if key in container:
        del container[key]
    with pytest.raises(LayoutError, match=r"sf\.tl\.\w+"):
        plot(annotated, show=False)


def test_n_domains_scores_marks_the_chosen_k(annotated):
    annotated.uns["spatialfuse_domain"] = {
        "n_domains": 4,
        "n_domains_scores": {
            "criterion": "stability",
            "n_domains": np.arange(3, 7),
            "stability": np.array([0.7, 0.99, 0.6, 0.5]),
        },
    }
    ax = sf.pl.n_domains_scores(annotated, show=False)
    curve, chosen = ax.get_lines()
    np.testing.assert_array_equal(curve.get_xdata(), [3, 4, 5, 6])
    assert list(chosen.get_xdata()) == [4] and list(chosen.get_ydata()) == [0.99]
    del annotated.uns["spatialfuse_domain"]["n_domains_scores"]
    with pytest.raises(sf.InputError, match="chosen automatically"):
        sf.pl.n_domains_scores(annotated, show=False)
