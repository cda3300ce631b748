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

import anndata as ad
import numpy as np
import pandas as pd
from skimage.io import imread

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SPATIALFUSE_SHARED_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "benchmarks" / "results"


def __getattr__(name: str) -> Any:
    """``DLPFC_H5AD``: section id -> h5ad of the three DLPFC sections with counts, from the
    slide registry (``_slides.SLIDES``), resolved lazily because ``_slides`` imports this
    module."""
    if name == "DLPFC_H5AD":
        from _slides import SLIDES

        return {s.name: s.path for s in SLIDES.values() if s.tissue == "human DLPFC"}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timed(record: dict[str, Any]):
    """Store the wall time of the block in ``record['seconds']`` and the CPU time of this
    process (all its threads) in ``record['cpu_seconds']``."""
    start, cpu_start = time.perf_counter(), time.process_time()
    yield
    record["seconds"] = round(time.perf_counter() - start, 2)
    record["cpu_seconds"] = round(time.process_time() - cpu_start, 2)


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


def spots_without_counts(folder: Path, library_id: str) -> ad.AnnData:
    """The in-tissue spots of a Space Ranger ``spatial/`` folder with no count matrix: v1
    positions, scale factors and the lowres image in the scanpy layout (``X`` is one column
    of ones)."""
    spatial = folder / "spatial"
    positions = pd.read_csv(
        spatial / "tissue_positions_list.csv",
        header=None,
        index_col=0,
        names=["barcode", "in_tissue", "array_row", "array_col", "pxl_row", "pxl_col"],
    )
    positions = positions[positions["in_tissue"] == 1]
    adata = ad.AnnData(
        X=np.ones((len(positions), 1), dtype=np.float32),
        obs=positions[["in_tissue", "array_row", "array_col"]],
    )
    adata.obsm["spatial"] = positions[["pxl_col", "pxl_row"]].to_numpy(float)
    scalefactors = json.loads((spatial / "scalefactors_json.json").read_text())
    image = imread(spatial / "tissue_lowres_image.png")[..., :3]
    adata.uns["spatial"] = {library_id: {"images": {"lowres": image}, "scalefactors": scalefactors}}
    return adata


def unprocessed(adata: ad.AnnData) -> ad.AnnData:
    """A copy of a slide as before ``sf.pp.preprocess``: raw counts in ``X``, no PCA, no
    log mark; what else it holds (graph, tiles, image features) is kept for reuse. The default
    pipeline then ranks the genes itself (``flavor="auto"`` runs only on the counts)."""
    out = adata.copy()
    out.X = out.layers["counts"].copy()
    del out.obsm["X_pca"]
    out.uns.pop("log1p", None)
    return out
