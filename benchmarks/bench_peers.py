"""spatialfuse against published spatial-domain methods on the labelled DLPFC sections.

Sections 151673 and 151674 (5,000 genes) and 151510 (500 genes), 7 domains, seeds 0-4. Each
run is one subprocess of ``benchmarks/peers/run_<method>.py`` in the method's own venv:

- ``spatialfuse``: ``sf.tl.spatial_domains(adata, n_domains=7, seed=s)`` (the package's venv);
- ``pca_leiden`` / ``pca_gmm``: expression-only baselines (scanpy PCA, then Leiden with the
  resolution bisected to 7 clusters, or a Gaussian mixture);
- ``spagcn``, ``graphst``, ``stagate``, ``banksy``, ``stlearn``: the peers at the defaults of
  their DLPFC tutorials (each runner names its source), in ``benchmarks/.peers-venv/``, built
  by ``bash benchmarks/peers/setup.sh``; ``stlearn_noimage`` is stLearn without its image
  features, whose CNN weights are downloaded at run time (impossible offline).

ARI and NMI (``sf.metrics``) against ``obs['layer']``, unlabelled spots excluded; wall time of
the subprocess (imports included) and of the run itself (reading the h5ad to the labels), and
the subprocess's peak resident memory (``wait4``). Every run is cached in
``benchmarks/.cache/peers/`` under a key that hashes the runner's sources, the venv's
requirements and, for spatialfuse, the package's sources: an interrupted job resumes, and a
changed spatialfuse default re-runs only the spatialfuse rows. A failing run is recorded with
the last line of its error (``--retry-failed`` runs it again); a method that fails at seed 0 on
a section is not run at the other seeds there. Runs go seed by seed (every method on every
section at seed 0 first), each run under a time limit of TIMEOUT_S. Writes
``results/peers.json``, ``results/peers.md`` and ``results/peers_ari.png``.

Run: ``bash benchmarks/peers/setup.sh && .venv/bin/python benchmarks/bench_peers.py``
(``--methods spatialfuse`` re-runs only spatialfuse; ``--seeds 1`` for seed 0 only;
``--report-only`` writes the tables from whatever runs are cached, e.g. while a job runs).
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

import anndata as ad
import numpy as np
from _common import DLPFC_H5AD, REPO, RESULTS, mean_sd, write_results

import spatialfuse as sf
from spatialfuse._atomic import atomic_path

PEERS = REPO / "benchmarks" / "peers"
VENVS = REPO / "benchmarks" / ".peers-venv"
CACHE = REPO / "benchmarks" / ".cache" / "peers"
TRUTH = "layer"
N_DOMAINS = 7
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
        Method("banksy", "BANKSY", "peers"),
        Method("stlearn", "stLearn (with image)", "stlearn"),
        Method("stlearn_noimage", "stLearn (no image)", "stlearn", ("run_stlearn.py",)),
        Method("spagcn", "SpaGCN (with histology)", "peers"),
        Method("stagate", "STAGATE", "peers"),
        Method("graphst", "GraphST", "peers"),
    )
}


def cache_key(method: Method, section: str, seed: int, threads: int) -> str:
    digest = hashlib.sha256()
    for part in (method.name, section, str(DLPFC_H5AD[section]), seed, N_DOMAINS, threads):
        digest.update(f"{part}\n".encode())
    for path in method.sources():
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def run_once(method: Method, section: str, seed: int, threads: int) -> dict:
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
        command = [str(method.python), str(method.script), str(DLPFC_H5AD[section]), str(out)]
        command += ["--seed", str(seed), "--n-domains", str(N_DOMAINS)]
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


def cached_run(method: Method, section: str, seed: int, threads: int, retry_failed: bool) -> dict:
    key = cache_key(method, section, seed, threads)
    path = CACHE / method.name / f"{section}_seed{seed}.json"
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("key") == key and not (retry_failed and cached["status"] == "failed"):
            return cached
    record = {"key": key, "method": method.name, "section": section, "seed": seed}
    record.update(run_once(method, section, seed, threads))
    if record["status"] == "ok":
        truth = ad.read_h5ad(DLPFC_H5AD[section], backed="r").obs[TRUTH].to_numpy()
        record["ari"] = sf.metrics.ari(truth, record["labels"])
        record["nmi"] = sf.metrics.nmi(truth, record["labels"])
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record))
    return record


def summary(runs: list[dict]) -> dict:
    done = [r for r in runs if r["status"] == "ok"]
    out: dict = {"seeds_ok": len(done), "seeds_run": len(runs)}
    if done:
        out["ari"] = mean_sd(r["ari"] for r in done)
        out["nmi"] = mean_sd(r["nmi"] for r in done)
        out["ari_mean"] = float(np.mean([r["ari"] for r in done]))
        out["seconds"] = float(np.median([r["seconds"] for r in done]))
        out["wall_seconds"] = float(np.median([r["wall_seconds"] for r in done]))
        out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in done)
    return out


def markdown(results: dict) -> str:
    n_seeds = len(results["seeds"])
    lines = [
        "## spatialfuse and published methods on DLPFC (7 domains)",
        "",
        f"ARI / NMI against the manual layers (unlabelled spots excluded), mean ± sd over the "
        f"seeds completed (of {n_seeds}). Time: median seconds per run from reading the h5ad "
        "to the labels (in brackets: the whole subprocess, imports included); memory: peak "
        f"resident MiB of the subprocess. {results['threads']} thread(s) per run, one run at a "
        "time, 2-core machine shared with other jobs. Peers at the defaults of their DLPFC "
        "tutorials (`benchmarks/peers/run_<method>.py` names each source); image-based "
        "peers get the 600 x 600 lowres H&E, the only image these sections have.",
        "",
        "| method | section | ARI | NMI | time (s) | peak memory (MiB) | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    failures = []
    for name, sections in results["methods"].items():
        label = METHODS[name].label
        for section, data in sections.items():
            s = data["summary"]
            if s["seeds_ok"]:
                time_s = f"{s['seconds']:.0f} ({s['wall_seconds']:.0f})"
                row = f"{s['ari']} | {s['nmi']} | {time_s} | {s['peak_rss_mb']}"
            else:
                row = "failed | – | – | –"
            lines.append(f"| {label} | {section} | {row} | {s['seeds_ok']}/{n_seeds} |")
            failures += [
                f"- {label}, {section}, seed {r['seed']}: `{r['error']}`"
                for r in data["runs"]
                if r["status"] == "failed"
            ]
    lines += [
        "",
        f"Total wall time of these runs: {results['run_seconds_total'] / 3600:.1f} h. "
        "ARI per seed: `benchmarks/results/peers_ari.png`.",
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
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2, 4))
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
        ax.bar(x, means, width, label=section, alpha=0.8)
        for xi, a, n in zip(x, aris, names):
            ax.plot([xi] * len(a), a, "k.", markersize=3)
            if not a:
                note = "failed" if section in results["methods"][n] else "not run"
                ax.text(xi, 0.01, note, rotation=90, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(np.arange(len(names)), [METHODS[n].label for n in names], rotation=30, ha="right")
    ax.set_ylabel("ARI vs manual layers")
    ax.set_title("DLPFC, 7 domains: bars = mean over seeds, dots = seeds")
    ax.legend(title="section", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sections", nargs="+", default=list(DLPFC_H5AD))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--threads", type=int, default=1, help="BLAS/torch threads per run")
    parser.add_argument("--retry-failed", action="store_true")
    parser.add_argument(
        "--report-only", action="store_true", help="write the tables from the cache, run nothing"
    )
    args = parser.parse_args()
    seeds = list(range(args.seeds))
    start = time.perf_counter()
    failed_first: set[tuple[str, str]] = set()  # a failure at the first seed is not retried
    for seed in [] if args.report_only else seeds:
        for name in args.methods:
            for section in args.sections:
                if (name, section) in failed_first:
                    continue
                r = cached_run(METHODS[name], section, seed, args.threads, args.retry_failed)
                if seed == seeds[0] and r["status"] == "failed":
                    failed_first.add((name, section))
                score = f"ARI {r['ari']:.3f}" if r["status"] == "ok" else r["error"]
                print(f"{name} {section} seed {seed}: {score}", flush=True)
    # The report covers every method with cached runs, so `--methods spatialfuse` refreshes
    # only those rows and keeps the peers' results.
    results: dict = {"seeds": seeds, "sections": args.sections, "threads": args.threads}
    results["methods"] = {}
    for name, method in METHODS.items():
        sections = {}
        for section in args.sections:
            runs = []
            for seed in seeds:
                path = CACHE / name / f"{section}_seed{seed}.json"
                if not path.exists():
                    continue
                r = json.loads(path.read_text())
                if r["key"] == cache_key(method, section, seed, args.threads):
                    runs.append({k: v for k, v in r.items() if k not in ("labels", "key")})
            if runs:
                sections[section] = {"runs": runs, "summary": summary(runs)}
        if sections:
            results["methods"][name] = sections
    results["bench_seconds_this_call"] = round(time.perf_counter() - start)
    results["run_seconds_total"] = round(
        sum(
            r["wall_seconds"]
            for sections in results["methods"].values()
            for data in sections.values()
            for r in data["runs"]
        )
    )
    write_results("peers", results, markdown(results))
    plot(results, RESULTS / "peers_ari.png")


if __name__ == "__main__":
    main()
