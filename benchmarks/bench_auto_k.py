"""Rules that pick the number of domains, compared leave-one-slide-out on the labelled slides.

The automatic K of ``sf.tl.spatial_domains`` scans K = 3..12 and scores each by the stability
of its clustering runs (``sf.cluster.select_n_domains``); the K picked is then clustered as
if it had been given, with the same seed. So the ARI of any rule's pick can be read off two
tables, without running each rule:

- ``grid``: ``sf.tl.spatial_domains`` at every K in 3..12 on every labelled slide, seeds 0-4
  (ARI and the smallest domain's share of spots); cached in
  ``benchmarks/.cache/auto_k/grid/``;
- the stability of every K per slide and seed, from the ``auto_k`` part of
  ``bench_generalisation.py`` (run it first; its default scan).

The scan's own check that no domain holds under 1 % of the spots is read off the grid
too (the smallest domain of the refit at that K, not of the scan's consensus), so the
current rule's row here is an approximation: the package's actual picks
(``generalisation.md``, also shown here) differ on her2st A1, B1 and MOB.

Rules (``RULES``): the current one (the largest K within ``tol`` of the best stability,
ignoring K whose domains include one under 1 % of the spots) for several ``tol``; the most
stable K; the smallest K within ``tol``. Each rule's mean ARI over slides, its picks, and the
rule chosen on the other seven slides for each slide left out (the generalisation figure).
Writes ``results/auto_k.json`` and ``results/auto_k.md``.

Run: ``.venv/bin/python benchmarks/bench_auto_k.py`` (about 15 min on 2 cores, once).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import numpy as np

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, write_results  # noqa: E402
from _slides import SLIDES, n_domains  # noqa: E402
from bench_generalisation import leave_one_slide_out  # noqa: E402

CACHE = REPO / "benchmarks" / ".cache" / "auto_k" / "grid"
SCORES = REPO / "benchmarks" / ".cache" / "generalisation" / "auto_k"
SEEDS = range(5)
K_RANGE = range(3, 13)
MIN_SHARE = 0.01  # as sf.cluster.select_n_domains


def _grid_slide(name: str) -> None:
    from bench_generalisation import _setup

    import spatialfuse as sf

    _, base, truth, _ = _setup(name)
    for k in K_RANGE:
        for seed in SEEDS:
            path = CACHE / f"K{k}" / f"{name}_seed{seed}.json"
            if path.exists():
                continue
            adata = base.copy()
            sf.tl.spatial_domains(adata, n_domains=k, seed=seed)
            labels = adata.obs[sf._keys.DOMAIN].to_numpy()
            share = float(np.unique(labels, return_counts=True)[1].min() / len(labels))
            record = {"ari": sf.metrics.ari(truth, labels), "min_share": share}
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record))


def _largest_within(tol: float, stability: dict[int, float], share: dict[int, float]) -> int:
    eligible = {k: s for k, s in stability.items() if share[k] >= MIN_SHARE} or stability
    best = max(eligible.values())
    return max(k for k, s in eligible.items() if s >= best - tol)


def _smallest_within(tol: float, stability: dict[int, float], share: dict[int, float]) -> int:
    eligible = {k: s for k, s in stability.items() if share[k] >= MIN_SHARE} or stability
    best = max(eligible.values())
    return min(k for k, s in eligible.items() if s >= best - tol)


RULES: dict[str, Callable[[dict[int, float], dict[int, float]], int]] = {
    **{f"largest_within_{t:g}": partial(_largest_within, t) for t in (0.0, 0.02, 0.05, 0.1)},
    **{f"smallest_within_{t:g}": partial(_smallest_within, t) for t in (0.02, 0.05)},
}


def _tables(scan: int) -> tuple[dict, dict]:
    """``grid[slide][seed][K]`` (ARI, share) and ``stability[slide][seed][K]``."""
    grid: dict = {}
    for path in CACHE.rglob("*.json"):
        slide, seed = path.stem.rsplit("_seed", 1)
        k = int(path.parent.name[1:])
        grid.setdefault(slide, {}).setdefault(int(seed), {})[k] = json.loads(path.read_text())
    stability: dict = {}
    for path in (SCORES / f"scan{scan}").glob("*.json"):
        slide, seed = path.stem.rsplit("_seed", 1)
        scores = json.loads(path.read_text())["n_domains_scores"]
        stability.setdefault(slide, {})[int(seed)] = dict(
            zip(scores["n_domains"], scores["stability"], strict=True)
        )
    return grid, stability


def _package_picks(scan: int, slides: list[str]) -> dict[str, tuple[float, list[int]]]:
    """Mean ARI and K per seed of the package's own automatic runs (``auto_k``)."""
    out = {}
    for s in slides:
        runs = [
            json.loads((SCORES / f"scan{scan}" / f"{s}_seed{seed}.json").read_text())
            for seed in SEEDS
        ]
        out[s] = (float(np.mean([r["ari"] for r in runs])), [r["n_domains"] for r in runs])
    return out


def report(scan: int) -> None:
    grid, stability = _tables(scan)
    slides = [s for s in SLIDES if s in grid and s in stability]
    picks: dict[str, dict[str, list[int]]] = {}
    aris: dict[str, dict[str, list[float]]] = {}
    for rule, pick in RULES.items():
        for s in slides:
            for seed in SEEDS:
                cells = grid[s][seed]
                share = {k: cells[k]["min_share"] for k in K_RANGE}
                k = pick(stability[s][seed], share)
                picks.setdefault(rule, {}).setdefault(s, []).append(k)
                aris.setdefault(rule, {}).setdefault(s, []).append(cells[k]["ari"])
    mean = {r: {s: float(np.mean(aris[r][s])) for s in slides} for r in RULES}
    left_out = {
        s: {"chosen": v["chosen"], "ari": float(np.mean(v["ari"]))}
        for s, v in leave_one_slide_out(aris, slides)["left_out"].items()
    }
    oracle = {
        s: float(np.mean([max(grid[s][seed][k]["ari"] for k in K_RANGE) for seed in SEEDS]))
        for s in slides
    }
    annotated = {
        s: float(np.mean([grid[s][seed][n_domains(SLIDES[s])]["ari"] for seed in SEEDS]))
        for s in slides
    }
    header = "| rule | " + " | ".join(slides) + " | mean |"
    rule_line = "|---" * (len(slides) + 2) + "|"
    lines = [
        "# Rules for the automatic number of domains",
        "",
        f"Generated by `benchmarks/bench_auto_k.py` (its docstring is the method); stability "
        f"from scans with {scan} k-means start(s) per run. Cells: mean ARI over seeds 0-4 "
        "(the K picked per seed in brackets).",
        "",
        header,
        rule_line,
    ]
    for r in RULES:
        cells = " | ".join(f"{mean[r][s]:.3f} ({','.join(map(str, picks[r][s]))})" for s in slides)
        lines.append(f"| `{r}` | {cells} | {np.mean(list(mean[r].values())):.3f} |")
    actual = _package_picks(scan, slides)
    cells = " | ".join(f"{actual[s][0]:.3f} ({','.join(map(str, actual[s][1]))})" for s in slides)
    lines.append(
        f"| package default (actual picks) | {cells} | "
        f"{np.mean([v[0] for v in actual.values()]):.3f} |"
    )
    for label, row in (("annotated K", annotated), ("best K per seed (oracle)", oracle)):
        cells = " | ".join(f"{row[s]:.3f}" for s in slides)
        lines.append(f"| {label} | {cells} | {np.mean(list(row.values())):.3f} |")
    cells = " | ".join(f"{left_out[s]['ari']:.3f} (`{left_out[s]['chosen']}`)" for s in slides)
    lines.append(
        f"| **left-out** (rule chosen on the other slides) | {cells} | "
        f"{np.mean([v['ari'] for v in left_out.values()]):.3f} |"
    )
    write_results(
        "auto_k",
        {
            "scan": scan,
            "picks": picks,
            "ari": aris,
            "left_out": left_out,
            "oracle": oracle,
            "annotated": annotated,
        },
        "\n".join(lines) + "\n",
    )


def main() -> None:
    from spatialfuse.cluster._selection import SCAN_N_INIT

    names = sorted(SLIDES, key=lambda s: SLIDES[s].kind != "visium")
    with get_context("spawn").Pool(2) as pool:
        pool.map(_grid_slide, names, chunksize=1)
    report(SCAN_N_INIT)


if __name__ == "__main__":
    main()
