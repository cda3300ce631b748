"""Joint domains of several DLPFC sections against separate runs of each section.

Two sets: 151673 + 151674 (same donor, adjacent sections, 2,340 shared genes of their 5,000
each) and 151673 + 151674 + 151510 (151510 is another donor with 500 genes: 262 shared). For
each set and seed (7 domains, ARI against the manual layers in ``obs['layer']``):

- ``separate``: ``sf.tl.spatial_domains`` on each section alone, all its genes;
- with ``--shared-genes``, ``separate_shared_genes``: the same, restricted to the set's
  shared genes;
- ``joint_<correction>``: ``sf.tl.joint_domains`` on the set, the slide effect removed from
  the shared embedding by ``harmony``, ``center`` or ``none`` (one fusion model per seed,
  re-integrated and re-clustered per correction);
- with ``--image``, ``joint_gated_<default correction>`` (first set only): the same with
  gated image fusion, each slide's tiles stain-normalised (Reinhard) to the same reference.

Cross-section consistency (``sf.metrics.slide_consistency``): for section ``j`` and layer
``L``, ``m_j(L)`` is the majority domain of the spots of ``j`` labelled ``L``; a labelled spot
of section ``i`` is consistent when its domain equals ``m_j(L)`` on every other section. The
joint labels are used as they are. Separate runs have unrelated label names, so their labels
are first matched to the first section's by a Hungarian assignment on the domains' layer
compositions: an optimistic baseline that uses the truth.

Each (set, seed) runs in a fresh process (wall time and peak memory are its own); the joint
run of seed 0 is repeated to check determinism. Writes ``results/joint.json`` and
``results/joint.md``. Run: ``python benchmarks/bench_joint.py [--seeds 5] [--image]``; the sets
can run as separate processes (``--sets three --name joint_three``), then be merged into
``joint.{json,md}`` with ``--merge joint_pair joint_three``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import time

import anndata as ad
import numpy as np
import pandas as pd
from _common import DLPFC_H5AD, RESULTS, mean_sd, peak_rss_mb, run_in_subprocess, write_results
from scipy.optimize import linear_sum_assignment

import spatialfuse as sf
from spatialfuse.tl._slides import CORRECTIONS, cross_slide_edges

TRUTH = "layer"
N_DOMAINS = 7
LIBRARY = "library_id"
SETS = {"pair": ("151673", "151674"), "three": ("151673", "151674", "151510")}
DEFAULT_CORRECTION = inspect.signature(sf.tl.joint_domains).parameters["batch_correction"].default


def load(sections: tuple[str, ...]) -> list[ad.AnnData]:
    return [ad.read_h5ad(DLPFC_H5AD[s]) for s in sections]


def shared_genes(adatas: list[ad.AnnData]) -> pd.Index:
    genes = adatas[0].var_names
    for adata in adatas[1:]:
        genes = genes[genes.isin(adata.var_names)]
    return genes


def per_section(labels: pd.Series, truth: pd.Series, slides: pd.Series) -> dict[str, float]:
    return {
        str(s): sf.metrics.ari(truth[slides == s], labels[slides == s]) for s in slides.unique()
    }


def consistency(labels: pd.Series, truth: pd.Series, slides: pd.Series) -> dict:
    frame = ad.AnnData(obs=pd.DataFrame({"d": labels, TRUTH: truth, LIBRARY: slides}))
    return sf.metrics.slide_consistency(frame, "d", TRUTH, LIBRARY)


def match_to_first(labels: pd.Series, truth: pd.Series, slides: pd.Series) -> pd.Series:
    """Rename each section's domains after the first section's domain of the most similar
    layer composition (Hungarian assignment on the dot products of the layer fractions)."""
    known = truth.notna()
    first = slides.unique()[0]

    def profiles(section: str) -> pd.DataFrame:
        rows = known & (slides == section)
        table = pd.crosstab(labels[rows], truth[rows])
        return table.div(table.sum(axis=1), axis=0)

    reference = profiles(first)
    out = labels.astype(str).copy()
    for section in slides.unique()[1:]:
        table = profiles(section).reindex(columns=reference.columns, fill_value=0.0)
        rows, cols = linear_sum_assignment(table.to_numpy() @ reference.to_numpy().T, maximize=True)
        mapping = {str(table.index[r]): str(reference.index[c]) for r, c in zip(rows, cols)}
        spots = slides == section
        out[spots] = [mapping.get(x, f"unmatched-{x}") for x in labels[spots].astype(str)]
    return out


def separate_run(set_name: str, seed: int, shared: bool, only: list[str] | None) -> dict:
    """Each section of the set (or those in ``only``) alone, in this fresh process."""
    sf.settings.progress = False
    adatas = load(SETS[set_name])
    genes = shared_genes(adatas) if shared else None
    labels, truth, slides = [], [], []
    start = time.perf_counter()
    for section, adata in zip(SETS[set_name], adatas):
        if only and section not in only:
            continue
        if genes is not None:
            adata = adata[:, genes].copy()
            adata = adata[np.asarray(adata.X.sum(axis=1)).ravel() > 0].copy()
        sf.tl.spatial_domains(adata, n_domains=N_DOMAINS, seed=seed)
        labels.append(adata.obs[sf._keys.DOMAIN].astype(str))
        truth.append(adata.obs[TRUTH])
        slides.append(pd.Series(section, index=adata.obs_names))
    labels, truth, slides = (pd.concat(x, ignore_index=True) for x in (labels, truth, slides))
    return {
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "ari": per_section(labels, truth, slides),
        "consistency": consistency(match_to_first(labels, truth, slides), truth, slides)
        if slides.nunique() > 1
        else None,
    }


def joint_run(set_name: str, seed: int, fusion: str | None) -> tuple[dict, list[str]]:
    """The joint pipeline (in this fresh process) and, on its fusion, every correction; also
    the default's labels."""
    sf.settings.progress = False
    adatas = load(SETS[set_name])
    options = {} if fusion is None else {"fusion": fusion}
    start = time.perf_counter()
    joint = sf.tl.joint_domains(adatas, N_DOMAINS, seed=seed, library_key=LIBRARY, **options)
    seconds = round(time.perf_counter() - start, 1)
    record = joint.uns[sf._keys.JOINT_RECORD]
    out = {
        "seconds": seconds,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "n_genes": record["n_genes"],
        "steps": {k: v["seconds"] for k, v in record["steps"].items()},
        "cross_slide_edges": cross_slide_edges(joint, LIBRARY),
        "corrections": {},
    }
    slides, truth = joint.obs[LIBRARY].astype(str), joint.obs[TRUTH]
    labels_seen = joint.obs[sf._keys.DOMAIN].astype(str).tolist()
    others = [c for c in CORRECTIONS if c != DEFAULT_CORRECTION] if fusion is None else []
    for correction in (DEFAULT_CORRECTION, *others):
        if correction != DEFAULT_CORRECTION:
            sf.tl.integrate_slides(joint, LIBRARY, method=correction, seed=seed)
            sf.tl.cluster_domains(joint, N_DOMAINS, use_rep=sf._keys.JOINT, seed=seed)
        labels = joint.obs[sf._keys.DOMAIN].astype(str)
        out["corrections"][correction] = {
            "ari": per_section(labels, truth, slides),
            "consistency": consistency(labels, truth, slides),
        }
    return out, labels_seen


def summary_rows(results: dict) -> list[dict]:
    """One row per (set, variant): ARI per section and consistency, mean ± sd over seeds."""
    rows = []
    for set_name, data in results["sets"].items():
        variants: dict[str, list[dict]] = {}
        for run in data["separate"]:
            variants.setdefault("separate", []).append(run)
        for run in data["separate_shared_genes"]:
            variants.setdefault("separate_shared_genes", []).append(run)
        for fusion_name, runs in data["joint"].items():
            for run in runs:
                for correction, scores in run["corrections"].items():
                    name = f"joint_{fusion_name}_{correction}"
                    variants.setdefault(name, []).append(scores)
        for variant, runs in variants.items():
            row = {"set": set_name, "variant": variant}
            for section in SETS[set_name]:
                ran = section in runs[0]["ari"]
                row[section] = mean_sd(r["ari"][section] for r in runs) if ran else "-"
            scored = runs[0]["consistency"] is not None
            for key, name in (("consistency",) * 2, ("layers_agreeing", "labels_agreeing")):
                row[key] = mean_sd(r["consistency"][name] for r in runs) if scored else "-"
            rows.append(row)
    return rows


def markdown(results: dict) -> str:
    seeds = results["seeds"]
    lines = [
        f"## Joint domains of DLPFC sections (7 domains, mean ± sd over {len(seeds)} seeds)",
        "",
        "ARI of each section against its manual layers. *Consistency*: fraction of labelled "
        "spots whose domain is the majority domain of their layer on every other section "
        "(`sf.metrics.slide_consistency`); *layers agreeing*: fraction of the 7 layers whose "
        "majority domain is the same on all sections. Separate runs' labels are matched to "
        "the first section's through the layers (optimistic).",
        f"Joint default: batch correction `{results['default_correction']}`, fusion "
        f"`{results['default_fusion']}`"
        + (
            "; `gated` = gated image fusion with per-slide Reinhard stain normalisation"
            if any("gated" in s["joint"] for s in results["sets"].values())
            else ""
        )
        + ". A `-`: not run in this set (the separate runs of 151673 and 151674 on all their "
        "genes are in the first table; a seed gives identical runs).",
        "",
    ]
    for set_name, sections in SETS.items():
        if set_name not in results["sets"]:
            continue
        data = results["sets"][set_name]
        lines += [
            f"### {' + '.join(sections)} ({data['n_shared_genes']} shared genes)",
            "",
            "| variant | " + " | ".join(f"ARI {s}" for s in sections) + " | consistency "
            "| layers agreeing |",
            "|---|" + "---|" * (len(sections) + 2),
        ]
        for row in summary_rows(results):
            if row["set"] == set_name:
                cells = [row[s] for s in sections] + [row["consistency"], row["layers_agreeing"]]
                lines.append(f"| {row['variant']} | " + " | ".join(cells) + " |")
        first = data["joint"]["default"][0]
        lines += [
            "",
            f"Joint run (seed 0, fresh process): {first['seconds']} s, peak "
            f"{first['peak_rss_mb']} MiB; steps (s): "
            + ", ".join(f"{k} {v}" for k, v in first["steps"].items())
            + f"; edges across sections: {first['cross_slide_edges']}.",
            f"Separate runs of {', '.join(data['separate'][0]['ari'])} (seed 0): "
            f"{data['separate'][0]['seconds']} s.",
        ]
        if "deterministic" in data:
            lines.append(f"Joint seed 0 twice gives identical domains: {data['deterministic']}.")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--image", action="store_true", help="add gated image fusion (pair)")
    parser.add_argument("--name", default="joint", help="results/<name>.{json,md}")
    parser.add_argument("--only", nargs="+", help="sections of the separate runs (default all)")
    parser.add_argument("--shared-genes", action="store_true", help="add separate runs on them")
    parser.add_argument("--merge", nargs="+", help="merge results/<name>.json files into joint")
    args = parser.parse_args()
    if args.merge:
        parts = [json.loads((RESULTS / f"{name}.json").read_text()) for name in args.merge]
        merged = {**parts[0], "sets": {k: v for p in parts for k, v in p["sets"].items()}}
        merged["summary"] = summary_rows(merged)
        write_results("joint", merged, markdown(merged))
        return
    seeds = list(range(args.seeds))
    results = {
        "seeds": seeds,
        "default_correction": DEFAULT_CORRECTION,
        "default_fusion": inspect.signature(sf.tl.joint_domains).parameters["fusion"].default,
        "sets": {},
    }
    for set_name in args.sets:
        data = {
            "sections": SETS[set_name],
            "n_shared_genes": len(shared_genes(load(SETS[set_name]))),
            "separate": [],
            "separate_shared_genes": [],
            "joint": {"default": []},
        }
        if set_name == "pair" and args.image:
            data["joint"]["gated"] = []
        results["sets"][set_name] = data
        first_labels = None
        for seed in seeds:
            variants = [("separate", False)] + [("separate_shared_genes", True)] * args.shared_genes
            for variant, shared in variants:
                run = run_in_subprocess(separate_run, set_name, seed, shared, args.only)
                data[variant].append(run)
            for fusion_name in data["joint"]:
                fusion = None if fusion_name == "default" else fusion_name
                run, labels = run_in_subprocess(joint_run, set_name, seed, fusion)
                data["joint"][fusion_name].append(run)
                if seed == seeds[0] and fusion is None:
                    first_labels = labels
            results["summary"] = summary_rows(results)
            write_results(args.name, results, markdown(results))
        if set_name == "pair":
            again = run_in_subprocess(joint_run, set_name, 0, None)[1]
            data["deterministic"] = again == first_labels and seeds[0] == 0
            write_results(args.name, results, markdown(results))


if __name__ == "__main__":
    main()
