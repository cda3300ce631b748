"""Which variable genes the expression core clusters: the ranking whose domains hold together."""

from __future__ import annotations

from typing import Any

import numpy as np
from anndata import AnnData

from .. import _keys
from .._cache import Snapshot, apply_delta
from .._logging import info
from ..metrics import neighbour_agreement
from ..pp._preprocess import HVG_FLAVORS

AUTO_FLAVOR = "auto"  # sf.tl.spatial_domains(flavor=...): try FLAVORS_TRIED, keep the better
FLAVORS_TRIED = ("seurat", "spatial")  # the first is clustered first and kept on ties
FLAVORS = (AUTO_FLAVOR, *HVG_FLAVORS)  # what spatial_domains, the CLI and configs accept
# agreements closer than this are a near tie: on the labelled slides the ranking kept then
# changes with the seed (MOB, DLPFC at half depth; benchmarks/experiments/README.md)
NEAR_TIE = 0.01


def choose_gene_ranking(
    adata: AnnData,
    *,
    preprocess_options: dict[str, Any],
    fuse_options: dict[str, Any],
    cluster_options: dict[str, Any],
    seed: int,
    n_runs: int,
) -> None:
    """Cluster the slide again on the genes of the other ranking of ``FLAVORS_TRIED`` and keep
    whichever domains agree more with the spatial graph.

    ``adata`` holds the domains found on the ``FLAVORS_TRIED[0]`` genes (``"seurat"``). The
    ``"spatial"`` ranking (:func:`sf.pp.preprocess`) is computed from the raw counts in
    ``layers['counts']``, fused and clustered with the same options and number of domains;
    the run whose domains break fewer neighbour pairs apart
    (:func:`sf.metrics.neighbour_agreement` on ``obsp['spatial_connectivities']``) is kept,
    the first on a tie. On the eight labelled slides of the evaluation protocol neither
    ranking is best everywhere (``benchmarks/results/generalisation.md``): ``"seurat"`` keeps
    weakly expressed genes that carry the labels of the her2st sections, ``"spatial"`` drops
    the weakly expressed genes that are noise on DLPFC, most of all at low depth.
    When every gene with counts is variable under both rankings, nothing is re-run.

    Writes ``uns['spatialfuse_genes']``: the neighbour agreement of each ranking tried, the
    ranking kept, why, and ``near_tie`` (the two agreements within ``NEAR_TIE``: there the
    ranking kept changes with the seed on the labelled slides, and the log suggests running
    both flavours to compare).
    """
    key = cluster_options["key_added"]
    graph = adata.obsp[_keys.SPATIAL_CONNECTIVITIES]
    first, second = FLAVORS_TRIED
    agreement = {first: neighbour_agreement(adata.obs[key].to_numpy(), graph)}
    counts = adata.layers[_keys.COUNTS_LAYER]
    expressed = int((np.asarray(counts.sum(axis=0)).ravel() > 0).sum())
    if int(adata.var["highly_variable"].sum()) >= expressed:
        _record(adata, agreement, first, "every expressed gene is variable under both rankings")
        return
    # what preprocessing, fusion and clustering read (not the images), with the counts as X
    other = AnnData(
        counts.copy(),
        obs=adata.obs.copy(),
        var=adata.var.copy(),
        obsm={_keys.SPATIAL: adata.obsm[_keys.SPATIAL]},
        obsp=dict(adata.obsp),
        layers={_keys.COUNTS_LAYER: counts},
    )
    before = Snapshot.of(other)
    from .. import pp
    from ._domains import cluster_domains
    from ._fuse import fuse

    pp.preprocess(other, **{**preprocess_options, "flavor": second})
    fuse(other, method="smoothed", seed=seed, **fuse_options)
    n_domains = int(adata.uns[key]["params"]["n_domains"])
    cluster_domains(other, n_domains=n_domains, seed=seed, n_runs=n_runs, **cluster_options)
    agreement[second] = neighbour_agreement(other.obs[key].to_numpy(), graph)
    if agreement[second] <= agreement[first]:
        _record(adata, agreement, first, "its domains agree more with the spatial graph")
        return
    scores = adata.uns[key].get("n_domains_scores")
    apply_delta(adata, before.delta(other))
    if scores is not None:  # the number of domains was chosen on the first ranking's genes
        adata.uns[key]["n_domains_scores"] = scores
    _record(adata, agreement, second, "its domains agree more with the spatial graph")


def _record(adata: AnnData, agreement: dict[str, float], kept: str, why: str) -> None:
    values = list(agreement.values())
    near_tie = bool(len(values) == 2 and abs(values[0] - values[1]) < NEAR_TIE)
    adata.uns[_keys.GENE_RANKING] = {
        "neighbour_agreement": {name: float(value) for name, value in agreement.items()},
        "flavor": kept,
        "why": why,
        "near_tie": near_tie,
    }
    tried = ", ".join(f"{name} {value:.3f}" for name, value in agreement.items())
    info("variable genes: kept the %r ranking (%s; neighbour agreement %s)", kept, why, tried)
    if near_tie:
        info(
            "variable genes: a near tie (within %g), where the ranking kept can change with "
            "the seed; compare the domains of flavor=%r and flavor=%r",
            NEAR_TIE,
            *agreement,
        )
