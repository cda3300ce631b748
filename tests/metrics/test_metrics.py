import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from hypothesis import given, settings
from hypothesis import strategies as st

import spatialfuse as sf
from spatialfuse._errors import InputError

labellings = st.lists(st.integers(0, 4), min_size=4, max_size=60)


def grid(n_side: int) -> np.ndarray:
    rows, cols = np.divmod(np.arange(n_side * n_side), n_side)
    return np.column_stack([cols, rows]).astype(float)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=2, max_size=60),
    st.permutations(range(5)),
)
def test_partition_scores_ignore_label_names(pairs, names):
    truth, labels = map(list, zip(*pairs))
    renamed = [names[x] for x in labels]
    for metric in (sf.metrics.ari, sf.metrics.nmi, sf.metrics.ami):
        assert metric(truth, labels) == pytest.approx(metric(truth, renamed))


@settings(max_examples=40, deadline=None)
@given(labellings, st.permutations(range(5)))
def test_perfect_labelling_scores_one(truth, names):
    if len(set(truth)) < 2:
        truth = truth + [max(truth) + 1]
    renamed = [f"domain {names[x % 5]}" for x in truth]
    for metric in (sf.metrics.ari, sf.metrics.nmi, sf.metrics.ami):
        assert metric(truth, renamed) == pytest.approx(1.0)


@settings(max_examples=30, deadline=None)
@given(labellings, labellings, st.lists(st.booleans(), min_size=60, max_size=60))
def test_nan_truth_is_ignored(truth, labels, hide):
    n = min(len(truth), len(labels))
    truth, labels = np.array(truth[:n], dtype=object), np.array(labels[:n])
    hidden = np.array(hide[:n])
    with_nan = truth.copy()
    with_nan[hidden] = np.nan
    if hidden.all():
        assert np.isnan(sf.metrics.ari(with_nan, labels))
        return
    for metric in (sf.metrics.ari, sf.metrics.nmi, sf.metrics.ami):
        assert metric(with_nan, labels) == pytest.approx(metric(truth[~hidden], labels[~hidden]))


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 4), st.integers(3, 6))
def test_pas_is_zero_for_contiguous_bands(n_bands, width):
    coords = grid(n_bands * width)
    labels = (coords[:, 0] // width).astype(int)
    assert sf.metrics.pas(labels, coords) == 0.0


def test_pas_and_chaos_are_worse_for_scattered_labels():
    coords = grid(30)
    bands = (coords[:, 0] // 10).astype(int)
    scattered = np.random.default_rng(0).permutation(bands)
    assert sf.metrics.pas(scattered, coords) > 0.3
    assert sf.metrics.chaos(scattered, coords) > sf.metrics.chaos(bands, coords)


def test_chaos_matches_definition_on_a_small_case():
    # two clusters of three collinear points, one unit apart; a singleton is skipped
    coords = np.array([[0, 0], [1, 0], [2, 0], [0, 5], [1, 5], [2, 5], [9, 9]], dtype=float)
    labels = np.array([0, 0, 0, 1, 1, 1, 2])
    scaled = (coords - coords.mean(0)) / coords.std(0)
    step = abs(scaled[1, 0] - scaled[0, 0])
    assert sf.metrics.chaos(labels, coords) == pytest.approx(6 * step / 7)


def test_compare_returns_every_metric_and_skips_unlabelled_spots():
    coords = grid(20)
    truth = pd.Series((coords[:, 0] // 5).astype(int).astype(str), dtype=object)
    truth[:40] = np.nan
    adata = AnnData(
        obs=pd.DataFrame(
            {"truth": truth.to_numpy(), "pred": (coords[:, 0] // 5).astype(int)},
            index=[f"spot{i}" for i in range(len(coords))],
        ),
        obsm={"spatial": coords},
    )
    scores = sf.metrics.compare(adata, "pred", "truth")
    assert set(scores) == {"ari", "nmi", "ami", "pas", "chaos", "n_scored"}
    assert scores["ari"] == pytest.approx(1.0) and scores["pas"] == 0.0
    assert scores["n_scored"] == 360
    with pytest.raises(InputError, match="missing"):
        sf.metrics.compare(adata, "absent", "truth")


def test_neighbour_agreement_counts_edges_within_a_label():
    import scipy.sparse as sp

    # a path 0-1-2-3 (both directions) and a self-loop, which does not count
    rows, cols = [0, 1, 1, 2, 2, 3, 0], [1, 0, 2, 1, 3, 2, 0]
    graph = sp.csr_matrix((np.ones(7), (rows, cols)), shape=(4, 4))
    assert sf.metrics.neighbour_agreement(["a", "a", "b", "b"], graph) == pytest.approx(4 / 6)
    assert sf.metrics.neighbour_agreement(["a", "a", "a", "a"], graph) == 1.0
    assert sf.metrics.neighbour_agreement(["a", "b", "a", "b"], graph) == 0.0
    assert np.isnan(sf.metrics.neighbour_agreement(["a"] * 4, sp.csr_matrix((4, 4))))
    with pytest.raises(ValueError, match="one row per label"):
        sf.metrics.neighbour_agreement(["a", "b"], graph)
