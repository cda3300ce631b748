"""SpaGCN 1.2.7 with histology at the defaults of its tutorial (SpaGCN ``tutorial/tutorial.md``,
"Spatial domain detection", DLPFC 151673): adjacency from full-res spot positions plus the
H&E colour around each spot (``beta=49``, ``alpha=1``), prefilter genes (min_cells 3, ERCC/MT-),
normalize_per_cell + log1p, ``p=0.5``, ``search_res`` from 0.7 (lr 0.05, 20 epochs), train
200 epochs (louvain init), then the tutorial's refinement on the array grid.

Positions are ``obsm['spatial']`` (x = column, y = row, full-res px). The colour is read on the
slide's hires image if it has one, else on its lowres one (the DLPFC sections carry only the
600 x 600 lowres H&E), at the spot positions times that image's scale factor and with ``beta``
scaled the same way (49 full-res px ~ 2 DLPFC lowres px). ``beta`` = 49 is about half the
~96 px Visium spot; on legacy ST it is half that slide's ``spot_diameter_fullres`` instead
(e.g. 55 px on her2st A1, 18 px on MOB), the same fraction of a spot. Slides without an image
(her2st B1, C1, D1) run with ``histology=False`` (positions only), as SpaGCN documents for
data without histology. The refinement uses SpaGCN's ``shape="hexagon"`` (6 neighbours) on a
Visium grid and ``shape="square"`` (4 neighbours, as SpaGCN documents for ST) on a square
one. Gene symbols come from ``var['symbol']`` where present (DLPFC), else ``var_names``.
``X`` is densified (SpaGCN calls the sparse ``.A`` removed in scipy 1.14). The run's seed
replaces the tutorial's ``r_seed = t_seed = n_seed = 100``.
"""

from __future__ import annotations

import random

import numpy as np
from _runner import main
from _spatial import grid_shape, image_and_scale, row_col_fullres, use_symbols

BETA_FULLRES = 49


def cluster(adata, n_domains: int, seed: int) -> list:
    import scanpy as sc
    import SpaGCN as spg
    import torch

    shape = grid_shape(adata)
    image, scale = image_and_scale(adata)
    row, col = row_col_fullres(adata)
    if image is None:
        adj = spg.calculate_adj_matrix(x=row.tolist(), y=col.tolist(), histology=False)
    else:
        if shape == "hexagon":
            beta = BETA_FULLRES
        else:
            library = next(iter(adata.uns["spatial"]))
            beta = adata.uns["spatial"][library]["scalefactors"]["spot_diameter_fullres"] / 2
        adj = spg.calculate_adj_matrix(
            x=row.tolist(),
            y=col.tolist(),
            x_pixel=np.round(row * scale).astype(int).tolist(),
            y_pixel=np.round(col * scale).astype(int).tolist(),
            image=image,
            beta=beta * scale,
            alpha=1,
            histology=True,
        )
    use_symbols(adata)  # gene symbols, for MT-
    spg.prefilter_genes(adata, min_cells=3)
    spg.prefilter_specialgenes(adata)
    sc.pp.normalize_per_cell(adata)
    sc.pp.log1p(adata)
    adata.X = np.asarray(adata.X.todense()) if hasattr(adata.X, "todense") else adata.X
    l_value = spg.search_l(0.5, adj, start=0.01, end=1000, tol=0.01, max_run=100)
    res = spg.search_res(
        adata,
        adj,
        l_value,
        n_domains,
        start=0.7,
        step=0.1,
        tol=5e-3,
        lr=0.05,
        max_epochs=20,
        r_seed=seed,
        t_seed=seed,
        n_seed=seed,
    )
    clf = spg.SpaGCN()
    clf.set_l(l_value)
    random.seed(seed)
    torch.manual_seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - as the tutorial, right before training
    clf.train(adata, adj, init_spa=True, init="louvain", res=res, tol=5e-3, lr=0.05, max_epochs=200)
    pred, _ = clf.predict()
    grid = spg.calculate_adj_matrix(
        x=adata.obs["array_row"].tolist(), y=adata.obs["array_col"].tolist(), histology=False
    )
    return spg.refine(sample_id=adata.obs_names.tolist(), pred=list(pred), dis=grid, shape=shape)


if __name__ == "__main__":
    main(cluster)
