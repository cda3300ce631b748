import numpy as np
import pytest
import scipy.sparse as sp

import spatialfuse as sf
from spatialfuse._errors import LayoutError


def test_hex_grid_graph_has_six_neighbours_inside(dlpfc_151673):
    sf.gr.spatial_graph(dlpfc_151673)
    graph = dlpfc_151673.obsp["spatial_connectivities"]
    assert sp.issparse(graph)
    degree = np.asarray(graph.sum(axis=1)).ravel()
    assert degree.max() == 6
    assert np.median(degree) == 6
    assert (graph != graph.T).nnz == 0


def test_two_rings_reach_eighteen_neighbours(dlpfc_151673):
    sf.gr.spatial_graph(dlpfc_151673, n_rings=2)
    degree = np.asarray(dlpfc_151673.obsp["spatial_connectivities"].sum(axis=1)).ravel()
    assert degree.max() == 18


def test_library_key_keeps_slides_apart(dlpfc_151673):
    adata = dlpfc_151673[:400].copy()
    adata.obs["slide"] = np.where(np.arange(adata.n_obs) < 200, "a", "b")
    adata.obs["slide"] = adata.obs["slide"].astype("category")
    # shift slide b onto slide a so that only the library key separates them
    adata.obsm["spatial"] = adata.obsm["spatial"].astype(float)
    sf.gr.spatial_graph(adata, coord_type="generic", library_key="slide")
    rows, cols = adata.obsp["spatial_connectivities"].nonzero()
    slide = adata.obs["slide"].to_numpy()
    assert (slide[rows] == slide[cols]).all()


def test_missing_coordinates_is_a_clear_error(dlpfc_151673):
    del dlpfc_151673.obsm["spatial"]
    with pytest.raises(LayoutError, match="obsm\\['spatial'\\]"):
        sf.gr.spatial_graph(dlpfc_151673)
