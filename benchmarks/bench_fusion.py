"""Benchmark of ``sf.tl.fuse``: ARI of every fusion method on synthetic slides and DLPFC.

Synthetic slides (``sf.datasets.synthetic``) where the answer is known: complementary
modalities, a corrupted image region, spots without a tile. Then DLPFC 151673 / 151674.
Clustering: scikit-learn GaussianMixture on the embedding. Writes
``benchmarks/results/fusion.json`` and ``fusion.md``. Run: ``python benchmarks/bench_fusion.py``.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import anndata as ad
import numpy as np
import torch
from anndata import AnnData
from scipy import ndimage
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

import spatialfuse as sf
from spatialfuse._atomic import atomic_path
from spatialfuse._logging import warning
from spatialfuse._validation import choose_image, get_library_id, get_scalefactors, image_scale
from spatialfuse.datasets._synthetic import synthetic
from spatialfuse.tl._fuse import fuse

RESULTS = Path(__file__).parent / "results"
DLPFC = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dlpfc" / "h5ad"
METHODS = ("gene", "image", "early", "late", "cross_attention", "tensor", "gated")
SCENARIOS = ("complementary", "corrupted_image", "missing_tiles")
SWEEP = {  # one-at-a-time changes around the defaults (r=1, c=0.1, s=1, T=0.5)
    "defaults": {},
    "contrastive=0": {"contrastive_weight": 0.0},
    "contrastive=1": {"contrastive_weight": 1.0},
    "spatial=0": {"spatial_weight": 0.0},
    "spatial=3": {"spatial_weight": 3.0},
}


def spot_image_stats(adata: AnnData) -> np.ndarray:
    """Simple per-spot colour and texture statistics of the best image (until sf.im lands).

    Mean and sd of RGB, gradient energy and structure-tensor entries in a window of one and
    of two spot diameters around each spot.
    """
    lib = get_library_id(adata)
    name = choose_image(adata, lib, "auto")
    img = np.asarray(adata.uns["spatial"][lib]["images"][name], dtype=np.float32)
    img = img / 255.0 if img.max() > 1 else img
    scale = image_scale(adata, lib, name)
    diameter = get_scalefactors(adata, lib)["spot_diameter_fullres"] * scale
    grey = img.mean(axis=2)
    gy, gx = np.gradient(ndimage.gaussian_filter(grey, 0.7))
    maps = [*np.moveaxis(img, 2, 0), *np.moveaxis(img**2, 2, 0), gx * gx, gy * gy, gx * gy]
    xy = np.round(np.asarray(adata.obsm["spatial"]) * scale).astype(int)
    col = np.clip(xy[:, 0], 0, img.shape[1] - 1)
    row = np.clip(xy[:, 1], 0, img.shape[0] - 1)
    features = []
    for window in (diameter, 2 * diameter):
        size = max(3, int(round(window)))
        means = np.stack([ndimage.uniform_filter(m, size)[row, col] for m in maps], axis=1)
        sd = np.sqrt(np.clip(means[:, 3:6] - means[:, :3] ** 2, 0, None))
        features.append(np.hstack([means[:, :3], sd, means[:, 6:]]))
    return np.hstack(features)


def prepare(adata: AnnData, n_top_genes: int = 3000, n_rings: int = 1) -> str:
    """Preprocess, build the graph and the image features; return the feature source.

    Image features: ``sf.im.encode(encoder="handcrafted")`` when it runs, otherwise
    :func:`spot_image_stats`.
    """
    sf.pp.preprocess(adata, n_top_genes=n_top_genes, n_comps=30)
    sf.gr.spatial_graph(adata, n_rings=n_rings)
    try:
        sf.im.encode(adata, encoder="handcrafted")
        return "sf.im.encode(handcrafted)"
    except Exception as error:  # noqa: BLE001 - the im branch may not be ready yet
        warning("sf.im.encode failed (%s); using colour statistics", error)
        adata.obsm["X_histology"] = spot_image_stats(adata)
        return "spot_image_stats"


def ari_of(z: np.ndarray, truth, n_domains: int, seed: int, covariance: str = "full") -> float:
    """ARI of a GaussianMixture clustering of ``z`` against ``truth`` (NaN labels dropped)."""
    gmm = GaussianMixture(n_domains, covariance_type=covariance, random_state=seed)
    labels = gmm.fit_predict(z)
    truth = np.asarray(truth, dtype=object)
    known = np.array([t == t and t is not None for t in truth])
    return float(adjusted_rand_score(truth[known].astype(str), labels[known]))


def _run(adata, truth, n_domains, seed, covariance, **options) -> dict:
    start = time.perf_counter()
    fuse(adata, seed=seed, **options)
    seconds = time.perf_counter() - start
    return {
        "ari": ari_of(adata.obsm["X_fused"], truth, n_domains, seed, covariance),
        "seconds": seconds,
        "epochs": adata.uns["X_fused"]["params"]["epochs_run"],
        "mean_image_weight": float(adata.obs["fusion_weight_image"].mean()),
    }


def synthetic_part(seeds, n_spots, epochs) -> dict:
    """Every method on every scenario and seed; extra ARI of the damaged spots."""
    out = {}
    for scenario in SCENARIOS:
        for seed in seeds:
            adata = synthetic(n_spots, n_domains=6, scenario=scenario, seed=seed)
            source = prepare(adata, n_top_genes=200)
            for method in METHODS:
                row = _run(
                    adata, adata.obs["domain_truth"], 6, seed, "full", method=method, epochs=epochs
                )
                row["features"] = source
                out.setdefault(scenario, {}).setdefault(method, []).append(row)
                print(scenario, seed, method, round(row["ari"], 3), flush=True)
    return out


def dlpfc_part(sections, seeds, epochs, methods=METHODS, **options) -> dict:
    """Every method on the DLPFC sections, tied-covariance GMM with 7 components."""
    out = {}
    for section in sections:
        adata = ad.read_h5ad(next(DLPFC.glob(f"{section}_*.h5ad")))
        source = prepare(adata)
        truth = adata.obs["layer"]
        for seed in seeds:
            pca = ari_of(adata.obsm["X_pca"], truth, 7, seed, "tied")
            out.setdefault(section, {}).setdefault("pca (no graph)", []).append({"ari": pca})
            for method in methods:
                row = _run(adata, truth, 7, seed, "tied", method=method, epochs=epochs, **options)
                row["features"] = source
                out[section].setdefault(method, []).append(row)
                print(section, seed, method, round(row["ari"], 3), flush=True)
    return out


def sweep_part(epochs, n_spots) -> dict:
    """Loss weights of the gated model: DLPFC 151673 and a complementary slide, seed 0."""
    out = {}
    adata = ad.read_h5ad(next(DLPFC.glob("151673_*.h5ad")))
    prepare(adata)
    synth = synthetic(n_spots, n_domains=6, scenario="complementary", seed=0)
    prepare(synth, n_top_genes=200)
    slides = {
        "151673": (adata, adata.obs["layer"], 7, "tied"),
        "complementary": (synth, synth.obs["domain_truth"], 6, "full"),
    }
    for name, options in SWEEP.items():
        for slide, (data, truth, k, covariance) in slides.items():
            row = _run(data, truth, k, 0, covariance, method="gated", epochs=epochs, **options)
            out.setdefault(name, {})[slide] = row
            print("sweep", name, slide, round(row["ari"], 3), flush=True)
    return out


def _summary(rows: list[dict]) -> str:
    ari = np.array([r["ari"] for r in rows])
    return f"{ari.mean():.3f} ± {ari.std(ddof=1) if len(ari) > 1 else 0:.3f}"


def report() -> None:
    """Merge the parts into fusion.json and fusion.md."""
    parts = {
        p: json.loads((RESULTS / f"fusion.{p}.json").read_text())
        for p in ("synthetic", "dlpfc", "sweep")
        if (RESULTS / f"fusion.{p}.json").exists()
    }
    lines = ["# Fusion benchmark (`benchmarks/bench_fusion.py`)", ""]
    for part in ("synthetic", "dlpfc"):
        if part not in parts:
            continue
        table = parts[part]["results"]
        meta = parts[part]["meta"]
        lines += [f"## {part}", "", f"{meta}", ""]
        columns = list(table)
        methods = list(dict.fromkeys(m for c in columns for m in table[c]))
        lines += [
            "| method | " + " | ".join(columns) + " | mean s/run |",
            "|---" * (len(columns) + 2) + "|",
        ]
        for method in methods:
            cells = [_summary(table[c][method]) if method in table[c] else "" for c in columns]
            secs = [
                r["seconds"] for c in columns for r in table[c].get(method, []) if "seconds" in r
            ]
            lines.append(
                f"| {method} | " + " | ".join(cells) + f" | {np.mean(secs):.1f} |"
                if secs
                else f"| {method} | " + " | ".join(cells) + " | |"
            )
        lines.append("")
    if "sweep" in parts:
        lines += [
            "## Loss-weight sweep (gated, seed 0)",
            "",
            "| setting | 151673 ARI | complementary ARI |",
            "|---|---|---|",
        ]
        for name, row in parts["sweep"]["results"].items():
            lines.append(
                f"| {name} | {row['151673']['ari']:.3f} | {row['complementary']['ari']:.3f} |"
            )
        lines.append("")
    with atomic_path(RESULTS / "fusion.md") as path:
        Path(path).write_text("\n".join(lines))
    with atomic_path(RESULTS / "fusion.json") as path:
        Path(path).write_text(json.dumps(parts, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("part", choices=["synthetic", "dlpfc", "sweep", "report"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-spots", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.part == "report":
        report()
        return
    torch.set_num_threads(args.threads)
    sf.settings.progress = False
    sf.settings.verbosity = "WARNING"
    start = time.perf_counter()
    seeds = list(range(args.seeds))
    if args.part == "synthetic":
        results = synthetic_part(seeds, args.n_spots, args.epochs)
    elif args.part == "dlpfc":
        results = dlpfc_part(("151673", "151674"), seeds, args.epochs, args.methods.split(","))
    else:
        results = sweep_part(args.epochs, args.n_spots)
    meta = {
        "seeds": seeds,
        "n_spots": args.n_spots if args.part != "dlpfc" else None,
        "max_epochs": args.epochs,
        "torch_threads": args.threads,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "note": "2-core machine shared with 3 other engineers' jobs while measured (load 7-10)",
    }
    with atomic_path(RESULTS / f"fusion.{args.part}.json") as path:
        Path(path).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    report()


if __name__ == "__main__":
    main()
