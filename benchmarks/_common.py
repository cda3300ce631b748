"""Helpers shared by the benchmark scripts: data paths, timing, result tables."""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SPATIALFUSE_SHARED_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "benchmarks" / "results"
DLPFC_H5AD = {
    "151673": SHARED_DATA / "dlpfc" / "h5ad" / "151673_hvg5000.h5ad",
    "151674": SHARED_DATA / "dlpfc" / "h5ad" / "151674_hvg5000.h5ad",
    "151510": SHARED_DATA / "dlpfc" / "h5ad" / "151510_drsc500.h5ad",
}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timed(record: dict[str, Any]):
    """Store the wall time of the block in ``record['seconds']``."""
    start = time.perf_counter()
    yield
    record["seconds"] = round(time.perf_counter() - start, 2)


def mean_sd(values: Iterable[float]) -> str:
    """Format values as ``mean ± sd`` (sample sd) with three decimals."""
    arr = np.asarray(list(values), dtype=float)
    sd = arr.std(ddof=1) if arr.size > 1 else 0.0
    return f"{arr.mean():.3f} ± {sd:.3f}"


def run_in_subprocess(func: Callable[..., dict], *args: Any) -> dict:
    """Run ``func(*args)`` in a fresh process so its peak memory is its own."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(func, args)


def write_results(name: str, data: dict[str, Any], markdown: str) -> None:
    """Write ``results/<name>.json`` and ``results/<name>.md``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2, default=str))
    (RESULTS / f"{name}.md").write_text(markdown)
    print(markdown)
