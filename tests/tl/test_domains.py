import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from anndata import AnnData

from spatialfuse._errors import InputError, ParameterError
from spatialfuse.tl._domains import align_domains, cluster_domains, domain_markers

N_SIDE, N_DOMAINS, N_GENES = 20, 3, 30


def grid_graph(n_side: int) -> sp.csr_matrix:
    path = sp.diags([1.0, 1.0], [-1, 1], shape=(n_side, n_side))
    eye = sp.identity(n_side)
    return sp.csr_matrix(sp.kron(eye, path) + sp.kron(path, eye))


@pytest.fixture
def slide() -> AnnData:
    """Three vertical bands; gene ``g{k}`` is the marker of band ``k``; planted embedding."""
    rng = np.random.default_rng(0)
    rows, cols = np.divmod(np.arange(N_SIDE * N_SIDE), N_SIDE)
    truth = cols * N_DOMAINS // N_SIDE
    rates = np.ones((N_DOMAINS, N_GENES))
    rates[np.arange(N_DOMAINS), np.arange(N_DOMAINS)] = 20.0
    counts = rng.poisson(rates[truth]).astype(np.float32)
    adata = AnnData(
        X=sp.csr_matrix(counts),
        obs=pd.DataFrame(
            {"truth": [f"L{k}" for k in truth]}, index=[f"spot{i}" for i in range(truth.size)]
        ),
        var=pd.DataFrame(
            {"symbol": [f"SYM{g}" for g in range(N_GENES)]},
            index=[f"g{g}" for g in range(N_GENES)],
        ),
    )
    adata.obsm["spatial"] = np.column_stack([cols, rows]).astype(float) * 100
    adata.obsm["X_fused"] = 3.0 * np.eye(N_DOMAINS, 4)[truth] + 0.8 * rng.normal(
        size=(truth.size, 4)
    )
    adata.obsp["spatial_connectivities"] = grid_graph(N_SIDE)
    return adata


def test_writes_documented_keys(slide):
    cluster_domains(slide, N_DOMAINS, n_init=2, seed=0)
    labels = slide.obs["spatialfuse_domain"]
    assert isinstance(labels.dtype, pd.CategoricalDtype)
    assert list(labels.cat.categories) == ["0", "1", "2"]
    proba = slide.obsm["spatialfuse_domain_proba"]
    assert proba.shape == (slide.n_obs, N_DOMAINS)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(slide.obs["spatialfuse_domain_confidence"], proba.max(axis=1))
    np.testing.assert_array_equal(labels.cat.codes, proba.argmax(axis=1))
    record = slide.uns["spatialfuse_domain"]
    assert record["params"]["covariance"] == "tied" and record["beta"] > 0
    assert len(record["log_likelihood"]) == record["n_iter"]
    assert "n_domains_scores" not in record
    assert pd.crosstab(labels, slide.obs["truth"]).max(axis=1).sum() / slide.n_obs > 0.95


def test_copy_leaves_the_input_untouched(slide):
    out = cluster_domains(slide, N_DOMAINS, n_init=1, seed=0, key_added="dom", copy=True)
    assert "dom" in out.obs and "dom" not in slide.obs and "dom" not in slide.uns


def test_automatic_number_of_domains_keeps_the_scores(slide):
    cluster_domains(slide, n_domains_range=(2, 5), n_init=1, n_runs=4, seed=0)
    record = slide.uns["spatialfuse_domain"]
    scores = record["n_domains_scores"]
    assert scores["criterion"] == "stability"
    assert list(scores["n_domains"]) == [2, 3, 4, 5]
    assert record["n_domains"] == 3
    assert scores["stability"][1] == pytest.approx(1.0)
    assert record["runs"]["seeds"] == [0, 1, 2, 3]


def test_several_runs_are_averaged_and_recorded(slide):
    cluster_domains(slide, N_DOMAINS, n_init=1, n_runs=3, seed=1)
    record = slide.uns["spatialfuse_domain"]
    assert record["runs"]["seeds"] == [3, 4, 5]
    assert np.asarray(record["runs"]["agreement_ari"]).shape == (3, 3)
    proba = slide.obsm["spatialfuse_domain_proba"]
    np.testing.assert_array_equal(slide.obs["spatialfuse_domain"].cat.codes, proba.argmax(1))
    with pytest.raises(ParameterError, match="n_runs >= 2"):
        cluster_domains(slide, None, n_runs=1)


def test_alignment_matches_a_permuted_reference(slide):
    cluster_domains(slide, N_DOMAINS, n_init=1, seed=0, reference_key="truth")
    labels = slide.obs["spatialfuse_domain"]
    assert set(labels.cat.categories) == {"L0", "L1", "L2"}
    assert (labels.astype(str) == slide.obs["truth"]).mean() > 0.95
    proba = slide.obsm["spatialfuse_domain_proba"]
    np.testing.assert_array_equal(labels.cat.codes, proba.argmax(axis=1))


def test_align_domains_renames_an_existing_column(slide):
    cluster_domains(slide, N_DOMAINS, n_init=1, seed=0)
    before = slide.obs["spatialfuse_domain"].copy()
    slide.uns["spatialfuse_domain_colors"] = ["#000000"] * N_DOMAINS
    align_domains(slide, "spatialfuse_domain", "truth")
    assert "spatialfuse_domain_colors" not in slide.uns  # positional colours would be stale
    after = slide.obs["spatialfuse_domain"]
    assert pd.crosstab(before, after).gt(0).sum(axis=1).eq(1).all()  # a renaming only
    assert (after.astype(str) == slide.obs["truth"]).mean() > 0.95


def test_domain_markers_finds_planted_markers(slide):
    table = domain_markers(slide, groupby="truth", n_genes=2, gene_symbols="symbol")
    assert list(table.columns) == ["domain", "gene", "score", "logfoldchange", "pval_adj"]
    top = table.groupby("domain").head(1).set_index("domain")["gene"]
    assert top.to_dict() == {"L0": "SYM0", "L1": "SYM1", "L2": "SYM2"}
    assert "spatialfuse_markers" in slide.uns
    assert (table.groupby("domain").size() == 2).all()


def test_clear_errors(slide):
    with pytest.raises(InputError, match=r"sf\.pp\.preprocess"):
        cluster_domains(slide, 3, use_rep="X_pca")
    with pytest.raises(InputError, match=r"sf\.gr\.spatial_graph"):
        cluster_domains(slide, 3, graph_key="absent")
    with pytest.raises(ParameterError, match="n_domains=1 is not valid; give a whole number >= 2"):
        cluster_domains(slide, 1)
    with pytest.raises(ParameterError, match="too few"):
        cluster_domains(slide[:5].copy(), 3)
    with pytest.raises(ParameterError, match="covariance"):
        cluster_domains(slide, 3, covariance="EEE")
    with pytest.raises(InputError, match=r"cluster_domains"):
        domain_markers(slide)
    slide.obsm["X_fused"][0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        cluster_domains(slide, 3)
