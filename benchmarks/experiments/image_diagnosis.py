"""Diagnosis: do the tile features carry the labelled structure, and does it dominate them?

For each slide and encoder, the tile features (``sf.im.encode``, standardised, 20 leading
PCs) and, for comparison, the expression PCs of ``sf.pp.preprocess`` (20 leading), each as
they are and averaged over 1-hop neighbourhoods (``hops``): the 5-fold accuracy of a
logistic regression predicting the labels (*is the structure there?*) and the ARI of k-means
at the annotated K (*is it the dominant structure?*). Labels with fewer than 5 spots are
kept (sklearn warns). Appends to ``results/experiments/image_diagnosis.jsonl``.
Run: ``.venv/bin/python benchmarks/experiments/image_diagnosis.py SLIDES ENCODERS``.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
from _shared import image_slide, run_jobs, sf
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.preprocessing import StandardScaler

from spatialfuse.cluster import neighbourhood_mean


def job(args: tuple) -> dict:
    name, encoder, features, hops = args
    adata, truth, k = image_slide(name, encoder)
    labelled = np.array([isinstance(t, str) and t not in ("", "nan") for t in truth])
    key = sf._keys.HISTOLOGY if features == "image" else sf._keys.PCA
    X = StandardScaler().fit_transform(np.asarray(adata.obsm[key], dtype=np.float64))
    X = PCA(20, random_state=0).fit_transform(X)
    X = neighbourhood_mean(X, adata.obsp["spatial_connectivities"], hops)
    y = truth[labelled].astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        folds = StratifiedKFold(5, shuffle=True, random_state=0)
        accuracy = cross_val_score(LogisticRegression(max_iter=2000), X[labelled], y, cv=folds)
    clusters = KMeans(k, n_init=10, random_state=0).fit_predict(X)
    return {
        "slide": name,
        "encoder": encoder,
        "features": features,
        "hops": hops,
        "accuracy": float(accuracy.mean()),
        "kmeans_ari": float(sf.metrics.ari(y, clusters[labelled])),
    }


if __name__ == "__main__":
    slides, encoders = (a.split(",") for a in sys.argv[1:3])
    jobs = [
        (s, e, f, h)
        for s in slides
        for e in encoders
        for f in ("image", "expression")
        for h in (0, 1)
        if not (f == "expression" and e != encoders[0])
    ]
    run_jobs(job, jobs, "image_diagnosis")
