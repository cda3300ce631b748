"""Several HMRF fits per number of domains: their consensus, and the most stable ``K``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._logging import progress
from ._consensus import mean_aligned_posterior, most_agreeing
from ._hmrf import HMRFResult, hmrf_gmm

STABILITY_TOLERANCE = 0.02
SCAN_N_INIT = 2  # k-means starts per run while scanning K (the chosen K is refitted in full)
# runs that score each K: more made the stability favour the top of the range (MOB rep 12,
# 61 runs: K = 12 and 10 picked at seeds 0 and 1, against 5 and 4 with 16), and cost 4x
SCAN_MAX_RUNS = 16
MIN_DOMAIN_FRACTION = 0.01  # a K whose consensus leaves a domain smaller than this is not used
# the share of runs, those of highest likelihood, that the consensus averages (at least 2):
# all of them; 0.5 and 0.75 were measured on the eight labelled slides and not adopted
# (benchmarks/results/generalisation.md, rows *_best*)
BEST_FRACTION = 1.0


@dataclass
class ConsensusResult:
    """Consensus of several :func:`hmrf_gmm` runs at one ``K`` (see :func:`consensus_hmrf`).

    Attributes
    ----------
    proba
        Mean of the runs' posteriors after matching their domains, ``(n, K)``.
    labels
        ``argmax`` of ``proba``.
    runs
        The runs, in seed order.
    kept
        Index of the averaged run agreeing most with the other averaged runs (its domain
        order is kept).
    agreement
        ``(R, R)`` pairwise ARI of the runs' labels.
    averaged
        Indices of the runs whose posteriors were averaged (those of highest likelihood).
    """

    proba: np.ndarray
    labels: np.ndarray
    runs: list[HMRFResult]
    kept: int
    agreement: np.ndarray
    averaged: list[int]

    def with_every_domain(self) -> ConsensusResult:
        """This consensus, or when its argmax leaves a domain without spots (the runs
        disagree on where that domain lies, so their average drops it) the most agreeing
        run's own posterior and labels, so that each of the ``K`` domains asked for has
        spots."""
        if np.bincount(self.labels, minlength=self.proba.shape[1]).min() > 0:
            return self
        run = self.runs[self.kept]
        return replace(self, proba=run.proba, labels=run.labels)

    @property
    def stability(self) -> float:
        """Mean pairwise ARI of the runs (1 for a single run)."""
        n = len(self.runs)
        return 1.0 if n == 1 else float((self.agreement.sum() - n) / (n * (n - 1)))


def consensus_hmrf(
    X: np.ndarray,
    graph: sp.spmatrix | sp.sparray,
    n_domains: int,
    seeds: list[int],
    *,
    best_fraction: float = BEST_FRACTION,
    show_progress: bool = True,
    **options: Any,
) -> ConsensusResult:
    """Fit :func:`hmrf_gmm` once per seed and average the aligned posteriors of the best runs.

    Runs that differ only by their seed mostly reach one partition and sometimes another
    local optimum. The runs are ranked by their final log-likelihood (the objective they
    maximise) and the ``best_fraction`` of highest likelihood (at least two) are combined: the
    spots' domains are the argmax of their mean posterior (:func:`mean_aligned_posterior`),
    in the domain order of the one agreeing most with the others (:func:`most_agreeing`).
    By default every run is averaged. Leaving the poorest quarter of the local optima out
    (``best_fraction=0.75``) makes the domains steadier from seed to seed on small slides
    (MOB rep 12, expression only: ARI 0.420 ± 0.031 -> 0.437 ± 0.009 over seeds 0-4) and
    helps on thinned counts (DLPFC 151673 at 50 % depth: 0.504 ± 0.054 -> 0.550 ± 0.002), but
    the whole default of :func:`sf.tl.spatial_domains` scores 0.474 with it against 0.479
    over the eight labelled slides (her2st A1 0.834 -> 0.820, 151510 0.538 -> 0.520;
    ``benchmarks/results/generalisation.md``).

    Parameters
    ----------
    X, graph, n_domains
        As :func:`hmrf_gmm`.
    seeds
        One run per seed.
    best_fraction
        Share of the runs, by log-likelihood, whose posteriors are averaged (1: all).
    show_progress
        Show one progress bar over the runs (when ``sf.settings.progress`` is on).
    **options
        Passed to :func:`hmrf_gmm`.

    Returns
    -------
    :class:`ConsensusResult`.
    """
    fits = progress(seeds, desc=f"domains (HMRF runs, K={n_domains})") if show_progress else seeds
    runs = [
        hmrf_gmm(X, graph, n_domains, seed=seed, show_progress=False, **options) for seed in fits
    ]
    if len(runs) == 1:
        proba = runs[0].proba
        return ConsensusResult(proba, runs[0].labels, runs, 0, np.ones((1, 1)), [0])
    _, agreement = most_agreeing([run.labels for run in runs])
    n_best = max(2, int(np.ceil(best_fraction * len(runs))))
    # stable sort: equal likelihoods keep the seed order
    ranked = np.argsort([-run.log_likelihood[-1] for run in runs], kind="stable")
    averaged = sorted(int(i) for i in ranked[:n_best])
    among = agreement[np.ix_(averaged, averaged)]
    kept = averaged[int(np.argmax(among.sum(axis=1)))]
    proba = mean_aligned_posterior([runs[i].proba for i in averaged], averaged.index(kept))
    return ConsensusResult(proba, proba.argmax(axis=1), runs, kept, agreement, averaged)


def select_n_domains(
    X: np.ndarray,
    graph: sp.spmatrix | sp.sparray,
    n_domains_range: tuple[int, int],
    seeds: list[int],
    *,
    tolerance: float = STABILITY_TOLERANCE,
    scan_n_init: int | None = SCAN_N_INIT,
    scan_max_runs: int = SCAN_MAX_RUNS,
    **options: Any,
) -> tuple[int, dict[int, float], ConsensusResult]:
    """Choose the number of domains by the stability of the spatial clustering over seeds.

    For every ``K`` in ``n_domains_range`` (inclusive), :func:`consensus_hmrf` runs once per
    seed (the first ``scan_max_runs``); the stability of ``K`` is the mean pairwise ARI of
    those runs. A ``K`` that matches the tissue's structure is found again from every start,
    while a ``K`` that splits a domain arbitrarily (or merges two) lands on different
    partitions from different starts (clustering stability, Lange et al. 2004, Neural Comput
    16:1299). The largest ``K`` whose stability is within ``tolerance`` of the best is
    chosen, so ``K`` values that are all perfectly stable resolve to the finest of them. A
    ``K`` whose consensus leaves a domain with fewer than 1 % of the spots (an emptied
    mixture component is perfectly stable too) is not chosen. The scan fits each run from
    ``scan_n_init`` k-means starts (the seeds already start the runs apart); the consensus
    returned is refitted at the chosen ``K`` with ``options``, so it equals a run with that
    ``K`` given. Two starts rather than one were chosen leave-one-slide-out on the eight
    labelled slides (``benchmarks/results/generalisation.md``): single starts let a poor
    local optimum decide a ``K``'s stability (the bundled 2,000-gene demo then picked 3
    domains, not 7); the clustering default of five starts took 46 s against 26 s on the
    demo, for the same pick. Likelihood criteria (BIC, ICL) keep improving with ``K`` on
    real slides whose domains are not Gaussian and were measured to pick the top of the
    range on DLPFC (``benchmarks/results/generalisation.md``).

    Parameters
    ----------
    X, graph
        As :func:`hmrf_gmm`.
    n_domains_range
        ``(low, high)``, inclusive.
    seeds
        The runs per ``K`` (at least two).
    tolerance
        Stability margin within which the larger ``K`` is preferred.
    scan_n_init
        ``n_init`` of the runs that score each ``K``; ``None`` uses ``options``' own.
    scan_max_runs
        At most this many of ``seeds`` (the first ones) score each ``K``; the consensus at
        the chosen ``K`` uses them all.
    **options
        Passed to :func:`hmrf_gmm`.

    Returns
    -------
    The chosen ``K``, ``{K: stability}`` for every ``K`` tried, and the consensus at the
    chosen ``K``.
    """
    if len(seeds) < 2:
        raise ValueError("select_n_domains needs at least two seeds to measure stability.")
    low, high = n_domains_range
    scan = dict(options) if scan_n_init is None else {**options, "n_init": scan_n_init}
    scan_seeds = seeds[: max(2, scan_max_runs)]
    results = {
        k: consensus_hmrf(X, graph, k, scan_seeds, show_progress=False, **scan)
        for k in progress(range(low, high + 1), desc="domains (stability of each K)")
    }
    scores = {k: result.stability for k, result in results.items()}
    min_size = max(2, int(np.ceil(MIN_DOMAIN_FRACTION * X.shape[0])))
    eligible = {
        k: scores[k]
        for k, result in results.items()
        if np.bincount(result.labels, minlength=k).min() >= min_size
    } or {low: scores[low]}
    best = max(eligible.values())
    chosen = max(k for k, score in eligible.items() if score >= best - tolerance)
    if scan == options and len(scan_seeds) == len(seeds):
        return chosen, scores, results[chosen]
    return chosen, scores, consensus_hmrf(X, graph, chosen, seeds, **options)
