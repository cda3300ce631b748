"""Scaling of the pipeline with the number of spots: time and peak memory of every step.

Synthetic Visium slides (``sf.datasets.synthetic``, scenario ``"basic"``, 7 domains, 1,000
genes, lowres H&E with ~4 px spots) of 1k, 5k, 20k, 100k and 300k spots go through
``sf.tl.spatial_domains`` in three configurations: the package default (expression PCs
averaged over neighbourhoods, the lowres image read, encoded and weighed by
``sf.tl.weigh_image``, ``n_runs="auto"`` clustering runs), one run of the trained expression
autoencoder (``fusion="gene"``) and one of gated image fusion with the handcrafted encoder.
Each slide is generated and written to an ``.h5ad`` by one process, then the pipeline runs in
another, fresh process, so its peak memory (``ru_maxrss``, recorded after each
step in ``uns['spatialfuse_pipeline']['steps']``, with its wall and CPU time) is its own and
excludes the generator. One thread (``OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)``), so
the CPU time is what an idle machine would take. The growth exponent of each step is the
least-squares slope of log(CPU seconds) against log(spots).

Writes ``benchmarks/results/scaling.json``, ``scaling.md`` and ``scaling.png``. Run from the
repository root: ``.venv/bin/python benchmarks/bench_scaling.py [--sizes 1000,5000]
[--configs default,gene,gated] [--workdir DIR]`` (about 1.5 h on a shared 2-core machine; slides are
cached in ``--workdir``, by default the system's temporary folder); ``--report`` only rewrites
the tables and the plot from the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, peak_rss_mb

from spatialfuse._atomic import atomic_path
from spatialfuse.tl._pipeline import STEPS  # the columns, in the pipeline's order

SIZES = (1_000, 5_000, 20_000, 100_000, 300_000)
CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},  # what a user gets: n_runs="auto" (4 runs on 4,000 spots, fewer above)
    # one training and clustering run of the trained fusions
    "gene": {"fusion": "gene", "n_runs": 1},
    "gated": {"fusion": "gated", "encoder": "handcrafted", "n_runs": 1},
}
N_DOMAINS = 7
N_GENES = 1_000
SEED = 0
# exponents are fitted per range of sizes: fusion trains full batch up to 50,000 spots and on
# mini-batches above (sf.tl.fuse batch_size=None), so each range has its own growth
FIT_RANGES = ((5_000, 20_000), (100_000, 300_000))
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _quiet() -> None:
    import torch

    import spatialfuse as sf

    torch.set_num_threads(1)
    sf.settings.n_threads = 1
    sf.settings.progress = False
    sf.settings.verbosity = "WARNING"


def generate(n_spots: int, path: Path) -> dict[str, Any]:
    """Write the synthetic slide of ``n_spots`` to ``path``; its generation time and memory."""
    import spatialfuse as sf

    _quiet()
    start = time.perf_counter()
    adata = sf.datasets.synthetic(
        n_spots, n_domains=N_DOMAINS, n_genes=N_GENES, scenario="basic", seed=SEED
    )
    seconds = time.perf_counter() - start
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)
    image = adata.uns["spatial"]["synthetic"]["images"]["lowres"]
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "image_shape": list(image.shape),
        "nnz_counts": int(adata.X.nnz),
    }


def pipeline(path: Path, config: str) -> dict[str, Any]:
    """Run ``sf.tl.spatial_domains`` on the slide in ``path``; per-step time and peak RSS."""
    import anndata as ad

    import spatialfuse as sf

    _quiet()
    adata = ad.read_h5ad(path)
    loaded_rss = peak_rss_mb()
    load_before = os.getloadavg()[0]
    start, start_cpu = time.perf_counter(), time.process_time()
    sf.tl.spatial_domains(adata, n_domains=N_DOMAINS, seed=SEED, **CONFIGS[config])
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    steps = adata.uns["spatialfuse_pipeline"]["steps"]
    truth, found = adata.obs["domain_truth"], adata.obs["spatialfuse_domain"]
    return {
        "n_spots": adata.n_obs,
        "n_edges": int(adata.obsp["spatial_connectivities"].nnz),
        "loaded_rss_mb": round(loaded_rss, 1),
        "total_seconds": round(seconds, 2),
        "total_cpu_seconds": round(cpu_seconds, 2),
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "steps": {
            name: {k: s[k] for k in ("seconds", "cpu_seconds", "peak_rss_mb")}
            for name, s in steps.items()
        },
        "fuse_epochs": adata.uns["X_fused"]["params"].get("epochs_run"),  # None: not trained
        "n_runs": int(adata.uns["spatialfuse_domain"]["params"]["n_runs"]),
        "image_weight": (
            None
            if "spatialfuse_image" not in adata.uns
            else float(adata.uns["spatialfuse_image"]["weight"])
        ),
        "ari": round(sf.metrics.ari(truth, found), 4),
    }


def _child(task: str, *args: str) -> dict[str, Any]:
    """Run ``task`` of this script in a fresh, niced process; its result or its failure."""
    command = ["nice", "-n", "10", sys.executable, __file__, "--child", task, *args]
    start = time.perf_counter()
    proc = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **THREADS}, check=False
    )
    if proc.returncode != 0:
        return {
            "failed": f"exit code {proc.returncode}",
            "stderr_tail": proc.stderr[-2000:],
            "wall_seconds": round(time.perf_counter() - start, 1),
        }
    return json.loads(proc.stdout.strip().splitlines()[-1])


def exponent(sizes: list[int], seconds: list[float], lo: int, hi: int) -> float | None:
    """Slope of log(seconds) against log(sizes) over sizes in ``[lo, hi]``, or ``None`` with
    fewer than two points."""
    keep = [(n, s) for n, s in zip(sizes, seconds) if lo <= n <= hi and s > 0]
    if len(keep) < 2:
        return None
    n, s = np.log(np.array(keep, dtype=float)).T
    return float(np.polyfit(n, s, 1)[0])


def fit_exponents(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per range of :data:`FIT_RANGES`: the growth exponent of the CPU time of every step and
    of the total, and of the total wall time, over the successful runs."""
    done = [r for r in runs.values() if "failed" not in r]
    sizes = [r["n_spots"] for r in done]
    series = {
        step: [r["steps"][step]["cpu_seconds"] for r in done]
        for step in STEPS
        if done and all(step in r["steps"] for r in done)
    }
    series["total"] = [r["total_cpu_seconds"] for r in done]
    series["total_wall"] = [r["total_seconds"] for r in done]
    return {
        f"{lo}-{hi}": {name: exponent(sizes, values, lo, hi) for name, values in series.items()}
        for lo, hi in FIT_RANGES
    }


def _steps_of(res: dict[str, Any]) -> list[str]:
    return [s for s in STEPS if any(s in r.get("steps", {}) for r in res["runs"].values())]


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Scaling with the number of spots",
        "",
        f"Generated by `benchmarks/bench_scaling.py`; {results['machine']}. Synthetic slides "
        f"(scenario `basic`, {N_DOMAINS} domains, {N_GENES:,} genes, lowres H&E with ~4 px "
        "spots); each pipeline runs in a fresh process on one thread. Times are CPU seconds "
        "of each step (`time.process_time`; with one thread, the wall time an idle machine "
        "would take); the wall time of the whole run and the machine's 1-min load average "
        "before/after it are given too. Memory: peak RSS of the process after each step (MiB, "
        "including the slide itself: `slide` is the process after reading it). Exponent: "
        "least-squares slope of log(CPU time) against log(spots) within a range of sizes "
        "(`total wall s` column: of the wall time); `sf.tl.fuse` trains on the full graph up "
        "to 50,000 spots and on 8,192-spot patches above, so the two ranges differ. ARI "
        "against the planted domains.",
        "",
    ]
    for config, res in results["configs"].items():
        steps, runs = _steps_of(res), res["runs"]
        call = ", ".join(
            [f"n_domains={N_DOMAINS}", *(f"{k}={v!r}" for k, v in CONFIGS[config].items())]
        )
        lines += [
            f"## `{config}`: `sf.tl.spatial_domains(adata, {call})`",
            "",
            "CPU seconds per step:",
            "",
            "| spots | "
            + " | ".join(steps)
            + " | total CPU s | total wall s | load | fuse epochs | runs | image weight | ARI |",
            "|---|" + "---|" * (len(steps) + 7),
        ]
        for n, run in runs.items():
            if "failed" in run:
                lines.append(f"| {int(n):,} | failed: {run['failed']} |")
                continue
            lines.append(
                f"| {int(n):,} | "
                + " | ".join(f"{run['steps'][s]['cpu_seconds']:.1f}" for s in steps)
                + f" | {run['total_cpu_seconds']:.1f} | {run['total_seconds']:.1f} | "
                + "{:.1f}/{:.1f}".format(*run["load_average"])
                + f" | {_fmt(run['fuse_epochs'])} | {_fmt(run.get('n_runs'))}"
                + f" | {_fmt(run.get('image_weight'))} | {run['ari']:.3f} |"
            )
        lines += [
            f"| exponent {int(lo) // 1000}k–{int(hi) // 1000}k | "
            + " | ".join(_fmt_exponent(fitted.get(s)) for s in (*steps, "total", "total_wall"))
            + " | | | | | |"
            for lo, hi, fitted in (
                (*key.split("-"), value) for key, value in res["exponents"].items()
            )
        ]
        lines += [
            "",
            "Peak RSS (MiB) after each step:",
            "",
            "| spots | slide | " + " | ".join(steps) + " |",
            "|---|---|" + "---|" * len(steps),
        ]
        lines += [
            f"| {int(n):,} | {run['loaded_rss_mb']:.0f} | "
            + " | ".join(f"{run['steps'][s]['peak_rss_mb']:.0f}" for s in steps)
            + " |"
            for n, run in runs.items()
            if "failed" not in run
        ]
        lines.append("")
    gen = results["generation"]
    lines += [
        "Generating the slides (not part of the pipeline): "
        + ", ".join(
            f"{int(n):,} spots {g['seconds']:.0f} s / {g['peak_rss_mb']:.0f} MiB "
            f"(image {g['image_shape'][1]} x {g['image_shape'][0]} px)"
            for n, g in sorted(gen.items(), key=lambda item: int(item[0]))
            if "seconds" in g
        )
        + ".",
        "",
        "![scaling](scaling.png)",
        "",
    ]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    return "–" if value is None else str(value)


def _fmt_exponent(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def plot(results: dict[str, Any], path: Path) -> None:
    """CPU time per step (colour) and peak memory against spots, one line style per config."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(11, 4.5))
    styles = dict(zip(CONFIGS, ("-", "--", ":")))
    colours = dict(zip((*STEPS, "total"), plt.get_cmap("tab10").colors))
    for config, res in results["configs"].items():
        done = sorted((int(n), r) for n, r in res["runs"].items() if "failed" not in r)
        sizes = [n for n, _ in done]
        series = {s: [r["steps"][s]["cpu_seconds"] for _, r in done] for s in _steps_of(res)}
        series["total"] = [r["total_cpu_seconds"] for _, r in done]
        for step, seconds in series.items():
            width = 2.5 if step == "total" else 1.2
            ax_time.plot(sizes, seconds, styles[config], marker="o", color=colours[step], lw=width)
        for key, colour in (("peak_rss_mb", "black"), ("loaded_rss_mb", "grey")):
            gib = [r[key] / 1024 for _, r in done]
            ax_mem.plot(sizes, gib, styles[config], marker="o", color=colour)
    for ax, ylabel in ((ax_time, "CPU seconds (1 thread)"), (ax_mem, "GiB")):
        ax.set(xscale="log", yscale="log", xlabel="spots", ylabel=ylabel)
        ax.grid(True, which="both", alpha=0.3)
    ax_time.set_title("time per step")
    ax_mem.set_title("peak memory of the pipeline process")
    config_handles = [Line2D([], [], color="k", ls=ls, label=c) for c, ls in styles.items()]
    step_handles = [Line2D([], [], color=c, marker="o", label=s) for s, c in colours.items()]
    ax_time.legend(handles=step_handles + config_handles, fontsize=7, ncol=2)
    memory_handles = [
        Line2D([], [], color="black", label="peak RSS"),
        Line2D([], [], color="grey", label="after reading the slide"),
    ]
    ax_mem.legend(handles=memory_handles + config_handles, fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def write(results: dict[str, Any]) -> None:
    for res in results["configs"].values():
        res["exponents"] = fit_exponents(res["runs"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    with atomic_path(RESULTS / "scaling.json") as tmp:
        tmp.write_text(json.dumps(results, indent=2))
    with atomic_path(RESULTS / "scaling.md") as tmp:
        tmp.write_text(markdown(results))
    plot(results, RESULTS / "scaling.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument(
        "--report", action="store_true", help="only rewrite the tables and plot from the JSON"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        task, *rest = args.child
        result = generate(int(rest[0]), Path(rest[1])) if task == "generate" else None
        result = pipeline(Path(rest[0]), rest[1]) if task == "pipeline" else result
        print(json.dumps(result))
        return
    if args.report:
        write(json.loads((RESULTS / "scaling.json").read_text()))
        return

    sizes = [int(n) for n in args.sizes.split(",")]
    configs = args.configs.split(",")
    previous = RESULTS / "scaling.json"
    results: dict[str, Any] = (
        json.loads(previous.read_text())
        if previous.exists()
        else {"machine": "", "generation": {}, "configs": {}}
    )
    results["machine"] = (
        f"{os.cpu_count()}-core machine shared with other jobs (times are upper bounds)"
    )
    args.workdir.mkdir(parents=True, exist_ok=True)
    for n in sizes:
        path = args.workdir / f"spatialfuse_scaling_{n}.h5ad"
        meta = path.with_suffix(".json")  # how the cached slide was generated
        if not path.exists():
            generated = _child("generate", str(n), str(path))
            print(f"generated {n}: {generated}", flush=True)
            with atomic_path(meta) as tmp:
                tmp.write_text(json.dumps(generated))
        results["generation"][str(n)] = json.loads(meta.read_text()) if meta.exists() else {}
        for config in configs:
            run = _child("pipeline", str(path), config)
            res = results["configs"].setdefault(config, {"runs": {}})
            res["runs"][str(n)] = run
            res["runs"] = dict(sorted(res["runs"].items(), key=lambda item: int(item[0])))
            print(f"{config} {n}: {run}", flush=True)
            write(results)


if __name__ == "__main__":
    main()
