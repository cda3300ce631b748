"""Experiment: the intermediate-fusion models against the default on the slides with a usable H&E.

The default reads the H&E (handcrafted tile features), weighs it (`sf.tl.weigh_image`) and,
when it stays out of the embedding, lets it vote (`sf.tl.refine_with_image`). The trained
fusion models (`fusion="cross_attention"`, `"tensor"`, `"gated"`: an expression encoder and
a tile-feature encoder meeting in a learned layer, trained end to end) are the alternative
the product was first built around. Each runs here as a user would call it,
`sf.tl.spatial_domains(adata, K, fusion=METHOD, seed=SEED)` (their own defaults: 4 trained
runs, the handcrafted encoder), on her2st A1 and MOB rep 12, seeds 0-4, at the annotated K,
beside the default. Appends to ``results/experiments/fusion_models.jsonl``.
Run: ``.venv/bin/python benchmarks/experiments/fusion_models.py SLIDES METHODS SEEDS``
(comma-separated; ``default`` is the package default).
"""

from __future__ import annotations

import sys
import time

from _shared import image_slide, run_jobs, sf


def job(args: tuple) -> dict:
    name, method, seed = args
    base, truth, k = image_slide(name, "handcrafted")
    adata = base.copy()
    options = {} if method == "default" else {"fusion": method}
    start = time.perf_counter()
    sf.tl.spatial_domains(adata, k, seed=seed, **options)
    labels = adata.obs[sf._keys.DOMAIN].to_numpy()
    return {
        "slide": name,
        "method": method,
        "seed": seed,
        "ari": float(sf.metrics.ari(truth, labels)),
        "seconds": round(time.perf_counter() - start, 1),
    }


if __name__ == "__main__":
    slides, methods, seeds = (a.split(",") for a in sys.argv[1:4])
    jobs = [(s, m, int(sd)) for s in slides for m in methods for sd in seeds]
    run_jobs(job, jobs, "fusion_models")
