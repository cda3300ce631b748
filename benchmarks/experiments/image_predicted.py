"""Experiment: the image as a second, independent measurement of the expression components.

Ridge regression from the tile features (``sf.im.encode``, standardised, unusable tiles
left out) to the expression PCs of ``sf.pp.preprocess``, predicted out of fold (5 folds, so a
spot's prediction never saw its own counts). ``Ghat`` is then what the spot's morphology says
its expression components are; where the image says nothing about expression its predictions
shrink to the mean and its out-of-fold R^2 to 0, with no labels and no threshold. Variants
(``level`` = ``a``):

- ``sum``: the PCs replaced by ``G + a * r2 * Ghat`` (``r2`` per component, clipped at 0);
- ``concat``: ``Ghat * a * r2`` put beside ``G``.

The result then runs the default core (``use_image=False``: 1-hop average, HMRF mixture,
consensus) at the annotated K. Appends to ``results/experiments/image_predicted.jsonl``.
Run: ``.venv/bin/python benchmarks/experiments/image_predicted.py VARIANTS SLIDES ENCODERS
LEVELS SEEDS`` (comma-separated lists).
"""

from __future__ import annotations

import sys

import numpy as np
from _shared import ari, image_slide, run_jobs, sf
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.preprocessing import StandardScaler


def predicted(adata) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold image predictions of the expression PCs and their R^2 per component."""
    G = np.asarray(adata.obsm[sf._keys.PCA], dtype=np.float64)
    H = np.asarray(adata.obsm[sf._keys.HISTOLOGY], dtype=np.float64)
    usable = adata.obs[sf._keys.TILE_USABLE].to_numpy(dtype=bool)
    Ghat = np.repeat(G.mean(axis=0, keepdims=True), len(G), axis=0)
    X = StandardScaler().fit_transform(H[usable])
    model = RidgeCV(alphas=np.logspace(-1, 5, 13))
    folds = KFold(5, shuffle=True, random_state=0)
    Ghat[usable] = cross_val_predict(model, X, G[usable], cv=folds)
    resid = ((G[usable] - Ghat[usable]) ** 2).sum(axis=0)
    total = ((G[usable] - G[usable].mean(axis=0)) ** 2).sum(axis=0)
    return Ghat, np.clip(1 - resid / total, 0, None)


def job(args: tuple) -> dict:
    variant, name, encoder, level, seed = args
    base, truth, k = image_slide(name, encoder)
    Ghat, r2 = predicted(base)
    adata = base.copy()
    G = adata.obsm[sf._keys.PCA]
    weighted = level * r2 * (Ghat - Ghat.mean(axis=0))
    if variant == "sum":
        adata.obsm[sf._keys.PCA] = G + weighted
    else:
        adata.obsm[sf._keys.PCA] = np.hstack([G, weighted])
    sf.tl.spatial_domains(
        adata,
        k,
        seed=seed,
        use_image=False,
        step_options={"fuse": {"n_pcs": adata.obsm[sf._keys.PCA].shape[1]}},
    )
    return {
        "variant": variant,
        "slide": name,
        "encoder": encoder,
        "level": level,
        "seed": seed,
        "ari": ari(truth, adata),
        "r2_mean": float(r2.mean()),
        "r2_max": float(r2.max()),
    }


if __name__ == "__main__":
    variants, slides, encoders, levels, seeds = (a.split(",") for a in sys.argv[1:6])
    jobs = [
        (v, s, e, float(lv), int(sd))
        for v in variants
        for s in slides
        for e in encoders
        for lv in levels
        for sd in seeds
    ]
    run_jobs(job, jobs, "image_predicted")
