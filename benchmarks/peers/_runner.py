"""Command line and output shared by the ``run_<method>.py`` scripts of ``bench_peers.py``.

Each script runs in its own venv (the peer's, or the package's for spatialfuse and the
baselines), so this module imports nothing beyond the standard library and numpy. A script
defines ``cluster(adata, n_domains, seed) -> labels`` and calls :func:`main` with it; the
labels of every spot of the input (in its order) are written as JSON with the run's wall time
(reading the h5ad to the labels, imports excluded) and peak resident memory.

Usage of a script: ``python run_<method>.py INPUT.h5ad OUT.json --seed 0 --n-domains 7``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

Cluster = Callable[[Any, int, int], Sequence[Any]]


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and (if importable) torch's generators; torch threads from the env."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the peers draw from numpy's global generator
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its waited-for children (MiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def r_mclust(embedding: np.ndarray, n_clusters: int, seed: int = 2020) -> np.ndarray:
    """R ``Mclust(embedding, n_clusters, "EEE")`` after ``set.seed(seed)``, as 0-based labels.

    The labels are copied out of R's memory before returning (a numpy view of an rpy2 vector
    can be freed under it).
    """
    import rpy2.robjects as robjects
    import rpy2.robjects.numpy2ri

    robjects.r.library("mclust")
    rpy2.robjects.numpy2ri.activate()
    try:
        robjects.r["set.seed"](seed)
        fit = robjects.r["Mclust"](np.asarray(embedding, dtype=float), n_clusters, "EEE")
        labels = np.array(fit.rx2("classification"), dtype=int, copy=True)
    finally:
        rpy2.robjects.numpy2ri.deactivate()
    return labels - 1


def main(cluster: Cluster) -> None:
    """Parse the command line, run ``cluster`` on the input and write the result JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("input", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-domains", type=int, default=7)
    args = parser.parse_args()

    import anndata as ad

    seed_everything(args.seed)
    start = time.perf_counter()
    adata = ad.read_h5ad(args.input)
    n_spots = adata.n_obs
    labels = [str(label) for label in cluster(adata, args.n_domains, args.seed)]
    seconds = time.perf_counter() - start
    if len(labels) != n_spots:
        raise RuntimeError(f"{len(labels)} labels for {n_spots} spots")
    record = {"labels": labels, "seconds": round(seconds, 2), "peak_rss_mb": round(peak_rss_mb())}
    tmp = args.out.with_suffix(".part")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, args.out)
