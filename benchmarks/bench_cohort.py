"""A cohort of 8 slides on Dask: sequential, LocalCluster, a real cluster, a killed worker.

Slides: the three labelled DLPFC sections (151673, 151674, 151510; truth ``layer``, 7
domains) and five synthetic slides (1,000 spots, 5 domains, truth ``domain_truth``) written
to the work folder (``--workdir``, emptied first); every slide runs with small options
(``epochs`` 30, ``n_top_genes`` 1000) to keep it cheap. Runs, each into its own output folder:

1. ``sequential``: ``sf.cohort.run_many(..., n_workers=0)``, one slide after another here;
2. ``local``: ``run_many`` on a ``LocalCluster`` of 2 worker processes (1 thread each);
3. ``local_rerun``: the same again, every slide already done (skipped);
4. ``external``: ``spatialfuse run-many --scheduler tcp://127.0.0.1:PORT`` against a
   ``dask scheduler`` and two ``dask worker --no-nanny --nthreads 1`` processes started here,
   one worker killed by SIGKILL while it runs a slide (after the first slide of the cohort
   finished): its slide is run again on the surviving worker.

Each run's ``domains.csv`` files are compared byte for byte with the sequential run's.
Writes ``results/cohort.json`` and ``results/cohort.md``. Run from the repository root:
``python benchmarks/bench_cohort.py [--workdir /tmp/sf_cohort_bench]``; processes are started
under ``nice``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from _common import DLPFC_H5AD, write_results

import spatialfuse as sf

BIN = Path(sys.executable).parent
SMALL = {"epochs": 30, "n_top_genes": 1000}
N_SYNTHETIC = 5
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def write_manifest(folder: Path) -> Path:
    """The 8-slide manifest: DLPFC sections from the shared data, synthetic slides here."""
    rows = [
        {"input": str(path), "sample_id": f"dlpfc_{name}", "n_domains": 7, "truth": "layer"}
        for name, path in DLPFC_H5AD.items()
    ]
    for seed in range(N_SYNTHETIC):
        path = folder / f"synthetic_{seed}.h5ad"
        sf.datasets.synthetic(1000, 5, 200, scenario="basic", seed=seed).write_h5ad(path)
        rows.append({"input": path.name, "n_domains": 5, "truth": "domain_truth"})
    table = pd.DataFrame(rows).assign(seed=0, **SMALL)
    table.to_csv(folder / "manifest.csv", index=False)
    return folder / "manifest.csv"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], log: Path) -> subprocess.Popen:
    """Start ``command`` under ``nice``, its output in ``log``."""
    with open(log, "w") as handle:
        return subprocess.Popen(
            ["nice", "-n", "10", *command], stdout=handle, stderr=subprocess.STDOUT, env=ENV
        )


def start_cluster(folder: Path) -> tuple[str, subprocess.Popen, dict[str, subprocess.Popen]]:
    """A ``dask scheduler`` and two single-threaded ``dask worker`` processes on 127.0.0.1."""
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = start(
        [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port)]
        + ["--no-dashboard"],
        folder / "scheduler.log",
    )
    workers = {
        name: start(
            [str(BIN / "dask"), "worker", address, "--name", name, "--nthreads", "1"]
            + ["--no-nanny", "--no-dashboard"],
            folder / f"{name}.log",
        )
        for name in ("w0", "w1")
    }
    time.sleep(2)
    with Client(address, timeout="60s") as client:
        client.wait_for_workers(2, timeout=300)
    return address, scheduler, workers


def run_cli(manifest: Path, out: Path, options: list[str], log: Path) -> subprocess.Popen:
    """``spatialfuse run-many MANIFEST --out OUT OPTIONS --quiet`` as a subprocess."""
    return start(
        [str(BIN / "spatialfuse"), "run-many", str(manifest), "--out", str(out), *options]
        + ["--quiet"],
        log,
    )


def kill_mid_slide(
    address: str, out: Path, workers: dict[str, subprocess.Popen], cohort: subprocess.Popen
) -> dict:
    """Once a slide has finished, SIGKILL worker ``w0`` while it is running a slide."""
    from distributed import Client

    def wait() -> None:
        if cohort.poll() is not None:
            raise RuntimeError("the cohort ended before a worker could be killed mid-slide")
        time.sleep(0.5)

    with Client(address, timeout="60s") as client:
        while not (out / "summary.csv").is_file() or pd.read_csv(out / "summary.csv").empty:
            wait()
        while True:
            info = client.scheduler_info(n_workers=-1)["workers"]
            by_name = {w["name"]: addr for addr, w in info.items()}
            running = client.processing().get(by_name["w0"], [])
            if running:
                time.sleep(3)
                if client.processing().get(by_name["w0"], []) == running:
                    break
            wait()
        pid = client.run(os.getpid, workers=[by_name["w0"]])[by_name["w0"]]
        assert pid == workers["w0"].pid, (pid, workers["w0"].pid)  # --no-nanny: one process
        os.kill(pid, signal.SIGKILL)
        done_before = int((pd.read_csv(out / "summary.csv")["status"] == "done").sum())
    return {
        "worker": "w0",
        "address": by_name["w0"],
        "pid": pid,
        "slide_running": str(running[0]),
        "slides_done_before_kill": done_before,
        "returncode": workers["w0"].wait(timeout=60),
    }


def compare(out: Path, reference: Path, slides: list[str], name: str) -> dict:
    """Per slide: same domain name for every spot, same partition of the spots (ARI 1: the
    same domains, possibly named differently), same file bytes; the largest difference of the
    confidence column."""
    labels, partitions, files, confidence = {}, {}, {}, 0.0
    for s in slides:
        a, b = (pd.read_csv(folder / s / "domains.csv") for folder in (out, reference))
        labels[s] = bool(a["barcode"].equals(b["barcode"]) and a["domain"].equals(b["domain"]))
        partitions[s] = sf.metrics.ari(a["domain"], b["domain"]) == 1.0
        files[s] = (out / s / "domains.csv").read_bytes() == (
            reference / s / "domains.csv"
        ).read_bytes()
        confidence = max(confidence, float((a["confidence"] - b["confidence"]).abs().max()))
    return {
        "reference": name,
        "domains": labels,
        "partition": partitions,
        "bytes": files,
        "max_confidence_difference": confidence,
    }


def summary_of(out: Path) -> list[dict]:
    return pd.read_csv(out / "summary.csv").to_dict("records")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sf_cohort_bench"))
    args = parser.parse_args()
    sf.settings.progress = False
    results: dict = {"options": SMALL, "runs": {}}
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    tmp = args.workdir
    manifest = write_manifest(tmp)
    slides = [s.sample_id for s in sf.cohort.read_manifest(manifest)]
    results["slides"] = slides
    runs = results["runs"]

    def timed_run(name: str, out: Path, **kwargs) -> Path:
        start_time = time.perf_counter()
        sf.cohort.run_many(manifest, out, **kwargs)
        runs[name] = {"seconds": round(time.perf_counter() - start_time, 1)}
        runs[name]["summary"] = summary_of(out)
        print(name, runs[name]["seconds"], "s", flush=True)
        return out

    reference = timed_run("sequential", tmp / "sequential", n_workers=0)
    local = timed_run("local", tmp / "local", n_workers=2)
    runs["local"]["compared_to"] = compare(local, reference, slides, "sequential")
    timed_run("local_rerun", local, n_workers=2)

    start_time = time.perf_counter()
    process = run_cli(manifest, tmp / "sequential_cli", ["--n-workers", "0"], tmp / "seq.log")
    runs["sequential_cli"] = {
        "exit_code": process.wait(),
        "seconds": round(time.perf_counter() - start_time, 1),
        "summary": summary_of(tmp / "sequential_cli"),
        "compared_to": compare(tmp / "sequential_cli", reference, slides, "sequential"),
    }
    print("sequential_cli", runs["sequential_cli"]["seconds"], "s", flush=True)

    address, scheduler, workers = start_cluster(tmp)
    try:
        out = tmp / "external"
        start_time = time.perf_counter()
        process = run_cli(manifest, out, ["--scheduler", address], tmp / "external.log")
        killed = kill_mid_slide(address, out, workers, process)
        returncode = process.wait()
        runs["external"] = {
            "seconds": round(time.perf_counter() - start_time, 1),
            "exit_code": returncode,
            "summary": summary_of(out),
            "compared_to": compare(out, tmp / "sequential_cli", slides, "sequential_cli"),
            "killed": killed,
        }
        print("external", runs["external"]["seconds"], "s, exit", returncode, flush=True)
    finally:
        for process in [*workers.values(), scheduler]:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=60)
    results["address"] = address
    write_results("cohort", results, markdown(results))


def markdown(results: dict) -> str:
    runs = results["runs"]
    seq = {r["sample_id"]: r for r in runs["sequential"]["summary"]}
    lines = [
        "## Cohort runs on Dask (8 slides, `benchmarks/bench_cohort.py`)",
        "",
        "Slides: DLPFC 151673, 151674, 151510 (7 domains, truth `layer`) and 5 synthetic "
        "slides (1,000 spots, 5 domains); every slide with "
        + ", ".join(f"`{k}={v}`" for k, v in results["options"].items())
        + ". Workers are single-threaded processes on this 2-core machine (shared with other "
        "jobs, so times are upper bounds).",
        "",
        "Each run is compared with a sequential run started the same way (Python API or "
        "command line): same *partition* of the spots into domains (ARI 1), same domain "
        "*names*, same `domains.csv` *bytes*, and the largest difference of the `confidence` "
        "column.",
        "",
        "| run | how | wall time (s) | slides | compared with | same partition | same names "
        "| same bytes | largest confidence difference |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    how = {
        "sequential": "`run_many(n_workers=0)`, in-process",
        "local": "`run_many(n_workers=2)`: LocalCluster, 2 processes x 1 thread",
        "local_rerun": "the same again (all slides already done)",
        "sequential_cli": "`spatialfuse run-many --n-workers 0`, one slide after another in "
        "the command's process",
        "external": "`spatialfuse run-many --scheduler tcp://127.0.0.1:PORT`, separate "
        "`dask scheduler` + 2 `dask worker --no-nanny --nthreads 1` processes; worker `w0` "
        "killed with SIGKILL mid-slide",
    }
    for name, run in runs.items():
        status = pd.Series([r["status"] for r in run["summary"]]).value_counts()
        done = ", ".join(f"{n} {s}" for s, n in status.items())
        compared = run.get("compared_to")
        cells = ["-"] * 5
        if compared:
            cells = [f"`{compared['reference']}`"]
            kinds = ("partition", "domains", "bytes")
            cells += [f"{sum(compared[k].values())}/{len(compared[k])}" for k in kinds]
            cells.append(f"{compared['max_confidence_difference']:.1e}")
        lines.append(
            f"| {name} | {how[name]} | {run['seconds']} | {done} | " + " | ".join(cells) + " |"
        )
    killed = runs.get("external", {}).get("killed")
    if killed:
        final = {r["sample_id"]: r["worker"] for r in runs["external"]["summary"]}
        slide = next((s for s in final if s in killed["slide_running"]), killed["slide_running"])
        lines += [
            "",
            f"Killed: worker `w0` (pid {killed['pid']}, exit code {killed['returncode']}) while "
            f"it ran `{slide}`, after {killed['slides_done_before_kill']} slide(s) had finished; "
            f"`{slide}` was then completed by `{final.get(slide, '?')}` and the command exited "
            f"with code {runs['external']['exit_code']}.",
        ]
    lines += ["", "| slide | spots | ARI (sequential) | seconds (sequential) |"]
    lines.append("|---|---|---|---|")
    for name, row in seq.items():
        lines.append(f"| {name} | {row['n_spots']} | {row['ari']:.3f} | {row['seconds']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
