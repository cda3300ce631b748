"""Does the H&E help the default core? The image weight of ``fusion="smoothed"``, measured.

Every labelled slide with an image (DLPFC 151673, 151674, 151510 with 4-px lowres images;
her2st A1, ~31 px per spot, black masked background; MOB rep 12, ~36 px per spot) and four
synthetic slides of ``sf.datasets.synthetic`` (``complementary`` at hires and lowres: six
domains that need both modalities; ``corrupted_image`` at hires: expression separates every
domain, a third of the slide's image is blank or blurred; ``missing_tiles`` at hires:
complementary with a quarter of the tiles missing), and two controls whose tile features are
put in a random spatial order (``+permuted``: the synthetic complementary slide and MOB, as if
the image belonged to another slide). For each fixed image weight ``w`` in
``WEIGHTS`` the run is ``sf.tl.spatial_domains`` at the annotated K with
``step_options={"fuse": {"image_weight": w}}`` (handcrafted encoder), seeds 0-4; the
``default`` row is ``sf.tl.spatial_domains`` at its defaults, where
``sf.tl.weigh_image`` decides the weight without labels (the image features must be
spatially coherent, and the image alone must partition the tissue more reproducibly than
expression alone, by a margin, and independently of it) and, when it gives none,
``sf.tl.refine_with_image`` lets the image vote on the domains if it predicts them. The
margin is also chosen leave-one-slide-out from ``MARGINS``. Writes
``results/image_weight.{json,md}``.

Run: ``.venv/bin/python benchmarks/bench_image_weight.py [--processes 2]`` (about 25 min);
``--slides A B`` re-runs those slides and keeps the last results of the others;
``--weights 0`` re-runs only that fixed weight and the default row (``--weights`` alone: only
the default) and keeps the last results of the other weights.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import numpy as np

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, mean_sd, unprocessed, write_results  # noqa: E402
from _slides import SLIDES, load, n_domains  # noqa: E402

from spatialfuse.tl._image_weight import (  # noqa: E402
    MAX_AGREEMENT,
    MIN_COHERENCE,
    MIN_SPOT_PX,
    MIN_VOTE_SPOT_PX,
)

WEIGHTS = (0.0, 0.1, 0.2, 0.35)
SEEDS = range(5)
MARGINS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)  # candidate stability margins, chosen LOSO
REAL = ("151673", "151674", "151510", "her2st_A1", "mob_rep12")
SYNTHETIC = (
    "complementary:hires",
    "complementary:lowres",
    "corrupted_image:hires",
    "missing_tiles:hires",
)
PERMUTED = ("complementary:hires+permuted", "mob_rep12+permuted")
DEFAULT = "default"  # the row of sf.tl.spatial_domains at its defaults: weigh_image decides


def _slide(name: str):
    import spatialfuse as sf

    if name in SYNTHETIC:
        scenario, image = name.split(":")
        adata = sf.datasets.synthetic(scenario=scenario, image=image, seed=0)
        return adata, adata.obs["domain_truth"].to_numpy(dtype=object), 6
    slide = SLIDES[name]
    adata = load(slide)
    return adata, adata.obs[slide.truth].to_numpy(dtype=object), n_domains(slide)


def _measure(name: str, weights: tuple[float, ...] = WEIGHTS) -> list[dict]:
    import spatialfuse as sf

    sf.settings.progress = False
    sf.settings.verbosity = "WARNING"
    slide, _, control = name.partition("+")
    base, truth, k = _slide(slide)
    sf.pp.preprocess(base, seed=0)
    sf.gr.spatial_graph(base)
    sf.im.tile_quality(base)
    sf.im.encode(base, encoder="handcrafted", seed=0)
    if control == "permuted":
        order = np.random.default_rng(0).permutation(base.n_obs)
        base.obsm[sf._keys.HISTOLOGY] = base.obsm[sf._keys.HISTOLOGY][order]
    lib = next(iter(base.uns["spatial"].values()))
    image = base.uns[sf._keys.TILES]["image"]
    scale = lib["scalefactors"].get(f"tissue_{image}_scalef", 1.0)
    spot_px = lib["scalefactors"]["spot_diameter_fullres"] * scale
    out = []
    for w in weights:
        for seed in SEEDS:
            adata = unprocessed(base)
            sf.tl.spatial_domains(adata, k, seed=seed, step_options={"fuse": {"image_weight": w}})
            out.append(_record(sf, adata, truth, name, w, seed, spot_px))
    for seed in SEEDS:
        adata = unprocessed(base)  # the default ranks the genes itself
        sf.tl.spatial_domains(adata, k, seed=seed)
        decision = adata.uns.get(sf._keys.IMAGE_DECISION, {})
        record = _record(sf, adata, truth, name, DEFAULT, seed, spot_px)
        record["chosen_weight"] = float(decision.get("weight", 0.0))
        for key in ("coherence", "stability_image", "stability_expression", "agreement"):
            record[key] = float(decision[key]) if key in decision else None
        vote = decision.get("vote", {})
        record["vote_kappa"] = vote.get("kappa")
        record["vote_applied"] = bool(vote.get("applied", False))
        record["vote_changed"] = float(vote.get("changed_fraction", 0.0))
        out.append(record)
    return out


def _record(sf, adata, truth, name: str, weight, seed: int, spot_px: float) -> dict:
    return {
        "slide": name,
        "weight": weight,
        "seed": seed,
        "ari": sf.metrics.ari(truth, adata.obs[sf._keys.DOMAIN].to_numpy()),
        "stability": float(adata.uns[sf._keys.DOMAIN]["runs"]["stability"]),
        "usable_tiles": float(_usable(sf, adata)),
        "spot_px": float(spot_px),
    }


def _usable(sf, adata) -> float:
    column = sf._keys.TILE_USABLE
    return float(adata.obs[column].mean()) if column in adata.obs else float("nan")


def _ari(records: list[dict], slide: str, weight, seed: int | None = None) -> float:
    return float(
        np.mean(
            [
                r["ari"]
                for r in records
                if r["slide"] == slide
                and r["weight"] == weight
                and (seed is None or r["seed"] == seed)
            ]
        )
    )


def _rule_ari(records: list[dict], slide: str, margin: float) -> float:
    """Mean ARI over seeds of the rule with ``margin``: w = 0.1 when the image's stability
    beats expression's by ``margin`` and the two partitions agree at most ``MAX_AGREEMENT``
    (gated slides: w = 0)."""
    aris = []
    for r in (r for r in records if r["slide"] == slide and r["weight"] == DEFAULT):
        used = (
            r["stability_image"] is not None
            and r["stability_image"] - r["stability_expression"] >= margin
            and r.get("agreement", 0.0) <= MAX_AGREEMENT
        )
        aris.append(_ari(records, slide, 0.1 if used else 0.0, r["seed"]))
    return float(np.mean(aris))


def leave_one_slide_out(records: list[dict], slides: list[str]) -> dict[str, dict]:
    """For each slide, the margin best on the other slides (mean ARI), applied to it."""
    out = {}
    for left_out in slides:
        others = [s for s in slides if s != left_out]
        best = max(MARGINS, key=lambda m: np.mean([_rule_ari(records, s, m) for s in others]))
        out[left_out] = {"margin": best, "ari": _rule_ari(records, left_out, best)}
    return out


def report(records: list[dict]) -> str:
    slides = [s for s in (*REAL, *SYNTHETIC, *PERMUTED) if any(r["slide"] == s for r in records)]
    head = "| image weight | " + " | ".join(slides) + " |"
    lines = [
        "# Image weight of the default core (`bench_image_weight.py`)",
        "",
        "ARI against the labels, mean ± sd over seeds 0-4, at the annotated K. Fixed weights: "
        "`sf.tl.spatial_domains(..., step_options={'fuse': {'image_weight': w}})` (0 = "
        "expression only). **default**: `sf.tl.spatial_domains` at its defaults, where "
        "`sf.tl.weigh_image` decides the weight (0 or 0.1) per slide and seed without labels; "
        "in brackets the weights it chose. Handcrafted tile features. Spot diameter in pixels "
        "of the best image: "
        + ", ".join(
            f"{s} {next(r['spot_px'] for r in records if r['slide'] == s):.1f}" for s in slides
        )
        + ".",
        "",
        head,
        "|---" * (len(slides) + 1) + "|",
    ]
    for w in (*WEIGHTS, DEFAULT):
        cells = []
        for s in slides:
            rs = [r for r in records if r["slide"] == s and r["weight"] == w]
            cell = mean_sd(r["ari"] for r in rs)
            if w == DEFAULT:
                cell += " (w " + ", ".join(f"{r['chosen_weight']:g}" for r in rs) + ")"
            cells.append(cell)
        label = "**default**" if w == DEFAULT else f"{w:g}"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "What `weigh_image` measures (mean over seeds): the spatial coherence of the image "
        f"components (at least {MIN_COHERENCE:g} to go on), then the stability (mean pairwise "
        "ARI of the clustering runs) of the image alone against expression alone, and the "
        f"agreement of their partitions (`-`: the image is not read, spots under {MIN_SPOT_PX:g} "
        "px, or not clustered, coherence too low). The vote needs a kappa of at least 0.5 "
        f"and tiles that resolve a spot (at least {MIN_VOTE_SPOT_PX:g} px: the 4-px DLPFC sections "
        "do not vote whatever their kappa):",
        "",
        "| slide | coherence | image | expression | image - expression | agreement (ARI) | "
        "vote: kappa (seeds applied, spots moved) | default - expression-only |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in slides:
        rs = [r for r in records if r["slide"] == s and r["weight"] == DEFAULT]
        gain = _ari(records, s, DEFAULT) - _ari(records, s, 0.0)
        coherences = [r.get("coherence") for r in rs]
        coherence = f"{np.mean(coherences):.3f}" if rs and None not in coherences else "-"
        kappas = [r.get("vote_kappa") for r in rs]
        vote = "-"
        if rs and None not in kappas:
            applied = sum(r["vote_applied"] for r in rs)
            moved = 100 * np.mean([r["vote_changed"] for r in rs])
            vote = f"{np.nanmean(kappas):.2f} ({applied} of {len(rs)}, {moved:.1f} %)"
        if rs and rs[0]["stability_image"] is not None:
            image = np.mean([r["stability_image"] for r in rs])
            gene = np.mean([r["stability_expression"] for r in rs])
            agree = [r.get("agreement") for r in rs]
            agreement = f"{np.mean(agree):.3f}" if None not in agree else "-"
            lines.append(
                f"| {s} | {coherence} | {image:.3f} | {gene:.3f} | {image - gene:+.3f} "
                f"| {agreement} | {vote} | {gain:+.3f} |"
            )
        else:
            lines.append(f"| {s} | {coherence} | - | - | - | - | {vote} | {gain:+.3f} |")
    loso = leave_one_slide_out(records, slides)
    lines += [
        "",
        "Leave-one-slide-out: the margin (of "
        + ", ".join(f"{m:g}" for m in MARGINS)
        + ") with the best mean ARI over the other slides, applied to the left-out one "
        "(weight 0.1 when image - expression stability >= margin and the two partitions agree "
        f"at most {MAX_AGREEMENT:g}), against expression only:",
        "",
        "| left out | margin chosen | ARI | expression only | change |",
        "|---|---|---|---|---|",
    ]
    for s in slides:
        base = _ari(records, s, 0.0)
        lines.append(
            f"| {s} | {loso[s]['margin']:g} | {loso[s]['ari']:.3f} | {base:.3f} | "
            f"{loso[s]['ari'] - base:+.3f} |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--slides", nargs="*", default=[*REAL, *SYNTHETIC, *PERMUTED])
    parser.add_argument(
        "--weights",
        nargs="*",
        type=float,
        default=list(WEIGHTS),
        help="the fixed weights to re-run (none: only the default row); the last results of "
        "the others are kept",
    )
    args = parser.parse_args()
    # keep the last results of the slides not re-run, and of the weights not re-run
    path = RESULTS / "image_weight.json"
    previous = json.loads(path.read_text())["runs"] if path.exists() else []
    kept = [
        r
        for r in previous
        if r["slide"] not in args.slides or r["weight"] not in (DEFAULT, *args.weights)
    ]
    with get_context("spawn").Pool(args.processes) as pool:
        measure = partial(_measure, weights=tuple(args.weights))
        parts = pool.map(measure, args.slides, chunksize=1)
    records = kept + [r for part in parts for r in part]
    write_results(
        "image_weight",
        {"weights": WEIGHTS, "seeds": list(SEEDS), "margins": MARGINS, "runs": records},
        report(records),
    )


if __name__ == "__main__":
    main()
