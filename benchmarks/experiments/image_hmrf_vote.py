"""Experiment: the image's vote inside the HMRF's E-step, so it is smoothed like expression.

``sf.tl.refine_with_image`` adds ``strength * log ratio`` (the image classifier's likelihood
ratios, :func:`sf.cluster.cross_modal_vote`) to the log of the final expression posterior
and takes the argmax spot by spot. That posterior already carries the Potts term of the
expression labels around each spot, so a spot the image would move is held back by its
neighbours' *expression* labels, and nothing lets the image's evidence at the neighbours
help. Here the vote enters the model instead: the tied-covariance Gaussian components are
refitted from the expression posterior, and mean-field iterations of
``q_ik ∝ pi_k N(x_i | k) r_ik^s exp(beta sum_j w_ij q_jk)`` (the HMRF's own ``beta`` and
graph) run from that posterior. ``s = 0`` re-runs the expression E-step (a sanity check:
it should reproduce the expression domains). Modes per record: ``post_s`` the package's
spot-by-spot rule without a guard, ``halving_s`` the package's rule until 2026-12-07 (the
strength halved, at most twice, until no domain loses more than half its spots), ``guard_s``
the spot-by-spot rule at full strength where only the spots that would leave such a domain
stay (the package's rule since),
``mf_s`` the mean-field one; each also reports how many domains survive. The vote's kappa
is recorded; the package only votes at kappa >= 0.5. Appends to
``results/experiments/image_hmrf_vote.jsonl``.
Run: ``.venv/bin/python benchmarks/experiments/image_hmrf_vote.py SLIDES STRENGTHS SEEDS``.
"""

from __future__ import annotations

import sys

import numpy as np
from _shared import expression_domains, run_jobs, sf

from spatialfuse.cluster import cross_modal_vote
from spatialfuse.cluster._gaussian import fit_components, log_densities
from spatialfuse.cluster._potts import mean_field, prepare_graph
from spatialfuse.tl._fuse import usable_tiles


def _halving(proba: np.ndarray, labels: np.ndarray, ratio: np.ndarray, strength: float):
    """The package's rule until 2026-12-07: the strength halved (at most twice) until no
    domain loses more than half its spots, else no vote (``None``)."""
    sizes = np.bincount(labels, minlength=proba.shape[1])
    for used in (strength, strength / 2, strength / 4):
        voted = (np.log(np.clip(proba, 1e-300, None)) + used * np.log(ratio)).argmax(axis=1)
        new = np.where(voted != proba.argmax(axis=1), voted, labels)
        kept = np.bincount(new[new == labels], minlength=proba.shape[1])
        if np.all(kept >= sizes / 2):
            return new
    return None


def _domain_guard(labels: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``new``, but the spots leaving a domain that would keep less than half of its spots
    stay where they were (a per-domain guard instead of halving the strength for every spot)."""
    new = new.copy()
    for domain in np.unique(labels):
        own = labels == domain
        if (new[own] == domain).sum() < own.sum() / 2:
            new[own] = domain
    return new


def job(args: tuple) -> dict:
    name, seed, strengths = args
    adata, truth, k = expression_domains(name, "handcrafted", seed)
    key = sf._keys.DOMAIN
    proba = np.asarray(adata.obsm[key + sf._keys.DOMAIN_PROBA_SUFFIX], float)
    labels = adata.obs[key].cat.codes.to_numpy()  # may differ from proba's argmax where
    # the consensus kept every domain asked for: only spots the vote overrules move
    features = np.asarray(adata.obsm[sf._keys.HISTOLOGY], float)
    graph = adata.obsp["spatial_connectivities"]
    vote = cross_modal_vote(features, proba, graph, usable=usable_tiles(adata, features), seed=seed)
    X = np.asarray(adata.obsm[sf._keys.FUSED], float)
    components = fit_components(X, proba, "tied", 1e-6)
    evidence = log_densities(X, components) + np.log(components.weights)
    adjacency = prepare_graph(graph)
    beta = float(adata.uns[key]["beta"])
    out = {"slide": name, "seed": seed, "kappa": vote.kappa, "beta": beta}
    out["ari_expression"] = float(sf.metrics.ari(truth, labels))
    log_ratio = np.log(vote.ratio)
    for s in strengths:
        voted = (np.log(np.clip(proba, 1e-300, None)) + s * log_ratio).argmax(axis=1)
        post = np.where(voted != proba.argmax(axis=1), voted, labels)
        field = mean_field(evidence + s * log_ratio, adjacency, beta, proba, n_steps=20)
        halved = _halving(proba, labels, vote.ratio, s)
        modes = {
            "post": post,
            "mf": field.argmax(axis=1),
            "halving": labels if halved is None else halved,
            "guard": _domain_guard(labels, post),
        }
        for mode, new in modes.items():
            out[f"ari_{mode}_{s:g}"] = float(sf.metrics.ari(truth, new))
            out[f"moved_{mode}_{s:g}"] = float((new != labels).mean())
            out[f"domains_{mode}_{s:g}"] = int(len(np.unique(new)))
    return out


if __name__ == "__main__":
    slides, strengths, seeds = (a.split(",") for a in sys.argv[1:4])
    grid = tuple(float(v) for v in strengths)
    run_jobs(job, [(s, int(sd), grid) for s in slides for sd in seeds], "image_hmrf_vote")
