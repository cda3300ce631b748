"""spatialfuse against published spatial-domain methods on every labelled slide.

The slides are those of ``_slides.SLIDES``: DLPFC 151673 and 151674 (5,000 genes) and 151510
(500 genes), 10x Visium, 7 layers; her2st A1, B1, C1, D1 (HER2+ breast cancer) and MOB rep 12
(mouse olfactory bulb), legacy ST, 3-5 pathologist classes. K, the number of domains asked
for, is the number of distinct labels of the slide. Spots with no counts are dropped before
any method runs (``_slides.load``). Seeds 0-4. Each run is one subprocess of
``benchmarks/peers/run_<method>.py`` in the method's own venv:

- ``spatialfuse``: ``sf.tl.spatial_domains(adata, n_domains=K, seed=s)`` (the package's venv);
- ``pca_leiden`` / ``pca_gmm``: expression-only baselines (scanpy PCA, then Leiden with the
  resolution bisected to K clusters, or a Gaussian mixture);
- ``spagcn``, ``graphst``, ``stagate``, ``banksy``, ``stlearn``: the peers at the defaults of
  their DLPFC tutorials (each runner names its source and what it changes on a legacy-ST
  square grid), in ``benchmarks/.peers-venv/``, built by ``bash benchmarks/peers/setup.sh``;
  ``stlearn_noimage`` is stLearn without its image features, whose CNN weights are downloaded
  at run time (impossible offline).

ARI and NMI (``sf.metrics``) against the slide's manual labels, unlabelled spots excluded;
wall time of the subprocess (imports included) and of the run itself (reading the h5ad to the
labels), and the subprocess's peak resident memory (``wait4``). Every run is cached in
``benchmarks/.cache/peers/`` under a key that hashes the slide's name, path and K, the
runner's sources, the venv's requirements and, for spatialfuse, the package's sources: an
interrupted job resumes, and a changed spatialfuse default re-runs only the spatialfuse rows.
A failing run is recorded with the last line of its error (``--retry-failed`` runs it again);
a method that fails at seed 0 on a slide is not run at the other seeds there. Runs go seed by
seed (every method on every slide at seed 0 first), each run under a time limit of TIMEOUT_S.
``--import-previous FILE`` turns the per-seed records of an earlier ``results/peers.json``
(DLPFC only, before the other slides existed) into cache entries marked ``"imported"``, so
they are reported beside new runs without being re-run. Writes ``results/peers.json``,
``results/peers.md`` and ``results/peers_ari.png``.

Run: ``bash benchmarks/peers/setup.sh && .venv/bin/python benchmarks/bench_peers.py``
(``--methods spatialfuse`` re-runs only spatialfuse; ``--sections her2st_A1 mob_rep12`` only
those slides; ``--seeds 1`` for seed 0 only; ``--report-only`` writes the tables from whatever
runs are cached, e.g. while a job runs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _common import REPO, RESULTS, SHARED_DATA, mean_sd, write_results
from _slides import SLIDES, Slide, load, n_domains, n_dropped, truth

import spatialfuse as sf
from spatialfuse._atomic import atomic_path

PEERS = REPO / "benchmarks" / "peers"
VENVS = REPO / "benchmarks" / ".peers-venv"
CACHE = REPO / "benchmarks" / ".cache" / "peers"
PREVIOUS_RUNS_DATE = "2026-11-24"  # the DLPFC-only runs of results/peers.json, commit 67a7fad
TIMEOUT_S = 7200


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    venv: str  # "main" (the package's venv) or a folder of benchmarks/.peers-venv/
    helpers: tuple[str, ...] = ()  # extra files of benchmarks/peers/ the runner imports

    @property
    def python(self) -> Path:
        if self.venv == "main":
            return Path(sys.executable)
        return VENVS / self.venv / "bin" / "python"

    @property
    def script(self) -> Path:
        return PEERS / f"run_{self.name}.py"

    def sources(self) -> list[Path]:
        files = [self.script, PEERS / "_runner.py", *(PEERS / h for h in self.helpers)]
        if self.venv == "main":
            files += sorted((REPO / "spatialfuse").rglob("*.py"))
        else:
            files += [PEERS / "constraints.txt", PEERS / f"requirements-{self.venv}.txt"]
        return files


METHODS = {
    m.name: m
    for m in (
        Method("spatialfuse", "spatialfuse (default)", "main"),
        Method("pca_leiden", "PCA + Leiden (no space)", "peers", ("_expression.py",)),
        Method("pca_gmm", "PCA + GMM (no space)", "peers", ("_expression.py",)),
        Method("banksy", "BANKSY", "peers", ("_spatial.py",)),
        Method("stlearn", "stLearn (with image)", "stlearn"),
        Method("stlearn_noimage", "stLearn (no image)", "stlearn", ("run_stlearn.py",)),
        Method("spagcn", "SpaGCN (histology if any)", "peers", ("_spatial.py",)),
        Method("stagate", "STAGATE", "peers", ("_spatial.py",)),
        Method("graphst", "GraphST", "peers", ("_spatial.py",)),
    )
}


def cache_key(method: Method, slide: Slide, seed: int, threads: int) -> str:
    digest = hashlib.sha256()
    for part in (method.name, slide.name, str(slide.path), seed, n_domains(slide), threads):
        digest.update(f"{part}\n".encode())
    for path in method.sources():
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_path(method: str, slide: str, seed: int) -> Path:
    return CACHE / method / f"{slide}_seed{seed}.json"


def run_once(method: Method, slide: Slide, seed: int, threads: int) -> dict:
    """One subprocess run: labels, timings and peak memory, or the failure's last line."""
    env = {
        **os.environ,
        "PYTHONHASHSEED": str(seed),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "NUMBA_NUM_THREADS": str(threads),
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": "1",
    }
    if not method.python.exists():
        return {"status": "failed", "error": f"no venv at {method.python}: run setup.sh"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        err_path = Path(tmp) / "stderr.txt"
        source = slide.path
        if n_dropped(slide):  # the runner reads the slide without its zero-count spots
            source = Path(tmp) / "input.h5ad"
            load(slide).write_h5ad(source)
        command = [str(method.python), str(method.script), str(source), str(out)]
        command += ["--seed", str(seed), "--n-domains", str(n_domains(slide))]
        start = time.perf_counter()
        with open(err_path, "w") as err:
            proc = subprocess.Popen(command, cwd=tmp, env=env, stdout=err, stderr=err)
            status, usage = None, None
            while status is None:
                pid, code, rusage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    status, usage = code, rusage
                elif time.perf_counter() - start > TIMEOUT_S:
                    proc.kill()
                    _, status, usage = os.wait4(proc.pid, 0)
                    status = "timeout"
                else:
                    time.sleep(0.5)
            proc.returncode = -1  # reaped by wait4 above
        wall = round(time.perf_counter() - start, 1)
        record = {"wall_seconds": wall, "peak_rss_mb": round(usage.ru_maxrss / 1024)}
        if status == "timeout":
            return {**record, "status": "failed", "error": f"timed out after {TIMEOUT_S} s"}
        if status != 0 or not out.exists():
            lines = [line for line in err_path.read_text().splitlines() if line.strip()]
            code = os.waitstatus_to_exitcode(status)
            last = lines[-1].strip() if lines else f"exit status {code}"
            return {**record, "status": "failed", "error": last[:300]}
        result = json.loads(out.read_text())
    return {**record, "status": "ok", "seconds": result["seconds"], "labels": result["labels"]}


def cached_run(method: Method, slide: Slide, seed: int, threads: int, retry_failed: bool) -> dict:
    key = cache_key(method, slide, seed, threads)
    path = cache_path(method.name, slide.name, seed)
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("key") == key and not (retry_failed and cached["status"] == "failed"):
            return cached
    record = {"key": key, "method": method.name, "section": slide.name, "seed": seed}
    record.update(run_once(method, slide, seed, threads))
    if record["status"] == "ok":
        record["ari"] = sf.metrics.ari(truth(slide), record["labels"])
        record["nmi"] = sf.metrics.nmi(truth(slide), record["labels"])
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record))
    return record


IMPORTED_FIELDS = ("status", "error", "ari", "nmi", "seconds", "wall_seconds", "peak_rss_mb")


def import_previous(file: Path, date: str) -> int:
    """Cache entries from the per-seed records of an earlier ``peers.json`` for the DLPFC
    sections, marked ``"imported": "<file> (runs of <date>)"`` and keyed as runs of the current
    sources would be (the peer runners behave on DLPFC as they did then), so they are reported
    and not re-run. spatialfuse's records are not imported: its key hashes the package's
    sources, and a run of an older package would pass for one of the current package. A cached
    run of the current sources is kept. Returns the number imported."""
    previous = json.loads(file.read_text())
    threads = previous.get("threads", 1)
    note = f"{file} (runs of {date})"
    count = 0
    for name, sections in previous["methods"].items():
        if name not in METHODS or METHODS[name].venv == "main":
            continue  # spatialfuse: its key hashes the package, which may have changed since
        for section, data in sections.items():
            slide = SLIDES.get(section)
            if slide is None or slide.tissue != "human DLPFC":
                continue
            for run in data["runs"]:
                key = cache_key(METHODS[name], slide, run["seed"], threads)
                path = cache_path(name, section, run["seed"])
                if path.exists():
                    cached = json.loads(path.read_text())
                    if cached.get("key") == key and "imported" not in cached:
                        continue
                record = {"key": key, "method": name, "section": section, "seed": run["seed"]}
                record.update({k: run[k] for k in IMPORTED_FIELDS if k in run})
                record["imported"] = note
                with atomic_path(path) as tmp:
                    tmp.write_text(json.dumps(record))
                count += 1
    return count


def slide_info(slide: Slide) -> dict:
    adata = load(slide)
    library = next(iter(adata.uns["spatial"]))
    images = sorted(adata.uns["spatial"][library].get("images", {}))
    return {
        "path": str(slide.path.relative_to(SHARED_DATA)),
        "kind": slide.kind,
        "tissue": slide.tissue,
        "truth": slide.truth,
        "n_domains": n_domains(slide),
        "n_spots": adata.n_obs,
        "n_labelled": int(adata.obs[slide.truth].notna().sum()),
        "n_dropped_zero_count": n_dropped(slide),
        "n_genes": adata.n_vars,
        "images": images,
    }


def summary(runs: list[dict]) -> dict:
    done = [r for r in runs if r["status"] == "ok"]
    out: dict = {"seeds_ok": len(done), "seeds_run": len(runs)}
    out["seeds_imported"] = sum("imported" in r for r in done)
    if done:
        out["ari"] = mean_sd(r["ari"] for r in done)
        out["nmi"] = mean_sd(r["nmi"] for r in done)
        out["ari_mean"] = float(np.mean([r["ari"] for r in done]))
        out["seconds"] = float(np.median([r["seconds"] for r in done]))
        out["wall_seconds"] = float(np.median([r["wall_seconds"] for r in done]))
        out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in done)
    return out


def _cell(s: dict | None, value: str, seeds: bool = True) -> str:
    """A table cell: ``value (seeds)``, ``†`` marking imported runs; "failed" / "–"."""
    if s is None:
        return "–"
    if not s["seeds_ok"]:
        return "failed"
    n, k = s["seeds_ok"], s["seeds_imported"]
    if not seeds:
        return f"{value}†" if k else value
    count = f"{n}†" if k == n else (f"{n}, {k}†" if k else f"{n}")
    return f"{value} ({count})"


def markdown(results: dict) -> str:
    n_seeds = len(results["seeds"])
    slides = results["sections"]
    info = results["slides"]
    lines = [
        "## spatialfuse and published methods on the labelled slides",
        "",
        "| slide | platform | tissue | spots (labelled) | genes | K | image |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in slides:
        i = info[name]
        platform = "10x Visium" if i["kind"] == "visium" else "legacy ST"
        image = ", ".join(i["images"]) or "none"
        lines.append(
            f"| {name} | {platform} | {i['tissue']} | {i['n_spots']} ({i['n_labelled']}) | "
            f"{i['n_genes']} | {i['n_domains']} | {image} |"
        )
    lines += [
        "",
        "K = number of distinct manual labels, the number of domains every method is asked "
        "for. Spots with zero counts are dropped before any run "
        f"({sum(info[n]['n_dropped_zero_count'] for n in slides)} on these slides).",
        "",
        f"### ARI against the manual labels (unlabelled spots excluded), mean ± sd over the "
        f"seeds completed (of {n_seeds}, in brackets)",
        "",
        "| method | " + " | ".join(slides) + " | mean over slides |",
        "|---|" + "---|" * (len(slides) + 1),
    ]
    failures, imported = [], set()
    for name, per_slide in results["methods"].items():
        label = METHODS[name].label
        cells, means = [], []
        for slide in slides:
            data = per_slide.get(slide)
            s = data["summary"] if data else None
            cells.append(_cell(s, s["ari"] if s and s["seeds_ok"] else ""))
            if s and s["seeds_ok"]:
                means.append(s["ari_mean"])
            for r in data["runs"] if data else []:
                if r["status"] == "failed":
                    mark = " (imported†)" if "imported" in r else ""
                    failures.append(f"- {label}, {slide}, seed {r['seed']}{mark}: `{r['error']}`")
                if "imported" in r:
                    imported.add(r["imported"])
        mean = f"{np.mean(means):.3f} ({len(means)}/{len(slides)})" if means else "–"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {mean} |")
    lines += [
        "",
        "Mean over slides: the mean of the per-slide means, over the slides where the method "
        "has runs (how many, in brackets). NMI per slide: `benchmarks/results/peers.json`.",
        "",
        "### Time per run: median seconds from reading the h5ad to the labels (in brackets: "
        "the whole subprocess, imports included)",
        "",
        "| method | " + " | ".join(slides) + " |",
        "|---|" + "---|" * len(slides),
    ]
    for name, per_slide in results["methods"].items():
        cells = []
        for slide in slides:
            data = per_slide.get(slide)
            s = data["summary"] if data else None
            value = f"{s['seconds']:.0f} ({s['wall_seconds']:.0f})" if s and s["seeds_ok"] else ""
            cells.append(_cell(s, value, seeds=False))
        lines.append(f"| {METHODS[name].label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"{results['threads']} thread(s) per run, one run at a time, 2-core machine shared with "
        "other jobs; peak resident memory per run: `benchmarks/results/peers.json`. Peers at the "
        "defaults of their DLPFC tutorials (`benchmarks/peers/run_<method>.py` names each source "
        "and its legacy-ST settings: STAGATE radius 1.3 x the spot pitch, BANKSY k_geom 4, "
        "SpaGCN square-grid refinement). Image-based peers get the slide's hires H&E, else its "
        "lowres one (the DLPFC sections have only the 600 x 600 lowres image); SpaGCN runs "
        "without histology on her2st B1, C1 and D1, which have no image.",
    ]
    if imported:
        sources = "; ".join(sorted(imported))
        lines += [
            "",
            f"† Imported runs, not re-run: the per-seed records of {sources} (DLPFC sections "
            "only; the peer runners are unchanged on DLPFC since); `n†` = all n seeds of the "
            "cell imported, `n, k†` = k of them; in the time table, † = times of imported runs.",
        ]
    lines += [
        "",
        f"Total wall time of these runs: {results['run_seconds_total'] / 3600:.1f} h "
        f"(imported runs included). ARI per seed: `benchmarks/results/peers_ari.png`.",
        "",
        "Failed runs:" if failures else "Failed runs: none.",
        "",
        *failures,
    ]
    return "\n".join(lines).rstrip() + "\n"


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["methods"])
    sections = list(results["sections"])
    width = 0.8 / len(sections)
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2.5, 4.5))
    colours = plt.get_cmap("tab10")
    for j, section in enumerate(sections):
        x = np.arange(len(names)) + (j - (len(sections) - 1) / 2) * width
        aris = [
            [
                r["ari"]
                for r in results["methods"][n].get(section, {"runs": []})["runs"]
                if r["status"] == "ok"
            ]
            for n in names
        ]
        means = [np.mean(a) if a else np.nan for a in aris]
        label = f"{section} (K={results['slides'][section]['n_domains']})"
        ax.bar(x, means, width, label=label, alpha=0.8, color=colours(j % 10))
        for xi, a, n in zip(x, aris, names):
            ax.plot([xi] * len(a), a, "k.", markersize=2)
            if not a:
                note = "failed" if section in results["methods"][n] else "not run"
                ax.text(xi, 0.01, note, rotation=90, ha="center", va="bottom", fontsize=6)
    ax.set_xticks(np.arange(len(names)), [METHODS[n].label for n in names], rotation=30, ha="right")
    ax.set_ylabel("ARI vs manual labels")
    ax.set_title("Labelled slides: bars = mean over seeds, dots = seeds")
    ax.legend(title="slide", loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sections", nargs="+", default=list(SLIDES), choices=list(SLIDES))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--threads", type=int, default=1, help="BLAS/torch threads per run")
    parser.add_argument("--retry-failed", action="store_true")
    parser.add_argument(
        "--report-only", action="store_true", help="write the tables from the cache, run nothing"
    )
    parser.add_argument(
        "--import-previous",
        type=Path,
        metavar="FILE",
        help="first turn the DLPFC per-seed records of an earlier peers.json into cache entries",
    )
    parser.add_argument(
        "--previous-date",
        default=PREVIOUS_RUNS_DATE,
        help="the date the imported runs were made, for their note (default: %(default)s)",
    )
    args = parser.parse_args()
    seeds = list(range(args.seeds))
    slides = [SLIDES[name] for name in args.sections]
    if args.import_previous:
        count = import_previous(args.import_previous, args.previous_date)
        print(f"imported {count} runs from {args.import_previous}", flush=True)
    start = time.perf_counter()
    failed_first: set[tuple[str, str]] = set()  # a failure at the first seed is not retried
    for seed in [] if args.report_only else seeds:
        for name in args.methods:
            for slide in slides:
                if (name, slide.name) in failed_first:
                    continue
                r = cached_run(METHODS[name], slide, seed, args.threads, args.retry_failed)
                if seed == seeds[0] and r["status"] == "failed":
                    failed_first.add((name, slide.name))
                score = f"ARI {r['ari']:.3f}" if r["status"] == "ok" else r["error"]
                took = f", {r['wall_seconds']:.0f} s" if "wall_seconds" in r else ""
                print(f"{name} {slide.name} seed {seed}: {score}{took}", flush=True)
    # The report covers every method with cached runs, so `--methods spatialfuse` refreshes
    # only those rows and keeps the peers' results.
    results: dict = {"seeds": seeds, "sections": args.sections, "threads": args.threads}
    results["slides"] = {slide.name: slide_info(slide) for slide in slides}
    results["methods"] = {}
    for name, method in METHODS.items():
        per_slide = {}
        for slide in slides:
            runs = []
            for seed in seeds:
                path = cache_path(name, slide.name, seed)
                if not path.exists():
                    continue
                r = json.loads(path.read_text())
                if r["key"] == cache_key(method, slide, seed, args.threads):
                    runs.append({k: v for k, v in r.items() if k not in ("labels", "key")})
            if runs:
                per_slide[slide.name] = {"runs": runs, "summary": summary(runs)}
        if per_slide:
            results["methods"][name] = per_slide
    results["bench_seconds_this_call"] = round(time.perf_counter() - start)
    results["run_seconds_total"] = round(
        sum(
            r.get("wall_seconds", 0)
            for per_slide in results["methods"].values()
            for data in per_slide.values()
            for r in data["runs"]
        )
    )
    write_results("peers", results, markdown(results))
    plot(results, RESULTS / "peers_ari.png")


if __name__ == "__main__":
    main()
