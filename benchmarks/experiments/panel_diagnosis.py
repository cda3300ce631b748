"""Experiment: why the default loses 0.23 ARI on 151673 with 2,000 genes (a diagnosis).

On 151673 and 151674 at 2,000 / 3,000 / 5,000 genes (``bench_generalisation`` variants):
(1) are the layers still in the default's representation? 5-fold logistic-regression
accuracy of the layers from the 30 PCs, raw and neighbourhood-averaged; (2) does the
mixture prefer them? A tied Gaussian mixture on the averaged PCs started from the layers'
means, against the best of 5 k-means starts (4 seeds): log-likelihood per spot and ARI.
Writes ``results/experiments/panel_diagnosis.jsonl``.

Run: ``.venv/bin/python benchmarks/experiments/panel_diagnosis.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from _shared import OUT, sf
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import cross_val_score

from spatialfuse.cluster._smooth import neighbourhood_mean


def diagnose(name: str, variant: str, adata) -> dict:
    sf.pp.preprocess(adata, seed=0)
    sf.gr.spatial_graph(adata)
    y = adata.obs["layer"].to_numpy(dtype=object)
    labelled = pd.notna(y)
    raw = adata.obsm["X_pca"]
    smooth = neighbourhood_mean(raw, adata.obsp["spatial_connectivities"], 1)
    record = {"slide": name, "variant": variant}
    for key, x in (("accuracy_raw", raw), ("accuracy_averaged", smooth)):
        model = LogisticRegression(max_iter=2000)
        record[key] = float(cross_val_score(model, x[labelled], y[labelled].astype(str)).mean())
    layers = sorted(set(y[labelled]))
    means = np.array([smooth[labelled][y[labelled] == c].mean(0) for c in layers])
    fits = {
        "layer_start": GaussianMixture(
            len(layers), covariance_type="tied", means_init=means, random_state=0
        )
    }
    for seed in range(4):
        fits[f"kmeans_seed{seed}"] = GaussianMixture(
            len(layers), covariance_type="tied", n_init=5, random_state=seed
        )
    for key, gmm in fits.items():
        gmm.set_params(max_iter=500).fit(smooth)
        labels = gmm.predict(smooth)[labelled]
        record[key] = {
            "loglik": float(gmm.score(smooth)),
            "ari": float(adjusted_rand_score(y[labelled].astype(str), labels)),
        }
    return record


if __name__ == "__main__":
    import bench_generalisation
    from _slides import SLIDES

    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "panel_diagnosis.jsonl", "w") as file:
        for name in ("151673", "151674"):
            for variant, adata in bench_generalisation._variants(SLIDES[name]):
                if variant.startswith("genes_"):
                    record = diagnose(name, variant, adata)
                    print(json.dumps(record), flush=True)
                    file.write(json.dumps(record) + "\n")
                    file.flush()
