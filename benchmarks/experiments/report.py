"""Tables of the experiments (``results/experiments/*.jsonl``) in ``results/experiments.md``.

The image baselines come from ``results/image_weight.json`` (weight 0 = expression only,
same seeds).
Run: ``.venv/bin/python benchmarks/experiments/report.py``.
"""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
from _shared import BENCHMARKS, OUT, mean_sd


def _load(name: str) -> list[dict]:
    with open(OUT / f"{name}.jsonl") as file:
        return [json.loads(line) for line in file]


def _cell(values: list[float]) -> str:
    if not values:
        return "–"
    seeds = "" if len(values) == 5 else f" ({len(values)} seed{'s' if len(values) > 1 else ''})"
    return mean_sd(values) + seeds


def _panel(lines: list[str]) -> None:
    lines += [
        "## Why 2,000 genes lose on DLPFC (`panel_diagnosis.py`)",
        "",
        "| slide | genes | layer accuracy, raw PCs | averaged PCs | mixture from the layers: "
        "ARI (loglik) | best of k-means starts: ARI (loglik) |",
        "|---|---|---|---|---|---|",
    ]
    for r in _load("panel_diagnosis"):
        best = max((v for k, v in r.items() if k.startswith("kmeans")), key=lambda v: v["loglik"])
        start = r["layer_start"]
        lines.append(
            f"| {r['slide']} | {r['variant'].removeprefix('genes_')} | {r['accuracy_raw']:.3f} "
            f"| {r['accuracy_averaged']:.3f} | {start['ari']:.3f} ({start['loglik']:.2f}) "
            f"| {best['ari']:.3f} ({best['loglik']:.2f}) |"
        )
    lines.append("")


def _image(lines: list[str]) -> None:
    with open(BENCHMARKS / "results" / "image_weight.json") as file:
        base = defaultdict(list)
        for r in json.load(file)["runs"]:
            if r["weight"] == 0.0:
                base[r["slide"]].append(r["ari"])
    table = defaultdict(list)
    records = _load("image_evidence") + [
        {**r, "kind": "predicted"} for r in _load("image_predicted")
    ]
    for r in records:
        key = (r["kind"], r["variant"], r["encoder"], r["level"], r["slide"])
        table[key].append(r["ari"])
    slides = sorted({k[-1] for k in table})
    lines += [
        "## The image as evidence (`image_evidence.py`, `image_predicted.py`)",
        "",
        "ARI at the annotated K; *expression only* is weight 0 of `image_weight.md` (same "
        "seeds). `level`: `c` (tempered), the kernel width (edges), the largest weight "
        "(uncertainty), `a` (predicted).",
        "",
        "| kind | variant | encoder | level | " + " | ".join(slides) + " |",
        "|---|---|---|---|" + "---|" * len(slides),
        "| expression only | | | | " + " | ".join(_cell(base[s]) for s in slides) + " |",
    ]
    for kind, variant, encoder, level in sorted({k[:4] for k in table}):
        cells = [_cell(table[kind, variant, encoder, level, s]) for s in slides]
        lines.append(f"| {kind} | {variant} | {encoder} | {level:g} | " + " | ".join(cells) + " |")
    lines.append("")


def _image_diagnosis(lines: list[str]) -> None:
    lines += [
        "## Is the labelled structure in the tile features? (`image_diagnosis.py`)",
        "",
        "20 leading PCs of the standardised features, as they are (hops 0) or averaged over "
        "1-hop neighbourhoods (hops 1). *accuracy*: 5-fold logistic regression predicting the "
        "labels (is the structure there?); *k-means*: ARI of k-means at the annotated K (is "
        "it the dominant structure?).",
        "",
        "| slide | features | encoder | hops | accuracy | k-means ARI |",
        "|---|---|---|---|---|---|",
    ]
    records = _load("image_diagnosis")
    records.sort(key=lambda r: (r["slide"], r["features"] != "image", r["encoder"], r["hops"]))
    for r in records:
        encoder = r["encoder"] if r["features"] == "image" else ""
        lines.append(
            f"| {r['slide']} | {r['features']} | {encoder} | {r['hops']} "
            f"| {r['accuracy']:.3f} | {r['kmeans_ari']:.3f} |"
        )
    lines.append("")


def _cotrain(lines: list[str]) -> None:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in _load("image_cotrain"):
        groups[r["slide"], r["encoder"], r.get("prior_corrected", False)].append(r)
    levels = sorted({float(k[4:]) for rs in groups.values() for k in rs[0] if k[4:5].isdigit()})
    lines += [
        "## The image as a classifier of expression's domains (`image_cotrain.py`)",
        "",
        "ARI at the annotated K; *expression* is the default's domains (same seeds), `c` the "
        "image's weight in `log P_expression + c log P_image`; *prior*: the image's "
        "predictions divided by the frequencies of the domains it was trained on. Accuracy "
        "and kappa: out-of-fold, on the spots expression is sure of (mean over seeds). "
        "`+permuted`: the tile features in a random spatial order.",
        "",
        "| slide | encoder | prior | accuracy | kappa | expression | "
        + " | ".join(f"c = {c:g}" for c in levels)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(levels),
    ]
    for (slide, encoder, prior), rs in sorted(groups.items()):
        kappas = [r.get("image_kappa") for r in rs]
        kappa = f"{sum(kappas) / len(kappas):.3f}" if None not in kappas else "–"
        accuracy = sum(r["image_accuracy"] for r in rs) / len(rs)
        cells = [_cell([r[f"ari_{c:g}"] for r in rs if f"ari_{c:g}" in r]) for c in levels]
        lines.append(
            f"| {slide} | {encoder} | {'yes' if prior else 'no'} | {accuracy:.3f} | {kappa} "
            f"| {_cell([r['ari_domains'] for r in rs])} | " + " | ".join(cells) + " |"
        )
    lines.append("")


def _hmrf_vote(lines: list[str]) -> None:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in _load("image_hmrf_vote"):
        groups[r["slide"]].append(r)
    strengths = sorted(
        {k.rsplit("_", 1)[1] for rs in groups.values() for k in rs[0] if k.startswith("ari_post_")},
        key=float,
    )
    modes = {
        "post": "no guard",
        "halving": "halving (rule before)",
        "guard": "**per-domain guard (default)**",
        "mf": "mean field",
    }
    lines += [
        "## How the image's vote is applied (`image_hmrf_vote.py`)",
        "",
        "ARI at the annotated K, mean ± sd over seeds 0-4 (in brackets the fewest domains left "
        "in any seed), `s` the vote's strength. *no guard*: `log P + s log ratio` spot by "
        "spot; *halving*: the strength halved (at most twice) until no domain loses more than "
        "half its spots (the rule until 2026-12-07); *per-domain guard*: full strength, but "
        "the spots that would leave a domain keeping less than half its spots stay; *mean "
        "field*: the log ratio added to the refitted Gaussian evidence and the Potts mean "
        "field re-run. Every column is computed whatever the kappa: the package votes only at "
        "kappa >= 0.5, so the permuted, complementary and missing-tiles rows show what a "
        "vote would cost if that gate failed.",
        "",
        "| slide | kappa | expression | rule | " + " | ".join(f"s = {v}" for v in strengths) + " |",
        "|---|---|---|---|" + "---|" * len(strengths),
    ]
    for slide, rs in sorted(groups.items()):
        kappa = sum(r["kappa"] for r in rs) / len(rs)
        for mode, label in modes.items():
            if f"ari_{mode}_{strengths[-1]}" not in rs[0]:
                continue
            cells = [
                f"{_cell([r[f'ari_{mode}_{v}'] for r in rs])} "
                f"({min(r[f'domains_{mode}_{v}'] for r in rs)})"
                for v in strengths
            ]
            lines.append(
                f"| {slide} | {kappa:.2f} | {_cell([r['ari_expression'] for r in rs])} | {label} | "
                + " | ".join(cells)
                + " |"
            )
    lines.append("")


def _fusion_models(lines: list[str]) -> None:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in _load("fusion_models"):
        groups[r["slide"], r["method"]].append(r)
    slides = sorted({slide for slide, _ in groups})
    methods = sorted({method for _, method in groups}, key=lambda m: (m != "default", m))
    lines += [
        "## The intermediate-fusion models against the default (`fusion_models.py`)",
        "",
        "ARI at the annotated K, mean ± sd over seeds 0-4, as a user calls them "
        "(`sf.tl.spatial_domains(adata, K, fusion=METHOD)`: 4 trained runs, handcrafted tile "
        "features); in brackets the mean wall seconds per call on the shared 2-core machine.",
        "",
        "| method | " + " | ".join(slides) + " |",
        "|---|" + "---|" * len(slides),
    ]
    for method in methods:
        cells = []
        for slide in slides:
            rs = groups.get((slide, method), [])
            seconds = sum(r["seconds"] for r in rs) / len(rs) if rs else 0
            cells.append(f"{_cell([r['ari'] for r in rs])} ({seconds:.0f} s)" if rs else "–")
        lines.append(f"| `{method}` | " + " | ".join(cells) + " |")
    lines.append("")


def _clustering_objective(lines: list[str]) -> None:
    records = _load("clustering_objective")
    slides = list(dict.fromkeys(r["slide"] for r in records))
    variants = list(dict.fromkeys(r["variant"] for r in records))
    table = {(r["slide"], r["variant"]): r["ari"] for r in records}
    main_slides = [s for s in slides if "(" not in s]
    lines += [
        "## Other starts and objectives for the clustering (`clustering_objective.py`)",
        "",
        'The default\'s representation, a consensus of `n_runs="auto"` runs per seed (seeds '
        "0-4, annotated K); *mean* is over the eight labelled slides (the columns without "
        "brackets).",
        "",
        "| variant | " + " | ".join(slides) + " | mean |",
        "|---|" + "---|" * (len(slides) + 1),
    ]
    for variant in variants:
        cells = [_cell(table.get((slide, variant), [])) for slide in slides]
        done = [np.mean(table[s, variant]) for s in main_slides if (s, variant) in table]
        mean = f"{np.mean(done):.3f}" if len(done) == len(main_slides) else "–"
        lines.append(f"| `{variant}` | " + " | ".join(cells) + f" | {mean} |")
    lines.append("")


def main() -> None:
    lines = [
        "# Experiments: a diagnosis and ideas not adopted",
        "",
        "Scripts in `benchmarks/experiments/` (see its README): a diagnosis of the gene-panel "
        "loss, other clustering objectives, and ways for the image to enter that were measured "
        "and not adopted. Other "
        "expression representations are in the gene-panel table (`bench_gene_panel.py`).",
        "",
    ]
    _panel(lines)
    _image(lines)
    _image_diagnosis(lines)
    _cotrain(lines)
    _hmrf_vote(lines)
    _fusion_models(lines)
    _clustering_objective(lines)
    (BENCHMARKS / "results" / "experiments.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
