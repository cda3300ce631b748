"""Experiment: the image as a classifier of expression's domains (cross-modal co-training).

``image_diagnosis.py`` shows the tile features predict the labelled structure (logistic
regression) but do not cluster into it. So instead of clustering them, teach them: the
default runs on expression alone; a logistic regression learns its domains from the tile
features (20 leading PCs, standardised, 1-hop averaged) on the spots the expression posterior
is sure of (``>= 0.9``), and predicts every spot out of fold (5 folds). The domains are then
``argmax log P_expression + c log P_image``. Where the image cannot tell expression's domains
apart its predictions are flat and change nothing; where it can, it overrules expression on
spots whose expression is uncertain. ``level`` = ``c``; ``c = 0`` is expression alone.
Env ``PRIOR=1`` divides the image's predictions by the domain frequencies it was trained on
(a likelihood ratio, so the sure spots' class balance is not counted twice); each record
also has Cohen's kappa of the out-of-fold predictions on the sure spots (chance-corrected,
unlike their accuracy when the sure spots are mostly one domain).
A slide name ending in ``+permuted`` puts the tile features in a random spatial order (the
null). Appends to ``results/experiments/image_cotrain.jsonl``.
Run: ``.venv/bin/python benchmarks/experiments/image_cotrain.py SLIDES ENCODERS LEVELS SEEDS``
(comma-separated lists).
"""

from __future__ import annotations

import os
import sys

import numpy as np
from _shared import expression_domains, run_jobs, sf
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.preprocessing import StandardScaler

from spatialfuse.cluster import neighbourhood_mean

SURE = 0.9
PRIOR = os.environ.get("PRIOR") == "1"


def image_posterior(
    adata, labels: np.ndarray, proba: np.ndarray
) -> tuple[np.ndarray, float, float]:
    """Out-of-fold image predictions of the expression domains, and their accuracy and
    Cohen's kappa on the spots expression is sure of."""
    X = StandardScaler().fit_transform(np.asarray(adata.obsm[sf._keys.HISTOLOGY], float))
    X = PCA(20, random_state=0).fit_transform(X)
    X = neighbourhood_mean(X, adata.obsp["spatial_connectivities"], 1)
    k = proba.shape[1]
    sure = proba.max(axis=1) >= SURE
    out = np.full(proba.shape, 1.0 / k)
    classes, counts = np.unique(labels[sure], return_counts=True)
    trained = classes[counts >= 5]  # a domain with fewer sure spots keeps a neutral 1/k
    train = sure & np.isin(labels, trained)
    if len(trained) < 2:
        return out, float("nan"), float("nan")
    share = len(trained) / k  # the trained domains share what the others leave
    model = LogisticRegression(max_iter=2000)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    out[np.ix_(train, trained)] = share * cross_val_predict(
        model, X[train], labels[train], cv=folds, method="predict_proba"
    )
    model.fit(X[train], labels[train])
    out[np.ix_(~train, trained)] = share * model.predict_proba(X[~train])
    predicted = trained[out[np.ix_(train, trained)].argmax(axis=1)]
    accuracy = float((predicted == labels[train]).mean())
    kappa = float(cohen_kappa_score(labels[train], predicted))
    if PRIOR:
        frequency = np.array([(labels[train] == c).mean() for c in trained])
        out[:, trained] /= frequency * len(trained)
    return out, accuracy, kappa


def job(args: tuple) -> dict:
    name, encoder, seed, levels = args
    adata, truth, k = expression_domains(name, encoder, seed)
    key = sf._keys.DOMAIN
    proba = np.asarray(adata.obsm[key + sf._keys.DOMAIN_PROBA_SUFFIX], float)
    labels = adata.obs[key].cat.codes.to_numpy()
    image, accuracy, kappa = image_posterior(adata, labels, proba)
    out = {"slide": name, "encoder": encoder, "seed": seed, "image_accuracy": accuracy}
    out.update(image_kappa=kappa, prior_corrected=PRIOR)
    out["ari_domains"] = float(sf.metrics.ari(truth, labels))
    out["sure_fraction"] = float((proba.max(axis=1) >= SURE).mean())
    for c in levels:
        score = np.log(np.clip(proba, 1e-12, 1)) + c * np.log(np.clip(image, 1e-12, 1))
        out[f"ari_{c:g}"] = float(sf.metrics.ari(truth, score.argmax(axis=1)))
    return out


if __name__ == "__main__":
    slides, encoders, levels, seeds = (a.split(",") for a in sys.argv[1:5])
    grid = tuple(float(v) for v in levels)
    jobs = [(s, e, int(sd), grid) for s in slides for e in encoders for sd in seeds]
    run_jobs(job, jobs, "image_cotrain")
