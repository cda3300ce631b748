"""What the experiment scripts share: one thread per process, the benchmark helpers on the
path, a quiet spatialfuse, a two-process pool appending JSON lines, and slides with images."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from functools import cache
from multiprocessing import get_context
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

BENCHMARKS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCHMARKS))
OUT = BENCHMARKS / "results" / "experiments"

import numpy as np  # noqa: E402  (after the thread settings above)
from _common import mean_sd  # noqa: E402, F401  (re-exported for report.py)

import spatialfuse as sf  # noqa: E402

sf.settings.progress = False
sf.settings.verbosity = "WARNING"


def run_jobs(job: Callable[[tuple], dict], jobs: Iterable[tuple], out: str) -> None:
    """Run ``job`` on every tuple in two forked processes; append each record to
    ``results/experiments/<out>.jsonl`` as it finishes."""
    OUT.mkdir(parents=True, exist_ok=True)
    with get_context("fork").Pool(2) as pool, open(OUT / f"{out}.jsonl", "a") as file:
        for record in pool.imap_unordered(job, list(jobs), chunksize=1):
            print(json.dumps(record), flush=True)
            file.write(json.dumps(record) + "\n")
            file.flush()


@cache
def image_slide(name: str, encoder: str):
    """A slide of ``bench_image_weight`` (real or synthetic), preprocessed, with its spatial
    graph, tile quality and ``encoder`` features; its labels and annotated K."""
    import bench_image_weight

    adata, truth, k = bench_image_weight._slide(name)
    sf.pp.preprocess(adata, seed=0)
    sf.gr.spatial_graph(adata)
    sf.im.tile_quality(adata)
    sf.im.encode(adata, encoder=encoder, seed=0)
    return adata, truth, k


def expression_domains(name: str, encoder: str, seed: int):
    """A copy of an :func:`image_slide` clustered on expression alone at its annotated K
    (``sf.tl.spatial_domains(use_image=False)``); a name ending in ``+permuted`` puts its
    tile features in a random spatial order first (the null). Returns it, labels and K."""
    slide, _, control = name.partition("+")
    base, truth, k = image_slide(slide, encoder)
    adata = base.copy()
    if control == "permuted":
        order = np.random.default_rng(0).permutation(adata.n_obs)
        adata.obsm[sf._keys.HISTOLOGY] = adata.obsm[sf._keys.HISTOLOGY][order]
    sf.tl.spatial_domains(adata, k, seed=seed, use_image=False)
    return adata, truth, k


def ari(truth, adata) -> float:
    return sf.metrics.ari(truth, adata.obs[sf._keys.DOMAIN].to_numpy())
