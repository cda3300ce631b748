import numpy as np
import pytest

import spatialfuse as sf
from spatialfuse._errors import CountsError


def test_preprocess_writes_pca_and_keeps_counts(dlpfc_151673):
    raw_total = float(dlpfc_151673.X.sum())
    sf.pp.preprocess(dlpfc_151673, n_top_genes=500, n_comps=10, seed=0)
    pca = dlpfc_151673.obsm["X_pca"]
    assert pca.shape == (dlpfc_151673.n_obs, 10)
    assert np.isfinite(pca).all()
    assert int(dlpfc_151673.var["highly_variable"].sum()) == 500
    assert float(dlpfc_151673.layers["counts"].sum()) == pytest.approx(raw_total)
    assert dlpfc_151673.uns["spatialfuse_preprocess"]["params"]["n_comps"] == 10


def test_preprocess_copy_leaves_input_untouched(dlpfc_151673):
    out = sf.pp.preprocess(dlpfc_151673, n_top_genes=300, n_comps=5, copy=True)
    assert "X_pca" in out.obsm
    assert "X_pca" not in dlpfc_151673.obsm


def test_preprocess_is_deterministic(dlpfc_151673):
    a = sf.pp.preprocess(dlpfc_151673, n_top_genes=300, n_comps=5, seed=3, copy=True)
    b = sf.pp.preprocess(dlpfc_151673, n_top_genes=300, n_comps=5, seed=3, copy=True)
    np.testing.assert_array_equal(a.obsm["X_pca"], b.obsm["X_pca"])


def test_preprocess_rejects_negative_counts(dlpfc_151673):
    small = dlpfc_151673[:50].copy()
    small.X = small.X.toarray()
    small.X[0, 0] = -1
    with pytest.raises(CountsError, match="negative"):
        sf.pp.preprocess(small)
