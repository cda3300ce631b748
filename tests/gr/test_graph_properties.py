"""Property-based tests of sf.gr.spatial_graph on random hexagonal Visium grids.

Complete grids and grids with holes (tissue edges, dropped spots) alike: the graph is
symmetric, has no self loops, joins every pair within ``n_rings`` and nothing farther.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import spatialfuse as sf

SPOT_DISTANCE = 100.0  # full-res px between neighbouring spot centres


@st.composite
def hex_slides(draw, holes: bool = False) -> ad.AnnData:
    """A Visium-like slide: a hex grid of random size, with random spots missing if ``holes``."""
    n_rows = draw(st.integers(3, 10))
    n_cols = draw(st.integers(3, 10))
    rows, cols = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    rows, cols = rows.ravel(), 2 * cols.ravel() + rows.ravel() % 2
    if holes:
        keep = np.array(draw(st.lists(st.booleans(), min_size=rows.size, max_size=rows.size)))
        keep[:2] = True  # at least two spots
        rows, cols = rows[keep], cols[keep]
    coords = np.column_stack([cols * SPOT_DISTANCE / 2, rows * SPOT_DISTANCE * np.sqrt(3) / 2])
    adata = ad.AnnData(
        X=sp.csr_matrix((rows.size, 1), dtype=np.float32),
        obs=pd.DataFrame(
            {"array_row": rows, "array_col": cols}, index=[f"s{i}" for i in range(rows.size)]
        ),
    )
    adata.obsm["spatial"] = coords
    return adata


def hex_distance(rows: np.ndarray, cols: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Rings between spots on Visium's doubled-column hex grid."""
    d_row = np.abs(rows[i] - rows[j])
    d_col = np.abs(cols[i] - cols[j])
    return d_row + np.maximum(0, (d_col - d_row) // 2)


PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def check_symmetric_loop_free_and_local(adata: ad.AnnData, n_rings: int) -> None:
    sf.gr.spatial_graph(adata, n_rings=n_rings)
    graph = sp.csr_matrix(adata.obsp["spatial_connectivities"])
    assert graph.shape == (adata.n_obs, adata.n_obs)
    assert (graph != graph.T).nnz == 0
    assert graph.diagonal().sum() == 0
    degree = np.diff(graph.indptr)
    assert degree.max() <= 3 * n_rings * (n_rings + 1)  # 6 per ring: 6, 6 + 12, ...
    i, j = graph.nonzero()
    rows, cols = adata.obs["array_row"].to_numpy(), adata.obs["array_col"].to_numpy()
    assert (hex_distance(rows, cols, i, j) <= n_rings).all()


@PROPERTY_SETTINGS
@given(adata=hex_slides(), n_rings=st.integers(1, 2))
def test_grid_graph_is_symmetric_loop_free_and_local(adata, n_rings):
    check_symmetric_loop_free_and_local(adata, n_rings)


@settings(max_examples=50, deadline=None, phases=[Phase.generate])
@given(adata=hex_slides(holes=True), n_rings=st.integers(1, 2))
def test_grid_graph_with_holes_is_symmetric_loop_free_and_local(adata, n_rings):
    check_symmetric_loop_free_and_local(adata, n_rings)


@PROPERTY_SETTINGS
@given(adata=hex_slides())
def test_one_ring_joins_every_adjacent_pair(adata):
    sf.gr.spatial_graph(adata, n_rings=1)
    graph = sp.csr_matrix(adata.obsp["spatial_connectivities"])
    rows, cols = adata.obs["array_row"].to_numpy(), adata.obs["array_col"].to_numpy()
    i, j = np.triu_indices(adata.n_obs, k=1)
    adjacent = hex_distance(rows, cols, i, j) == 1
    assert (np.asarray(graph[i[adjacent], j[adjacent]]).ravel() != 0).all()


@PROPERTY_SETTINGS
@given(adata=hex_slides())
def test_library_key_never_joins_two_slides(adata):
    """Two slides at the same coordinates: the graph is the single-slide graph, twice."""
    single = adata.copy()
    sf.gr.spatial_graph(single)
    a, b = adata.copy(), adata.copy()
    b.obs_names = [f"b{name}" for name in b.obs_names]
    both = ad.concat({"a": a, "b": b}, label="slide")
    both.obsm["spatial"] = np.vstack([a.obsm["spatial"], b.obsm["spatial"]])
    sf.gr.spatial_graph(both, library_key="slide")
    graph = sp.csr_matrix(both.obsp["spatial_connectivities"])
    rows, cols = graph.nonzero()
    slide = both.obs["slide"].to_numpy()
    assert (slide[rows] == slide[cols]).all()
    expected = sp.block_diag([single.obsp["spatial_connectivities"]] * 2).tocsr()
    assert ((graph != 0) != (expected != 0)).nnz == 0
