"""Benchmark of ``sf.tl.fuse``: ARI of every fusion method on synthetic slides and DLPFC.

Every slide goes through the package's own steps: ``sf.pp.preprocess``,
``sf.gr.spatial_graph``, ``sf.im.tile_quality`` (tile quality, ``obs['tile_usable']``) and
``sf.im.encode(encoder="handcrafted")``; then ``sf.tl.fuse`` with each method (package
defaults) and ``sf.tl.cluster_domains`` (tied-covariance Gaussian mixture with the HMRF
spatial prior, ``beta="auto"``; also ``beta=0``, a plain mixture) with the true number of
domains. Seed ``s`` seeds the synthetic slide, the fusion and the clustering.

- ``synthetic``: ``sf.datasets.synthetic`` scenarios ``complementary``, ``corrupted_image`` and
  ``missing_tiles`` (600 spots, 6 domains, 200 genes), seeds 0-4;
- ``dlpfc``: sections 151673 and 151674 (7 layers, ``obs['layer']``), seeds 0-4;
- ``sweep``: the fusion loss weights, one at a time around the defaults, for ``"gated"`` on
  the synthetic scenarios (seeds 0-1) and on DLPFC 151673 (seed 0); 151674 is held out. The
  ``defaults`` row reuses the runs of the two parts above;
- ``report``: ``results/fusion.json`` and ``results/fusion.md`` from the runs so far.

Each run is appended to ``results/fusion.runs.jsonl`` as soon as it ends and is skipped when
the script is started again, so a long run can be stopped and resumed.
Run: ``python benchmarks/bench_fusion.py {synthetic,dlpfc,sweep,report} [--seeds 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict
from collections.abc import Iterable

import anndata as ad
import numpy as np
from _common import DLPFC_H5AD, RESULTS, mean_sd, timed, write_results
from anndata import AnnData

import spatialfuse as sf
from spatialfuse.datasets._synthetic import synthetic

RUNS = RESULTS / "fusion.runs.jsonl"
METHODS = ("gene", "image", "early", "late", "cross_attention", "tensor", "gated")
SWEEP_METHOD = "gated"
SWEEP_SEEDS = (0, 1)
SCENARIOS = ("complementary", "corrupted_image", "missing_tiles")
SECTIONS = ("151673", "151674")
SWEEP_SECTION = "151673"
N_SPOTS, N_DOMAINS_SYNTHETIC, N_GENES = 600, 6, 200
SWEEP = {  # one at a time around the defaults of sf.tl.fuse
    "contrastive_weight=0": {"contrastive_weight": 0.0},
    "contrastive_weight=1": {"contrastive_weight": 1.0},
    "spatial_weight=0.3": {"spatial_weight": 0.3},
    "spatial_weight=3": {"spatial_weight": 3.0},
    "reconstruction_weight=0.3": {"reconstruction_weight": 0.3},
}


def prepare(adata: AnnData, n_top_genes: int) -> AnnData:
    """The package's steps up to the image features, as ``sf.tl.spatial_domains`` runs them."""
    sf.pp.preprocess(adata, n_top_genes=n_top_genes, seed=0)
    sf.gr.spatial_graph(adata)
    sf.im.tile_quality(adata)
    sf.im.encode(adata, encoder="handcrafted", seed=0)
    return adata


def synthetic_slide(scenario: str, seed: int) -> AnnData:
    adata = synthetic(
        N_SPOTS, n_domains=N_DOMAINS_SYNTHETIC, n_genes=N_GENES, scenario=scenario, seed=seed
    )
    return prepare(adata, n_top_genes=N_GENES)


def dlpfc_slide(section: str) -> AnnData:
    return prepare(ad.read_h5ad(DLPFC_H5AD[section]), n_top_genes=3000)


def run_one(adata: AnnData, truth_key: str, n_domains: int, seed: int, method: str, **options):
    """Fuse, cluster (HMRF and plain mixture) and score one method on one slide."""
    adata = adata.copy()
    record: dict = {}
    with timed(record):
        sf.tl.fuse(adata, method=method, seed=seed, **options)
    weight = adata.obs[sf._keys.FUSION_WEIGHT_IMAGE].to_numpy()
    usable = adata.obs[sf._keys.TILE_USABLE].to_numpy().astype(bool)
    record.update(
        epochs=adata.uns[sf._keys.FUSED]["params"]["epochs_run"],
        image_weight_usable=float(weight[usable].mean()) if usable.any() else 0.0,
    )
    if "image_corrupted" in adata.obs:
        corrupted = adata.obs["image_corrupted"].to_numpy()
        record["image_weight_corrupted"] = float(weight[corrupted].mean())
        record["image_weight_intact"] = float(weight[~corrupted].mean())
    for name, beta in (("ari", "auto"), ("ari_gmm", 0.0)):
        sf.tl.cluster_domains(adata, n_domains, beta=beta, seed=seed)
        record[name] = sf.metrics.compare(adata, sf._keys.DOMAIN, truth_key)["ari"]
    return record


def _done() -> set[tuple]:
    if not RUNS.exists():
        return set()
    rows = (json.loads(line) for line in RUNS.read_text().splitlines() if line)
    return {(r["part"], r["setting"], r["dataset"], r["method"], r["seed"]) for r in rows}


def _runs(part: str, setting: str, datasets: Iterable[str], seeds, methods, options) -> None:
    """Every (seed, dataset, method) not yet in ``fusion.runs.jsonl``, seed by seed so that a
    cut-short run has whole seeds; each run is appended as soon as it ends."""
    done = _done()
    dlpfc: dict[str, AnnData] = {}
    for seed in seeds:
        for dataset in datasets:
            todo = [m for m in methods if (part, setting, dataset, m, seed) not in done]
            if not todo:
                continue
            if dataset in DLPFC_H5AD:
                if dataset not in dlpfc:
                    dlpfc[dataset] = dlpfc_slide(dataset)
                slide, truth_key, n_domains = dlpfc[dataset], "layer", 7
            else:
                slide = synthetic_slide(dataset, seed)
                truth_key, n_domains = "domain_truth", N_DOMAINS_SYNTHETIC
            for method in todo:
                row = run_one(slide, truth_key, n_domains, seed, method, **options)
                row.update(part=part, setting=setting, dataset=dataset, method=method, seed=seed)
                with RUNS.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                print(part, setting, dataset, seed, method, round(row["ari"], 3), flush=True)


def _table(rows: list[dict], datasets: list[str], value: str = "ari") -> list[str]:
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    cells = defaultdict(list)
    for r in rows:
        cells[r["method"], r["dataset"]].append(r)
    lines = [
        "| method | " + " | ".join(datasets) + " | fuse wall s (mean) | fuse CPU s (mean) |",
        "|---" * (len(datasets) + 3) + "|",
    ]
    for method in methods:
        row = []
        for dataset in datasets:
            runs = cells[method, dataset]
            row.append(f"{mean_sd(r[value] for r in runs)} (n={len(runs)})" if runs else "")
        done = [r for d in datasets for r in cells[method, d]]
        wall = np.mean([r["seconds"] for r in done])
        cpu = [r["cpu_seconds"] for r in done if "cpu_seconds" in r]
        cpu_cell = f"{np.mean(cpu):.1f}" if cpu else "–"
        lines.append(f"| {method} | " + " | ".join(row) + f" | {wall:.1f} | {cpu_cell} |")
    return lines


def report() -> None:
    """Aggregate ``fusion.runs.jsonl`` into ``fusion.json`` and ``fusion.md``."""
    unique = {}  # two processes may both have run a cell: keep the first
    for line in RUNS.read_text().splitlines():
        row = json.loads(line)
        unique.setdefault(
            (row["part"], row["setting"], row["dataset"], row["method"], row["seed"]), row
        )
    rows = list(unique.values())
    main = [r for r in rows if r["part"] in ("synthetic", "dlpfc") and r["setting"] == "defaults"]
    lines = [
        "# Fusion benchmark (`benchmarks/bench_fusion.py`)",
        "",
        "Image features: `sf.im.tile_quality` + `sf.im.encode(encoder='handcrafted')`; "
        "`sf.tl.fuse` with its defaults; clustering: `sf.tl.cluster_domains` (tied Gaussian "
        "mixture, HMRF prior with automatic beta; `beta=0` for the plain mixture) with the true "
        "number of domains. ARI mean ± sd over seeds (n = runs per cell). Fuse times on a "
        "shared 2-core machine (wall: upper bounds; CPU: the fusion process, all threads), "
        "torch on 1 thread.",
        "",
    ]
    counts = defaultdict(int)
    for r in main:
        counts[r["part"], r["dataset"], r["method"]] += 1
    if len(counts) < len(METHODS) * (len(SCENARIOS) + len(SECTIONS)) or min(counts.values()) < 5:
        lines += [
            "PARTIAL: cells with n < 5 (or empty) were cut short by the time limit; rerun the "
            "same command to complete them (finished runs are kept in `fusion.runs.jsonl`).",
            "",
        ]
    for part, datasets in (("synthetic", list(SCENARIOS)), ("dlpfc", list(SECTIONS))):
        part_rows = [r for r in main if r["part"] == part]
        if not part_rows:
            continue
        title = (
            f"Synthetic slides ({N_SPOTS} spots, {N_DOMAINS_SYNTHETIC} domains)"
            if part == "synthetic"
            else "DLPFC (7 layers)"
        )
        lines += [f"## {title}: ARI, HMRF clustering", "", *_table(part_rows, datasets), ""]
        lines += [f"### {title}: ARI, plain mixture (beta=0)", ""]
        lines += [*_table(part_rows, datasets, "ari_gmm"), ""]
    sweep = [r for r in rows if r["part"] == "sweep"]
    if sweep:
        datasets = [*SCENARIOS, SWEEP_SECTION]
        defaults = [
            r
            for r in main
            if r["method"] == SWEEP_METHOD
            and (r["seed"] in SWEEP_SEEDS if r["part"] == "synthetic" else r["seed"] == 0)
        ]
        lines += [
            f"## Loss-weight sweep ({SWEEP_METHOD}, HMRF ARI; synthetic seeds "
            f"{', '.join(map(str, SWEEP_SEEDS))}, DLPFC {SWEEP_SECTION} seed 0; "
            f"{', '.join(s for s in SECTIONS if s != SWEEP_SECTION)} held out)",
            "",
            "| setting | " + " | ".join(datasets) + " | mean of the synthetic |",
            "|---" * (len(datasets) + 2) + "|",
        ]
        for setting in ["defaults", *SWEEP]:
            runs = (
                defaults if setting == "defaults" else [r for r in sweep if r["setting"] == setting]
            )
            if not runs:
                continue
            means = [
                np.mean([r["ari"] for r in runs if r["dataset"] == d] or [np.nan]) for d in datasets
            ]
            cells = " | ".join("" if np.isnan(m) else f"{m:.3f}" for m in means)
            lines.append(f"| {setting} | {cells} | {np.nanmean(means[:-1]):.3f} |")
        lines.append("")
    write_results("fusion", {"runs": rows}, "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("part", choices=["synthetic", "dlpfc", "sweep", "report"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--datasets", default=None, help="comma-separated subset")
    args = parser.parse_args()
    if args.part != "report":
        sf.settings.n_threads = int(os.environ.get("SPATIALFUSE_BENCH_THREADS", "1"))
        sf.settings.progress = False
        sf.settings.verbosity = "WARNING"
        methods = args.methods.split(",")
        seeds = range(args.seeds)
        if args.part == "sweep":
            datasets = args.datasets.split(",") if args.datasets else [*SCENARIOS, SWEEP_SECTION]
            for setting, options in SWEEP.items():
                synthetic_sets = [d for d in datasets if d in SCENARIOS]
                _runs("sweep", setting, synthetic_sets, SWEEP_SEEDS, [SWEEP_METHOD], options)
            for setting, options in SWEEP.items():
                dlpfc_sets = [d for d in datasets if d in DLPFC_H5AD]
                _runs("sweep", setting, dlpfc_sets, [0], [SWEEP_METHOD], options)
        else:
            default = SCENARIOS if args.part == "synthetic" else SECTIONS
            datasets = args.datasets.split(",") if args.datasets else default
            _runs(args.part, "defaults", datasets, seeds, methods, {})
    report()


if __name__ == "__main__":
    main()
