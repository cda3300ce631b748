"""STAGATE (``stagate-modern`` 1.0.0.post1, a packaging of STAGATE_pyG) at the defaults of the
STAGATE_pyG DLPFC tutorial (T1_DLPFC): 3,000 seurat_v3 HVGs, normalise to 1e4, log1p, radius
spatial net ``rad_cutoff=150`` (full-res px), ``train_STAGATE`` defaults (hidden [512, 30],
1,000 epochs, lr 1e-3), then ``mclust_R(adata, used_obsm="STAGATE", num_cluster=K)``: R
``Mclust(emb, K, "EEE")`` after ``set.seed(2020)`` (this package has no ``mclust_R``, so it is
called here the same way). The run's seed replaces ``train_STAGATE``'s ``random_seed=0``.

Radius: on Visium (hexagonal grid) the tutorial's 150 px, which is ~1.1 x the 137 px spot
pitch on DLPFC and links each spot to its first ring (5.8 neighbours on average). On legacy ST
(square grid) the radius is ST_RADIUS_PITCHES = 1.3 x the pitch (pitch = median
nearest-neighbour distance in ``obsm['spatial']``). 1.1 x the pitch, the Visium ratio, gives
only 2.2-2.5 neighbours per spot on her2st A1-D1 and MOB rep 12 and leaves 4-8 spots per slide
without any: legacy-ST spot positions scatter by ~10 % around the grid, so half of the first
ring sits beyond 1.1 x the median nearest-neighbour distance. The distances between spots
(in pitches) have a first mode at ~1.07 (the 4 grid neighbours), a trough at 1.2-1.35 and a
second mode at ~1.5 (the diagonals, at sqrt 2); 1.3 x sits in that trough, so it takes
(almost) the whole first ring and (almost) no diagonals: 3.5-3.7 neighbours on average (below
4 only through the edge spots of these small slides), no isolated spot except one on her2st
B1. 1.5 x would cut the diagonal ring in half (~5 neighbours).
"""

from __future__ import annotations

from _runner import main, r_mclust
from _spatial import grid_shape, pitch

VISIUM_RADIUS = 150  # full-res px
ST_RADIUS_PITCHES = 1.3


def cluster(adata, n_domains: int, seed: int) -> list:
    import scanpy as sc
    import STAGATE_pyG as STAGATE

    adata.var_names_make_unique()
    sc.pp.highly_variable_genes(adata, flavor="seurat_v3", n_top_genes=3000)
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    if grid_shape(adata) == "hexagon":
        radius = VISIUM_RADIUS
    else:
        radius = ST_RADIUS_PITCHES * pitch(adata)
    STAGATE.Cal_Spatial_Net(adata, rad_cutoff=radius, verbose=False)
    adata = STAGATE.train_STAGATE(adata, random_seed=seed, device="cpu", verbose=False)
    return r_mclust(adata.obsm["STAGATE"], n_domains, seed=2020).tolist()


if __name__ == "__main__":
    main(cluster)
