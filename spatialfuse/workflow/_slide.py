"""Run one slide from its input to an output folder: the library behind ``spatialfuse run``."""

from __future__ import annotations

import contextlib
import logging
import platform
import shutil
import time
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypedDict

from anndata import AnnData

from .. import _keys
from .._errors import InputError, OutputExistsError
from .._logging import info, logger
from ._options import RunOptions

VERSIONED = ("spatialfuse", "scanpy", "anndata", "squidpy", "torch", "torch_geometric", "numpy")
LOG_FILE = "spatialfuse.log"
REPORT_FILE = "report.json"  # written last: its presence marks a finished run
CACHE_FOLDER = ".cache"


class RunReport(TypedDict, total=False):
    """What :func:`run_slide` returns and writes as ``report.json``."""

    input: str
    n_spots: int
    n_genes: int
    n_domains: int
    options: dict[str, Any]
    params: dict[str, Any]
    image: dict[str, Any]
    genes: dict[str, Any]
    steps: dict[str, Any]
    resumed_steps: list[str]
    versions: dict[str, str]
    truth: str
    scores: dict[str, float]
    outputs: dict[str, str]
    total_seconds: float
    peak_rss_mb: float


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages a result depends on."""
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = version(name.replace("_", "-"))
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def prepare_output_dir(out: Path, *, overwrite: bool, resume: bool) -> None:
    """Create ``out``.

    An existing non-empty folder is refused unless ``overwrite`` (its contents are deleted) or
    ``resume`` (its step cache is kept and the completion marker ``report.json`` removed).
    """
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--out {str(out)!r} is a file; give a folder path.")
    if out.is_dir() and any(out.iterdir()):
        if resume:
            (out / REPORT_FILE).unlink(missing_ok=True)
        elif overwrite:
            shutil.rmtree(out)
        else:
            raise OutputExistsError(
                f"the output folder {str(out)!r} exists and is not empty. Choose another --out, "
                "pass --resume to continue an interrupted run there, or --overwrite to replace "
                "its contents."
            )
    out.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def log_to_file(path: Path) -> Iterator[None]:
    """Copy the ``spatialfuse`` log (INFO and above) into ``path`` while the block runs."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()


def run_adata(
    adata: AnnData,
    out: str | Path,
    options: RunOptions | None = None,
    *,
    source: str = "AnnData",
    overwrite: bool = False,
    resume: bool = False,
    cache_dir: str | Path | None = None,
) -> RunReport:
    """Run the pipeline on ``adata`` and write every output into ``out``; return the report.

    Everything about the input is checked before ``out`` is touched: the ``truth`` column,
    the Visium layout, and the number of spots for the domains asked for. Spots and genes
    without counts are dropped first (:func:`sf.pp.drop_empty`).
    """
    from .. import io, metrics, pp, tl
    from .._validation import check_n_domains, counts_from_layer

    options = options or RunOptions()
    out = Path(out)
    truth = options.truth
    if truth is not None and truth not in adata.obs:
        raise InputError(
            f"--truth {truth!r} is not a column of the input's obs (columns: "
            f"{list(adata.obs.columns)}). Name the ground-truth column, or drop --truth."
        )
    if options.layer is not None:
        counts_from_layer(adata, options.layer)
    adata = pp.drop_empty(adata)
    io.validate(adata, library_id=options.library_id)
    check_n_domains(adata.n_obs, options.n_domains)
    prepare_output_dir(out, overwrite=overwrite, resume=resume)
    cache = Path(cache_dir) if cache_dir is not None else out / CACHE_FOLDER
    with log_to_file(out / LOG_FILE):
        if resume:
            info("resuming in %s with the step cache %s", out, cache)
        start = time.perf_counter()
        tl.spatial_domains(adata, **options.pipeline_kwargs(), cache_dir=cache)
        pipeline = adata.uns[_keys.PIPELINE]
        report: RunReport = {
            "input": source,
            "n_spots": int(adata.n_obs),
            "n_genes": int(adata.n_vars),
            "n_domains": int(adata.obs[_keys.DOMAIN].nunique()),
            "options": options.to_dict(),
            "params": pipeline["params"],
            "image": pipeline["image"],
            "steps": pipeline["steps"],
            "resumed_steps": [name for name, s in pipeline["steps"].items() if s["reused"]],
            "versions": package_versions(),
        }
        if _keys.GENE_RANKING in adata.uns:  # flavor="auto": the ranking kept, and why
            report["genes"] = dict(adata.uns[_keys.GENE_RANKING])
        if truth is not None:
            report["truth"] = truth
            report["scores"] = metrics.compare(adata, _keys.DOMAIN, truth)
        report["outputs"] = io.export_all(adata, out)
        report["total_seconds"] = round(time.perf_counter() - start, 2)
        report["peak_rss_mb"] = max(step["peak_rss_mb"] for step in report["steps"].values())
        io.write_json(dict(report), out / REPORT_FILE)
        info(
            "wrote %s (%s, %s)",
            out,
            ", ".join(Path(p).name for p in report["outputs"].values()),
            REPORT_FILE,
        )
    return report


def run_slide(
    source: str | Path,
    out: str | Path,
    options: RunOptions | None = None,
    *,
    overwrite: bool = False,
    resume: bool = False,
    cache_dir: str | Path | None = None,
) -> RunReport:
    """Read a slide (:func:`sf.io.read`), run it (:func:`run_adata`) and return the report.

    What ``spatialfuse run`` and every slide of ``spatialfuse run-many`` do.

    Parameters
    ----------
    source
        Space Ranger output folder or ``.h5ad`` file.
    out
        Output folder: ``adata.h5ad``, ``domains.csv``, ``domains_loupe.csv``,
        ``domains.geojson``, ``map.html``, ``domain_map.png``, ``spatialfuse.log`` and, last,
        ``report.json``.
    options
        :class:`RunOptions` (its defaults when ``None``).
    overwrite, resume
        Replace a non-empty ``out``, or continue an interrupted run there from its step cache.
    cache_dir
        Step cache folder (``out/.cache`` by default).
    """
    from .. import io

    options = options or RunOptions()
    adata = io.read(source, library_id=options.library_id)
    return run_adata(
        adata,
        out,
        options,
        source=str(source),
        overwrite=overwrite,
        resume=resume,
        cache_dir=cache_dir,
    )
