import numpy as np
import pytest

import spatialfuse as sf
from spatialfuse._errors import CountsError, ParameterError


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


def test_seurat_v3_ranks_the_raw_counts_and_prefers_expressed_genes(dlpfc_151673):
    v3 = sf.pp.preprocess(dlpfc_151673, n_top_genes=300, n_comps=5, flavor="seurat_v3", copy=True)
    seurat = sf.pp.preprocess(dlpfc_151673, n_top_genes=300, n_comps=5, copy=True)
    picked_v3 = v3.var["highly_variable"].to_numpy()
    picked_seurat = seurat.var["highly_variable"].to_numpy()
    assert picked_v3.sum() == 300
    assert v3.uns["spatialfuse_preprocess"]["params"]["flavor"] == "seurat_v3"
    assert (picked_v3 != picked_seurat).any()
    # the counts were ranked, not the log data: the genes are those scanpy's seurat_v3 picks
    import scanpy as sc

    expected = sc.pp.highly_variable_genes(
        dlpfc_151673, n_top_genes=300, flavor="seurat_v3", inplace=False
    )["highly_variable"].to_numpy()
    np.testing.assert_array_equal(picked_v3, expected)
    # seurat_v3 prefers expressed genes (the reason it holds up at low depth)
    mean = np.asarray(dlpfc_151673.X.mean(axis=0)).ravel()
    assert np.median(mean[picked_v3]) > np.median(mean[picked_seurat])


def test_preprocess_rejects_an_unknown_flavor(dlpfc_151673):
    with pytest.raises(ParameterError, match="flavor='cell_ranger'"):
        sf.pp.preprocess(dlpfc_151673, flavor="cell_ranger")


def test_the_pipeline_passes_the_flavor_to_preprocess():
    slide = sf.datasets.synthetic(n_spots=80, n_domains=3, n_genes=40, seed=1)
    sf.tl.spatial_domains(
        slide,
        3,
        seed=0,
        use_image=False,
        n_runs=1,
        step_options={"preprocess": {"flavor": "seurat_v3", "n_top_genes": 20}},
    )
    params = slide.uns["spatialfuse_preprocess"]["params"]
    assert params["flavor"] == "seurat_v3" and params["n_top_genes"] == 20
    assert int(slide.var["highly_variable"].sum()) == 20
    assert slide.obs["spatialfuse_domain"].nunique() == 3


def test_spatial_flavor_ranks_the_neighbourhood_average(dlpfc_151673, monkeypatch):
    import scanpy as sc

    from spatialfuse.cluster import neighbourhood_mean
    from spatialfuse.pp import _preprocess

    slide = dlpfc_151673[:, :600].copy()
    with pytest.raises(sf._errors.InputError, match="spatial_graph"):
        sf.pp.preprocess(slide, flavor="spatial", copy=True)
    sf.gr.spatial_graph(slide)
    # blocks of 7 genes: the dask path must give scanpy's ranking of the whole average
    monkeypatch.setattr(_preprocess, "AVERAGE_BLOCK_VALUES", 7 * slide.n_obs)
    spatial = sf.pp.preprocess(slide, n_top_genes=200, n_comps=5, flavor="spatial", copy=True)
    assert spatial.uns["spatialfuse_preprocess"]["params"]["flavor"] == "spatial"
    log = slide.copy()
    sc.pp.normalize_total(log, target_sum=1e4)
    sc.pp.log1p(log)
    average = sc.AnnData(neighbourhood_mean(log.X, slide.obsp["spatial_connectivities"]))
    expected = sc.pp.highly_variable_genes(
        average, n_top_genes=200, flavor="seurat", inplace=False
    )["highly_variable"].to_numpy()
    np.testing.assert_array_equal(spatial.var["highly_variable"].to_numpy(), expected)
    # averaging removes noise neighbours do not share: the genes picked vary more from region
    # to region (Moran's I of each standardised gene) than those the seurat flavour picks
    seurat = sf.pp.preprocess(slide, n_top_genes=200, n_comps=5, copy=True)
    graph = slide.obsp["spatial_connectivities"]

    def median_coherence(adata):
        genes = log.X[:, adata.var["highly_variable"].to_numpy()].toarray()
        genes = (genes - genes.mean(axis=0)) / genes.std(axis=0)
        return np.median([sf.cluster.spatial_coherence(g[:, None], graph) for g in genes.T])

    assert median_coherence(spatial) > median_coherence(seurat) + 0.1
