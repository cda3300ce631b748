"""Histology encoders: do the image features separate annotated regions?

For each encoder (and tile size variant) on the 10x breast-cancer section (20 fine / 4 coarse
manual regions, lowres H&E) and DLPFC 151673 (cortical layers, lowres H&E): 5-fold stratified
kNN accuracy (k = 10, standardised features) and ARI of k-means (k = number of classes), as
mean ± sd over 3 seeds (the seed drives the encoder when it is stochastic, the CV split and
k-means); plus the wall time and peak memory of ``sf.im.encode`` (run in a fresh process).

Run: ``.venv/bin/python benchmarks/bench_histology.py`` (about 40 min on a busy shared 2-core CPU).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DLPFC_H5AD,
    SHARED_DATA,
    mean_sd,
    peak_rss_mb,
    run_in_subprocess,
    spots_without_counts,
    write_results,
)

BRCA = SHARED_DATA / "brca_block_a_section1_partial"
SEEDS = (0, 1, 2)
N_EPOCHS = 5
# (dataset, label, encoder, size_um, tile_px, stochastic), most important first: the machine is
# shared, so results are written after every job and the list is cut to what fits the time.
JOBS = (
    [
        (dataset, *config)
        for dataset in ("brca", "151673")
        for config in [
            ("handcrafted 110um/32px", "handcrafted", 110.0, 32, False),
            ("efficientnet 110um/64px", "efficientnet", 110.0, 64, False),
            ("simclr 110um/32px", "simclr", 110.0, 32, True),
        ]
    ]
    + [
        (dataset, f"handcrafted {size:.0f}um/32px", "handcrafted", size, 32, False)
        for dataset in ("brca", "151673")
        for size in (55.0, 220.0)
    ]
    + [("brca", "efficientnet 220um/64px", "efficientnet", 220.0, 64, False)]
)


def load_brca() -> ad.AnnData:
    """The breast-cancer section as a Visium AnnData: annotated in-tissue spots, no counts."""
    adata = spots_without_counts(BRCA, "brca_a1")
    labels = pd.read_csv(BRCA / "metadata.tsv", sep="\t", index_col=0)
    adata = adata[adata.obs_names.isin(labels.index)].copy()
    adata.obs = adata.obs.join(labels[["annot_type", "fine_annot_type"]])
    return adata


def load_dataset(name: str) -> tuple[ad.AnnData, dict[str, np.ndarray]]:
    """The slide and its label sets."""
    if name == "brca":
        adata = load_brca()
        return adata, {
            "fine": adata.obs["fine_annot_type"].to_numpy(),
            "coarse": adata.obs["annot_type"].to_numpy(),
        }
    adata = ad.read_h5ad(DLPFC_H5AD[name])
    adata = adata[adata.obs["layer"].notna()].copy()
    return adata, {"layer": adata.obs["layer"].astype(str).to_numpy()}


def encode_once(dataset: str, encoder: str, size_um: float, tile_px: int, seed: int) -> dict:
    """Encode in this (fresh) process; return features, time and peak memory."""
    import spatialfuse as sf

    sf.settings.progress = False
    sf.settings.verbosity = "WARNING"
    adata, _ = load_dataset(dataset)
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    sf.im.tile_quality(adata, size_um=size_um, tile_px=tile_px)
    sf.im.encode(adata, encoder=encoder, tile_px=tile_px, n_epochs=N_EPOCHS, seed=seed)
    return {
        "features": adata.obsm["X_histology"],
        "seconds": time.perf_counter() - start,
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": rss_before,
        "n_spots": adata.n_obs,
        "n_usable": int(adata.obs["tile_usable"].sum()),
    }


def evaluate(features: np.ndarray, labels: np.ndarray, seed: int) -> dict[str, float]:
    """5-fold stratified kNN accuracy and k-means ARI."""
    knn = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=10))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    accuracy = cross_val_score(knn, features, labels, cv=folds).mean()
    k = len(np.unique(labels))
    clusters = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(
        StandardScaler().fit_transform(features)
    )
    return {
        "knn_accuracy": float(accuracy),
        "kmeans_ari": float(adjusted_rand_score(labels, clusters)),
    }


def main() -> None:
    results: list[dict] = []
    for dataset, label, encoder, size_um, tile_px, stochastic in JOBS:
        _, label_sets = load_dataset(dataset)
        runs = []
        encoded = None
        for seed in SEEDS:
            if encoded is None or stochastic:
                encoded = run_in_subprocess(encode_once, dataset, encoder, size_um, tile_px, seed)
                runs.append({k: v for k, v in encoded.items() if k != "features"})
            for name, labels in label_sets.items():
                scores = evaluate(encoded["features"], labels, seed)
                results.append(
                    {"dataset": dataset, "config": label, "labels": name, "seed": seed, **scores}
                )
        results.append({"dataset": dataset, "config": label, "timing": runs})
        print(dataset, label, runs[-1], flush=True)
        write_results(
            "histology", {"n_epochs_simclr": N_EPOCHS, "results": results}, to_markdown(results)
        )


def to_markdown(results: list[dict]) -> str:
    scores = pd.DataFrame([r for r in results if "labels" in r])
    timing = {(r["dataset"], r["config"]): r["timing"] for r in results if "timing" in r}
    lines = [
        "# Histology encoders (benchmarks/bench_histology.py)",
        "",
        f"Lowres H&E only (spot ~4.4 px across). SimCLR: {N_EPOCHS} epochs. "
        "kNN: 5-fold stratified accuracy, k = 10, "
        "standardised features. ARI: k-means (k = number of classes) vs the labels. "
        "mean ± sd over seeds 0, 1, 2 (encoder seed when stochastic, CV split, k-means). "
        "Time and peak RSS of sf.im.encode in a fresh process (RSS includes Python, torch "
        "and the data; 'before' is the RSS before encoding). The 2-core machine was shared "
        "with three other engineers while this ran: times are upper bounds.",
        "",
        "| dataset | encoder | labels | kNN accuracy | k-means ARI | encode s "
        "| peak RSS MiB (before) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (dataset, config, labels), group in scores.groupby(
        ["dataset", "config", "labels"], sort=False
    ):
        runs = timing[(dataset, config)]
        secs = mean_sd(r["seconds"] for r in runs)
        rss = f"{max(r['peak_rss_mb'] for r in runs):.0f} ({runs[0]['rss_before_mb']:.0f})"
        lines.append(
            f"| {dataset} | {config} | {labels} | {mean_sd(group.knn_accuracy)} | "
            f"{mean_sd(group.kmeans_ari)} | {secs} | {rss} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
