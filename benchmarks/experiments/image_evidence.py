"""Experiment: three other ways for the H&E to enter the default core (not adopted).

``kind`` (first argument), each at the annotated K, ``sf.tl.spatial_domains`` defaults
otherwise, image features of ``sf.im.encode`` (``encoder``) after ``sf.im.tile_quality``:

- ``tempered``: the image as a *second likelihood* in the HMRF mixture. The smoothed fusion
  puts image components beside the gene components (``image_weight=0.5``, only to build
  the block); the mixture then fits each block with its own tied covariance and scores a
  spot by ``log N(gene) + c * log N(image)``, starting from a mixture of the gene block
  alone. (The default mixture has one tied covariance over the whole embedding, so scaling
  the image block, which is what ``image_weight`` does, is undone by the covariance: it
  acts through the start only.) ``level`` = ``c``; ``perspot`` (env ``PERSPOT=1``) sets
  ``c = 0`` on spots without a usable tile and fits the image block on the usable ones;
  a negative ``level`` also fits each run from a start of the whole embedding and keeps
  the higher likelihood; env ``START=joint`` starts every run from the whole embedding.
- ``edges``: histology-aware graph weights, ``exp(-d^2 / (2 level median d^2))`` with ``d``
  the distance of the two tiles' leading 10 feature components (1 where a tile is
  unusable); used in the Potts prior (``potts``) or also in the neighbourhood average
  (``both``), chosen by env ``EDGES``.
- ``uncertainty``: a per-spot image weight ``level * u / max u`` with ``u`` one minus the
  expression-only run's posterior confidence (image components beside gene components,
  block-scaled, then averaged as the default does).

Appends to ``results/experiments/image_evidence.jsonl``. Run:
``.venv/bin/python benchmarks/experiments/image_evidence.py KIND SLIDES ENCODERS LEVELS SEEDS``,
e.g. ``PERSPOT=1 ... image_evidence.py tempered mob_rep12,her2st_A1 handcrafted 1,3 0,1,2,3,4``.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import scipy.sparse as sp
from _shared import ari, image_slide, run_jobs, sf
from sklearn.decomposition import PCA

import spatialfuse.cluster._hmrf as hmrf
import spatialfuse.cluster._selection as selection
from spatialfuse.cluster import _gaussian as gaussian
from spatialfuse.cluster._smooth import neighbourhood_mean
from spatialfuse.tl._fuse import _image_components

PERSPOT = os.environ.get("PERSPOT") == "1"
EDGES = os.environ.get("EDGES", "potts")
START = os.environ.get("START", "gene")
STATE: dict = {"gene_dims": None, "c": 0.0, "usable": None, "start": None}


class _Blocks:
    """Gene-block and image-block components, each with its own covariance."""

    def __init__(self, gene, image):
        self.gene, self.image = gene, image
        self.weights, self.covariance = gene.weights, gene.covariance

    @property
    def n_parameters(self) -> int:
        return self.gene.n_parameters + self.image.n_parameters


def _fit_components(X, resp, covariance, reg_covar):
    g = STATE["gene_dims"]
    if g is None or g >= X.shape[1]:
        return gaussian.fit_components(X, resp, covariance, reg_covar)
    usable = STATE["usable"]
    image_resp = resp if usable is None else resp * usable[:, None] + 1e-10
    return _Blocks(
        gaussian.fit_components(X[:, :g], resp, covariance, reg_covar),
        gaussian.fit_components(X[:, g:], image_resp, covariance, reg_covar),
    )


def _log_densities(X, components):
    if not isinstance(components, _Blocks):
        return gaussian.log_densities(X, components)
    g, usable = STATE["gene_dims"], STATE["usable"]
    c = STATE["c"] if usable is None else STATE["c"] * usable[:, None]
    return gaussian.log_densities(X[:, :g], components.gene) + c * gaussian.log_densities(
        X[:, g:], components.image
    )


def _initial_mixture(X, k, covariance, **options):
    g = STATE["gene_dims"]
    whole = g is None or STATE["start"] == "joint"
    return gaussian.initial_mixture(X if whole else X[:, :g], k, covariance, **options)


_HMRF = hmrf.hmrf_gmm


def _best_start(*args, **options):
    if STATE["gene_dims"] is None or STATE["start"] != "best":
        return _HMRF(*args, **options)
    fits = []
    for start in ("gene", "joint"):
        STATE["start"] = start
        fits.append(_HMRF(*args, **options))
    STATE["start"] = "best"
    return max(fits, key=lambda fit: fit.log_likelihood[-1])


def _tempered(adata, truth, k, encoder, level, seed) -> float:
    hmrf.fit_components = _fit_components
    hmrf.component_log_densities = _log_densities
    hmrf.initial_mixture = _initial_mixture
    selection.hmrf_gmm = _best_start
    STATE.update(gene_dims=adata.obsm["X_pca"].shape[1], c=abs(level))
    STATE["start"] = "best" if level < 0 else START
    STATE["usable"] = adata.obs[sf._keys.TILE_USABLE].to_numpy(float) if PERSPOT else None
    options = {"fuse": {"image_weight": 0.5}}
    sf.tl.spatial_domains(adata, n_domains=k, seed=seed, encoder=encoder, step_options=options)
    return ari(truth, adata)


def _edge_graph(adata, level: float) -> sp.csr_matrix:
    features = np.asarray(adata.obsm[sf._keys.HISTOLOGY], dtype=np.float64)
    usable = adata.obs[sf._keys.TILE_USABLE].to_numpy(bool)
    features = (features - features[usable].mean(0)) / (features[usable].std(0) + 1e-9)
    comps = np.zeros((adata.n_obs, min(10, features.shape[1])))
    comps[usable] = PCA(comps.shape[1], random_state=0).fit_transform(features[usable])
    graph = sp.csr_matrix(adata.obsp["spatial_connectivities"]).tocoo()
    d2 = ((comps[graph.row] - comps[graph.col]) ** 2).sum(1)
    both = usable[graph.row] & usable[graph.col]
    weight = np.where(both, np.exp(-d2 / (2 * np.median(d2[both]) * level)), 1.0)
    return sp.csr_matrix((weight, (graph.row, graph.col)), shape=graph.shape)


def _edges(adata, truth, k, level, seed) -> float:
    graph = _edge_graph(adata, level)
    adata.obsp["histology_weighted"] = graph
    options = {"cluster_domains": {"graph_key": "histology_weighted"}}
    if EDGES == "both":
        weighted = sp.csr_matrix(graph) + sp.eye(adata.n_obs)
        mean = sp.diags(1 / np.asarray(weighted.sum(1)).ravel()) @ weighted
        adata.obsm["X_pca"] = (mean @ adata.obsm["X_pca"][:, :30].astype(np.float64)).astype(
            np.float32
        )
        options["fuse"] = {"n_hops": 0}
    sf.tl.spatial_domains(adata, n_domains=k, seed=seed, use_image=False, step_options=options)
    return ari(truth, adata)


def _uncertainty(adata, truth, k, level, seed) -> float:
    expression = adata.copy()
    sf.tl.spatial_domains(expression, n_domains=k, seed=seed, use_image=False)
    key = sf._keys.DOMAIN + sf._keys.DOMAIN_CONFIDENCE_SUFFIX
    uncertainty = 1 - expression.obs[key].to_numpy(float)
    gene = np.asarray(adata.obsm["X_pca"], dtype=np.float64)[:, :30]
    image, usable = _image_components(adata, sf._keys.HISTOLOGY, gene)
    gene = gene / np.sqrt((gene**2).sum(axis=1).mean())
    w = np.where(usable, level * uncertainty / max(uncertainty.max(), 1e-9), 0.0)
    z = np.hstack([np.sqrt(1 - w)[:, None] * gene, np.sqrt(w)[:, None] * image])
    adata.obsm["X_pca"] = neighbourhood_mean(z, adata.obsp["spatial_connectivities"], 1).astype(
        np.float32
    )
    options = {"fuse": {"n_hops": 0}}
    sf.tl.spatial_domains(adata, n_domains=k, seed=seed, use_image=False, step_options=options)
    return ari(truth, adata)


def job(args: tuple) -> dict:
    kind, name, encoder, level, seed = args
    base, truth, k = image_slide(name, encoder)
    adata = base.copy()
    if kind == "tempered":
        score = _tempered(adata, truth, k, encoder, level, seed)
        variant = ("perspot" if PERSPOT else "uniform") + ("" if START == "gene" else f"_{START}")
    elif kind == "edges":
        score, variant = _edges(adata, truth, k, level, seed), EDGES
    else:
        score, variant = _uncertainty(adata, truth, k, level, seed), "uncertainty"
    record = {"kind": kind, "variant": variant, "slide": name, "encoder": encoder}
    return {**record, "level": level, "seed": seed, "ari": score}


if __name__ == "__main__":
    kind = sys.argv[1]
    slides, encoders, levels, seeds = (arg.split(",") for arg in sys.argv[2:6])
    jobs = (
        (kind, s, e, float(level), int(seed))
        for s in slides
        for e in encoders
        for level in levels
        for seed in seeds
    )
    run_jobs(job, jobs, "image_evidence")
