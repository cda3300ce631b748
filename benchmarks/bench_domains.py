"""Spatial domains on the labelled DLPFC sections: the default pipeline and its ablations.

For each section (151673, 151674: 5,000 genes; 151510: 500 genes) and seeds 0-4:

- ``default``: ``sf.tl.spatial_domains`` with its defaults (7 domains);
- ``no_spatial_prior``: the default embedding clustered with ``beta=0`` (plain mixture);
- ``gene_only`` / ``gated_fusion``: the embedding of ``sf.tl.fuse`` with that method
  (whichever of them is not the default), clustered like the default.

Preprocessing, graph and image features do not depend on the seed and are computed once per
section; fusion and clustering are re-run per seed. One full pipeline run per section, in a
fresh process, gives wall time and peak memory; seed 0 is run twice to check determinism.
Writes ``results/domains.json`` and ``results/domains.md``.
Run: ``python benchmarks/bench_domains.py [--seeds 5] [--sections 151673 151674 151510]``.
"""

from __future__ import annotations

import argparse
import inspect

import anndata as ad
from _common import DLPFC_H5AD, mean_sd, peak_rss_mb, run_in_subprocess, timed, write_results

import spatialfuse as sf

TRUTH = "layer"
N_DOMAINS = 7


def pipeline_defaults() -> dict:
    params = inspect.signature(sf.tl.spatial_domains).parameters
    return {name: params[name].default for name in ("encoder", "fusion", "n_rings")}


def full_run(section: str) -> dict:
    """One default pipeline run in this (fresh) process: time, memory, scores, labels."""
    sf.settings.progress = False
    adata = ad.read_h5ad(DLPFC_H5AD[section])
    record: dict = {}
    with timed(record):
        sf.tl.spatial_domains(adata, n_domains=N_DOMAINS, seed=0)
    record["peak_rss_mb"] = round(peak_rss_mb(), 1)
    record["steps"] = adata.uns["spatialfuse_pipeline"]["steps"]
    record["ari"] = sf.metrics.compare(adata, sf._keys.DOMAIN, TRUTH)["ari"]
    record["labels"] = adata.obs[sf._keys.DOMAIN].astype(str).tolist()
    return record


def scores(adata: ad.AnnData) -> dict:
    result = sf.metrics.compare(adata, sf._keys.DOMAIN, TRUTH)
    return {"ari": result["ari"], "nmi": result["nmi"]}


def section_runs(section: str, seeds: list[int]) -> dict:
    """ARI/NMI per seed of the default pipeline and its ablations."""
    sf.settings.progress = False
    defaults = pipeline_defaults()
    base = ad.read_h5ad(DLPFC_H5AD[section])
    sf.pp.preprocess(base)
    sf.gr.spatial_graph(base, n_rings=defaults["n_rings"])
    sf.im.extract_tiles(base)
    sf.im.encode(base, encoder=defaults["encoder"])
    other = "gated" if defaults["fusion"] == "gene" else "gene"
    variants = ("default", "no_spatial_prior", f"{other}_fusion")
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for seed in seeds:
        adata = base.copy()
        sf.tl.fuse(adata, method=defaults["fusion"], seed=seed)
        sf.tl.cluster_domains(adata, N_DOMAINS, seed=seed)
        runs["default"].append({"seed": seed, **scores(adata)})
        sf.tl.cluster_domains(adata, N_DOMAINS, beta=0.0, seed=seed)
        runs["no_spatial_prior"].append({"seed": seed, **scores(adata)})
        alternative = base.copy()
        sf.tl.fuse(alternative, method=other, seed=seed)
        sf.tl.cluster_domains(alternative, N_DOMAINS, seed=seed)
        runs[f"{other}_fusion"].append({"seed": seed, **scores(alternative)})
    return runs


def markdown(results: dict) -> str:
    defaults = results["defaults"]
    lines = [
        "## Spatial domains on DLPFC (7 domains, ARI / NMI mean ± sd over "
        f"{len(results['seeds'])} seeds)",
        "",
        f"Default pipeline: encoder `{defaults['encoder']}`, fusion `{defaults['fusion']}`, "
        "HMRF clustering with automatic beta.",
        "",
        "| section | variant | ARI | NMI |",
        "|---|---|---|---|",
    ]
    for section, data in results["sections"].items():
        for variant, runs in data["runs"].items():
            ari = mean_sd(r["ari"] for r in runs)
            nmi = mean_sd(r["nmi"] for r in runs)
            lines.append(f"| {section} | {variant} | {ari} | {nmi} |")
    lines += [
        "",
        "| section | wall time (s) | peak memory (MiB) | seed 0 twice identical |",
        "|---|---|---|---|",
    ]
    for section, data in results["sections"].items():
        cost = data["full_run"]
        lines.append(
            f"| {section} | {cost['seconds']} | {cost['peak_rss_mb']} | {data['deterministic']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sections", nargs="+", default=list(DLPFC_H5AD))
    args = parser.parse_args()
    seeds = list(range(args.seeds))
    results = {"defaults": pipeline_defaults(), "seeds": seeds, "sections": {}}
    for section in args.sections:
        first = run_in_subprocess(full_run, section)
        second = run_in_subprocess(full_run, section)
        results["sections"][section] = {
            "full_run": {k: v for k, v in first.items() if k != "labels"},
            "deterministic": first["labels"] == second["labels"],
            "runs": section_runs(section, seeds),
        }
        print(
            section,
            {
                k: mean_sd(r["ari"] for r in v)
                for k, v in results["sections"][section]["runs"].items()
            },
            flush=True,
        )
    write_results("domains", results, markdown(results))


if __name__ == "__main__":
    main()
