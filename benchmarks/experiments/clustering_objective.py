"""Experiment: other starts and objectives for the spatial clustering (not adopted).

``panel_diagnosis.py`` found that on 151673's 2,000-gene panel the tied Gaussian mixture
prefers a partition other than the layers even when started from them. This script asks
whether the clustering step itself, with the default's representation unchanged
(``sf.pp.preprocess`` and the 1-hop neighbourhood average of its 30 PCs), can do better on
every input of the protocol. Each variant is a consensus of ``n_runs="auto"`` runs (the
default's count: 4 on a DLPFC slide, up to 64 on a legacy-ST one), aligned and averaged as
``sf.tl.cluster_domains`` does, at the annotated K, seeds 0-4:

- ``gmm``: the default (Potts-regularised tied Gaussian mixture, ``beta`` estimated, started
  from the best of 5 k-means-initialised plain mixtures);
- ``beta32``: the same with the smoothing strength fixed at 32 (about twice the estimate);
- ``ward``: one run started from Ward's agglomerative partition of the same components (no
  random start: the seed does not matter);
- ``studentN``: Student-t components with ``N`` degrees of freedom and one shared scale
  matrix (spots far from every mean, such as low-depth ones, are down-weighted instead of
  forming a domain), same start, Potts prior and ``beta`` estimate;
- ``radii012``: the mixture on the 0-, 1- and 2-hop averages side by side (each block scaled
  to unit mean squared norm), in the manner of BANKSY's neighbour-augmented features.

Inputs: the eight labelled slides and the protocol's robustness inputs where the default
loses (151673 / 151674 at 2,000 genes and thinned to 50 %, as ``bench_gene_panel.py``).
Writes ``results/experiments/clustering_objective.jsonl``.

Run: ``.venv/bin/python benchmarks/experiments/clustering_objective.py [VARIANT ...]``.
"""

from __future__ import annotations

import sys

import numpy as np
from _shared import run_jobs, sf
from scipy.special import gammaln
from sklearn.cluster import AgglomerativeClustering

from spatialfuse._validation import resolve_n_runs
from spatialfuse.cluster import hmrf_gmm, mean_aligned_posterior, most_agreeing
from spatialfuse.cluster._gaussian import initial_mixture
from spatialfuse.cluster._potts import estimate_beta, mean_field, prepare_graph
from spatialfuse.cluster._smooth import neighbourhood_mean

VARIANTS = ("gmm", "beta32", "ward", "student4", "student30", "radii012")
INPUTS = (
    *((name, None) for name in ("151673", "151674", "151510")),
    *((name, None) for name in ("her2st_A1", "her2st_B1", "her2st_C1", "her2st_D1")),
    ("mob_rep12", None),
    ("151673", 2000),
    ("151673", "depth0.5"),
    ("151674", 2000),
    ("151674", "depth0.5"),
)
SEEDS = range(5)


def student_hmrf(X, graph, k: int, nu: float, seed: int, max_iter: int = 50):
    """Potts-regularised mixture of Student-t components sharing one scale matrix (EM with
    the latent scale weights ``u_ik = (nu + d) / (nu + delta_ik)``); labels and posterior."""
    n, d = X.shape
    adjacency = prepare_graph(graph)
    _, proba = initial_mixture(X, k, "tied", n_init=5, reg_covar=1e-6, seed=seed)

    def m_step(proba, u):
        w = proba * u
        means = (w.T @ X) / w.sum(axis=0)[:, None]
        scale = sum(((X - means[j]) * w[:, j : j + 1]).T @ (X - means[j]) for j in range(k))
        return proba.sum(axis=0) / n, means, scale / n + 1e-6 * np.eye(d)

    weights, means, scale = m_step(proba, np.ones((n, k)))
    beta = estimate_beta(proba, adjacency, np.log(weights))
    labels = proba.argmax(axis=1)
    constant = gammaln((nu + d) / 2) - gammaln(nu / 2) - d / 2 * np.log(nu * np.pi)
    for iteration in range(max_iter):
        chol = np.linalg.cholesky(np.linalg.inv(scale))
        delta = np.stack([(((X - means[j]) @ chol) ** 2).sum(axis=1) for j in range(k)], axis=1)
        log_density = constant + np.log(np.diag(chol)).sum() - (nu + d) / 2 * np.log1p(delta / nu)
        proba = mean_field(log_density + np.log(weights), adjacency, beta, proba, n_steps=5)
        weights, means, scale = m_step(proba, (nu + d) / (nu + delta))
        beta = estimate_beta(proba, adjacency, np.log(weights))
        new = proba.argmax(axis=1)
        done = iteration > 0 and np.mean(new != labels) < 1e-3
        labels = new
        if done:
            break
    return labels, proba


def _consensus(runs: list[tuple[np.ndarray, np.ndarray]], k: int) -> np.ndarray:
    """The default's consensus: aligned mean posterior, or the most agreeing run when the
    mean leaves a domain empty."""
    if len(runs) == 1:
        return runs[0][0]
    kept, _ = most_agreeing([labels for labels, _ in runs])
    labels = mean_aligned_posterior([proba for _, proba in runs], kept).argmax(axis=1)
    return runs[kept][0] if np.bincount(labels, minlength=k).min() == 0 else labels


def job(task: tuple) -> dict:
    import bench_gene_panel
    from _slides import SLIDES, n_domains

    name, panel, variant = task
    adata = bench_gene_panel._load(name, panel)
    sf.gr.spatial_graph(adata)
    sf.pp.preprocess(adata, seed=0)
    truth = adata.obs[SLIDES[name].truth].to_numpy(dtype=object)
    k = n_domains(SLIDES[name])
    graph = adata.obsp["spatial_connectivities"]
    pcs = np.asarray(adata.obsm[sf._keys.PCA], dtype=np.float64)
    X = neighbourhood_mean(pcs, graph, 1)
    if variant == "radii012":
        blocks = [neighbourhood_mean(pcs, graph, hops) for hops in (0, 1, 2)]
        X = np.hstack([b / np.sqrt((b**2).sum(axis=1).mean()) for b in blocks])
    n_runs = resolve_n_runs("auto", adata.n_obs)
    aris = []
    for seed in SEEDS:
        runs = []
        for run_seed in range(seed * n_runs, (seed + 1) * n_runs):
            if variant == "ward":
                start = AgglomerativeClustering(k, linkage="ward").fit_predict(X)
                fit = hmrf_gmm(X, graph, k, initial_proba=np.eye(k)[start], show_progress=False)
                runs.append((fit.labels, fit.proba))
                break
            if variant.startswith("student"):
                runs.append(student_hmrf(X, graph, k, float(variant[len("student") :]), run_seed))
                continue
            beta = 32.0 if variant == "beta32" else "auto"
            fit = hmrf_gmm(X, graph, k, beta=beta, seed=run_seed, show_progress=False)
            runs.append((fit.labels, fit.proba))
        aris.append(sf.metrics.ari(truth, _consensus(runs, k)))
    return {
        "slide": bench_gene_panel._column(name, panel),
        "variant": variant,
        "n_runs": n_runs,
        "ari": aris,
    }


if __name__ == "__main__":
    chosen = sys.argv[1:] or list(VARIANTS)
    run_jobs(
        job,
        [(name, panel, v) for v in chosen for name, panel in INPUTS],
        "clustering_objective",
    )
