"""Command line: ``spatialfuse run``, ``run-many``, ``demo`` and ``info``.

Exit codes: 0 success, 2 bad input or an unusable output folder (the message says what to
fix), 1 internal error. ``report.json`` is written last: its presence marks a complete run.
``run-many`` exits 0 when every slide is done, 2 when the failed ones all had bad input, else 1.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import inspect
import logging
import platform
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import scanpy as sc
from anndata import AnnData

from . import _keys
from ._cache import default_cache_dir
from ._errors import InputError, OutputExistsError, ParameterError
from ._logging import info, logger
from ._settings import settings
from .im._encode import ENCODERS
from .tl import spatial_domains
from .tl._fuse import ALL_METHODS

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2
VERSIONED = ("spatialfuse", "scanpy", "anndata", "squidpy", "torch", "torch_geometric", "numpy")
AUTO = "auto"
LOG_FILE = "spatialfuse.log"
REPORT_FILE = "report.json"
CACHE_FOLDER = ".cache"
CHATTY_LIBRARY_LOGGERS = ("spatialdata._logging",)  # squidpy logs through it
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EPERM}
PIPELINE_OPTIONS = ("n_domains", "library_id", "use_image", "encoder", "fusion", "seed")
PIPELINE_OPTIONS += ("n_top_genes", "n_comps", "n_rings", "n_runs")
_API_DEFAULTS = inspect.signature(spatial_domains).parameters
# options of `run` that a config file may set, with their defaults (those of the Python API)
RUN_DEFAULTS: dict[str, Any] = {
    **{name: _API_DEFAULTS[name].default for name in PIPELINE_OPTIONS},
    "seed": 0,
    "truth": None,
    "epochs": None,
    "step_options": {},
}


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages a result depends on."""
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = version(name.replace("_", "-"))
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def read_config(path: str | Path) -> dict[str, Any]:
    """Read ``run`` options from a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file.

    Keys are the long options of ``spatialfuse run`` (dashes or underscores), plus
    ``step_options`` (a table of per-step keyword arguments).
    """
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"the config file {str(path)!r} does not exist. Check the path.")
    try:
        if path.suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            config = tomllib.loads(path.read_text())
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            config = yaml.safe_load(path.read_text()) or {}
        else:
            raise ParameterError(f"the config file {str(path)!r} must end in .toml, .yaml or .yml.")
    except ParameterError:
        raise
    except Exception as err:  # tomllib and yaml raise their own parse errors
        raise ParameterError(
            f"cannot parse the config file {str(path)!r} ({type(err).__name__}: {err}). Fix its "
            "syntax."
        ) from None
    if not isinstance(config, dict):
        raise ParameterError(f"the config file {str(path)!r} must hold a table of options.")
    config = {str(key).replace("-", "_"): value for key, value in config.items()}
    if "no_image" in config:
        config["use_image"] = not config.pop("no_image")
    unknown = sorted(set(config) - set(RUN_DEFAULTS))
    if unknown:
        raise ParameterError(
            f"the config file {str(path)!r} has unknown options {unknown}. Known options: "
            f"{sorted(RUN_DEFAULTS)}."
        )
    step_options = config.get("step_options", {})
    if not isinstance(step_options, dict) or not all(
        isinstance(opts, dict) for opts in step_options.values()
    ):
        raise ParameterError(
            "step_options in the config file must be a table of per-step options, e.g. "
            "[step_options.fuse] epochs = 200."
        )
    return config


def resolve_options(args: argparse.Namespace) -> dict[str, Any]:
    """Defaults, overridden by the config file, overridden by options given on the command line."""
    options = dict(RUN_DEFAULTS)
    if args.config is not None:
        options.update(read_config(args.config))
    given = {
        key: getattr(args, key) for key in RUN_DEFAULTS if getattr(args, key, None) is not None
    }
    options.update(given)
    step_options = {step: dict(opts) for step, opts in options["step_options"].items()}
    if options["epochs"] is not None:
        step_options.setdefault("fuse", {})["epochs"] = options["epochs"]
    options["step_options"] = step_options
    for name, allowed in (("encoder", ENCODERS), ("fusion", ALL_METHODS)):
        if options[name] not in allowed:
            raise ParameterError(f"{name}={options[name]!r}; choose one of {list(allowed)}.")
    if options["n_domains"] == AUTO:
        options["n_domains"] = None  # the API chooses the number
    for name in ("n_domains", "n_top_genes", "n_comps", "n_rings", "n_runs", "seed", "epochs"):
        value = options[name]
        if value is None and name in ("n_domains", "epochs"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < (name != "seed"):
            raise ParameterError(f"{name}={value!r}; give a positive whole number.")
    return options


def load_input(path: Path, *, library_id: str | None = None) -> AnnData:
    """Read a Space Ranger output folder or an ``.h5ad`` file."""
    from . import io

    if path.is_dir():
        return io.read_visium(path, library_id=library_id)
    if path.suffix == ".h5ad":
        return io.read_h5ad(path, library_id=library_id)
    if not path.exists():
        raise InputError(f"INPUT {str(path)!r} does not exist. Check the path.")
    raise InputError(
        f"INPUT {str(path)!r} is neither a Space Ranger output folder nor an .h5ad file. Pass "
        "the folder that holds filtered_feature_bc_matrix.h5 and spatial/, or an .h5ad file."
    )


def drop_empty(adata: AnnData) -> AnnData:
    """Drop spots and genes without any count, saying how many."""
    n_obs, n_vars = adata.shape
    adata = adata[sc.pp.filter_cells(adata, min_counts=1, inplace=False)[0]]
    adata = adata[:, sc.pp.filter_genes(adata, min_counts=1, inplace=False)[0]].copy()
    if adata.n_obs < n_obs:
        info("dropped %d of %d spots with zero counts", n_obs - adata.n_obs, n_obs)
    if adata.n_vars < n_vars:
        info("dropped %d of %d genes with zero counts", n_vars - adata.n_vars, n_vars)
    return adata


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


def write_outputs(adata: AnnData, out: Path) -> dict[str, str]:
    """Write every result file except the report; return their paths by name."""
    from . import io, pl

    paths = {
        "adata": io.export_h5ad(adata, out / "adata.h5ad"),
        "domains": io.export_domains_csv(adata, out / "domains.csv"),
        "loupe": io.export_loupe_csv(adata, out / "domains_loupe.csv"),
        "geojson": io.export_geojson(adata, out / "domains.geojson"),
        "html": io.export_html(adata, out / "map.html"),
    }
    paths["map"] = out / "domain_map.png"
    pl.domains(adata, save=paths["map"], show=False)
    return {name: str(path) for name, path in paths.items()}


def run_analysis(
    adata: AnnData,
    out: Path,
    options: dict[str, Any],
    *,
    source: str,
    overwrite: bool = False,
    resume: bool = False,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Run the pipeline on ``adata`` and write every output into ``out``; return the report.

    Everything about the input is checked before ``out`` is touched.
    """
    from . import io, metrics
    from ._validation import check_n_domains

    truth = options["truth"]
    if truth is not None and truth not in adata.obs:
        raise InputError(
            f"--truth {truth!r} is not a column of the input's obs (columns: "
            f"{list(adata.obs.columns)}). Name the ground-truth column, or drop --truth."
        )
    adata = drop_empty(adata)
    io.validate(adata, library_id=options["library_id"])
    check_n_domains(adata.n_obs, options["n_domains"])
    prepare_output_dir(out, overwrite=overwrite, resume=resume)
    cache_dir = cache_dir or out / CACHE_FOLDER
    with log_to_file(out / LOG_FILE):
        if resume:
            info("resuming in %s with the step cache %s", out, cache_dir)
        start = time.perf_counter()
        spatial_domains(
            adata,
            **{name: options[name] for name in PIPELINE_OPTIONS},
            step_options=options["step_options"],
            cache_dir=cache_dir,
        )
        pipeline = adata.uns["spatialfuse_pipeline"]
        report: dict[str, Any] = {
            "input": source,
            "n_spots": int(adata.n_obs),
            "n_genes": int(adata.n_vars),
            "n_domains": int(adata.obs[_keys.DOMAIN].nunique()),
            "options": options,
            "params": pipeline["params"],
            "steps": pipeline["steps"],
            "resumed_steps": [name for name, s in pipeline["steps"].items() if s["reused"]],
            "versions": package_versions(),
        }
        if truth is not None:
            report["truth"] = truth
            report["scores"] = metrics.compare(adata, _keys.DOMAIN, truth)
        report["outputs"] = write_outputs(adata, out)
        report["total_seconds"] = round(time.perf_counter() - start, 2)
        report["peak_rss_mb"] = max(step["peak_rss_mb"] for step in report["steps"].values())
        io.write_json(report, out / REPORT_FILE)
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
    given: dict[str, Any] | None = None,
    *,
    config: str | Path | None = None,
    overwrite: bool = False,
    resume: bool = False,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Do what ``spatialfuse run`` does for one slide; return its report.

    ``given`` holds options named as in config files (``n_domains``, ``fusion`` ...); they
    override those of the ``config`` file, which override the defaults.
    """
    options = resolve_options(argparse.Namespace(config=config, **(given or {})))
    adata = load_input(Path(source), library_id=options["library_id"])
    return run_analysis(
        adata,
        Path(out),
        options,
        source=str(source),
        overwrite=overwrite,
        resume=resume,
        cache_dir=None if cache_dir is None else Path(cache_dir),
    )


def _cmd_run(args: argparse.Namespace) -> dict[str, Any]:
    given = {
        key: getattr(args, key) for key in RUN_DEFAULTS if getattr(args, key, None) is not None
    }
    return run_slide(
        args.input,
        args.out,
        given,
        config=args.config,
        overwrite=args.overwrite,
        resume=args.resume,
        cache_dir=args.cache_dir,
    )


def _cmd_run_many(args: argparse.Namespace) -> int:
    from . import cohort

    table = cohort.run_many(
        args.manifest,
        args.out,
        scheduler=args.scheduler,
        n_workers=args.n_workers,
        retries=args.retries,
        config=args.config,
    )
    counts = table["status"].value_counts()
    print(
        f"{len(table)} slides: {counts.get('done', 0)} done, {counts.get('skipped', 0)} skipped "
        f"(already done), {counts.get('failed', 0)} failed; summary in "
        f"{Path(args.out) / cohort.SUMMARY_CSV}"
    )
    failed = table[table["status"] == "failed"]
    for row in failed.itertuples():
        print(f"spatialfuse: error: slide {row.sample_id}: {row.error}", file=sys.stderr)
    if failed.empty:
        return EXIT_OK
    return EXIT_BAD_INPUT if failed["bad_input"].all() else EXIT_INTERNAL


def _cmd_demo(args: argparse.Namespace) -> dict[str, Any]:
    from . import datasets

    options = {**RUN_DEFAULTS, "seed": args.seed, "truth": _keys.LAYER_TRUTH}
    report = run_analysis(
        datasets.demo(),
        Path(args.out),
        options,
        source="spatialfuse.datasets.demo() (DLPFC 151673)",
        overwrite=args.overwrite,
        resume=args.resume,
    )
    print(
        f"Demo finished in {report['total_seconds']:.0f} s: outputs in {Path(args.out).resolve()}"
    )
    print(f"ARI against the manual layers: {report['scores']['ari']:.3f}")
    return report


def _cmd_info(args: argparse.Namespace) -> None:
    import torch

    for name, value in package_versions().items():
        print(f"{name:16s} {value}")
    print(f"{'device':16s} cpu ({torch.get_num_threads()} threads)")
    print(f"{'data folder':16s} {settings.data_dir}")
    print(f"{'cache folder':16s} {default_cache_dir()} (the CLI uses OUTDIR/{CACHE_FOLDER})")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress bars, info logs or warnings on the terminal (the log file keeps them)",
    )


def _add_output(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    group.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run in --out, reusing its completed steps",
    )


def _n_domains_arg(text: str) -> int | str:
    if text == AUTO:
        return AUTO
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number or 'auto'") from None


def build_parser() -> argparse.ArgumentParser:
    """The ``spatialfuse`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="spatialfuse",
        description="Fuse H&E histology and gene expression of Visium slides into spatial domains.",
        epilog="Exit codes: 0 success, 2 bad input or output folder, 1 internal error.",
    )
    parser.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="find spatial domains on one slide",
        description="Find spatial domains on one slide. Options override those of --config.",
    )
    run.add_argument("input", help="Space Ranger output folder or .h5ad in the Visium layout")
    run.add_argument("--out", required=True, help="output folder")
    run.add_argument("--config", help="TOML or YAML file of options (keys: the long options)")
    run.add_argument(
        "--n-domains",
        type=_n_domains_arg,
        help="number of domains, or 'auto' to choose the most stable one "
        f"(default {RUN_DEFAULTS['n_domains'] or AUTO})",
    )
    run.add_argument("--seed", type=int, help="random seed (default 0)")
    run.add_argument("--truth", help="obs column with ground truth: ARI, NMI ... in report.json")
    run.add_argument("--library-id", help="slide to analyse when the input holds several")
    run.add_argument(
        "--encoder", choices=ENCODERS, help=f"image encoder (default {RUN_DEFAULTS['encoder']})"
    )
    run.add_argument(
        "--fusion", choices=ALL_METHODS, help=f"fusion method (default {RUN_DEFAULTS['fusion']})"
    )
    run.add_argument("--epochs", type=int, help="fusion training epochs (default: sf.tl.fuse's)")
    run.add_argument(
        "--no-image",
        dest="use_image",
        action="store_const",
        const=False,
        help="ignore the H&E image: expression-only",
    )
    run.add_argument(
        "--n-top-genes",
        type=int,
        help=f"highly variable genes (default {RUN_DEFAULTS['n_top_genes']})",
    )
    run.add_argument(
        "--n-comps", type=int, help=f"principal components (default {RUN_DEFAULTS['n_comps']})"
    )
    run.add_argument(
        "--n-rings", type=int, help=f"rings of hex neighbours (default {RUN_DEFAULTS['n_rings']})"
    )
    run.add_argument(
        "--n-runs",
        type=int,
        help="clustering runs (and fusion runs of a trained fusion), domains from their "
        f"averaged posteriors (default {RUN_DEFAULTS['n_runs']})",
    )
    run.add_argument("--cache-dir", help=f"step cache folder (default OUT/{CACHE_FOLDER})")
    _add_output(run)
    _add_common(run)
    run.set_defaults(func=_cmd_run)

    demo = sub.add_parser("demo", help="run the pipeline on the bundled DLPFC demo slide")
    demo.add_argument("--out", default="outputs/demo", help="output folder")
    demo.add_argument("--seed", type=int, default=0)
    _add_output(demo)
    _add_common(demo)
    demo.set_defaults(func=_cmd_demo)

    many = sub.add_parser(
        "run-many",
        help="find spatial domains on every slide of a manifest, in parallel on Dask",
        description="Run every slide of MANIFEST (a CSV: column input, optional per-slide "
        "options) into OUT/<sample_id>/, in parallel on a local Dask cluster or the one at "
        "--scheduler. Slides already done are skipped; failed ones are retried, then reported "
        "in OUT/summary.csv.",
    )
    many.add_argument("manifest", help="CSV: input, and optional sample_id, n_domains, seed ...")
    many.add_argument("--out", required=True, help="output folder (one sub-folder per slide)")
    many.add_argument("--scheduler", help="address of a running Dask scheduler (default: local)")
    many.add_argument(
        "--n-workers",
        type=int,
        default=2,
        help="local cluster workers, 1 thread each (default 2; 0 = one slide after another)",
    )
    many.add_argument(
        "--retries", type=int, default=1, help="extra attempts of a failing slide (default 1)"
    )
    many.add_argument("--config", help="TOML or YAML file of run options for every slide")
    _add_common(many)
    many.set_defaults(func=_cmd_run_many)

    info_cmd = sub.add_parser("info", help="versions, device and cache folder")
    _add_common(info_cmd)
    info_cmd.set_defaults(func=_cmd_info)
    return parser


@contextlib.contextmanager
def terminal_output(quiet: bool) -> Iterator[None]:
    """Turn off progress bars, terminal info logs and warnings when ``quiet``; restore after.

    The log file of a run keeps the info logs.
    """
    terminal = [
        h
        for h in logger.handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    if quiet:  # set up the library loggers now, or their import would reset their level
        for name in CHATTY_LIBRARY_LOGGERS:
            importlib.import_module(name)
    libraries = [logging.getLogger(name) for name in CHATTY_LIBRARY_LOGGERS]
    before = (settings.progress, [h.level for h in terminal], [lib.level for lib in libraries])
    with warnings.catch_warnings():
        if quiet:
            settings.progress = False
            for handler in [*terminal, *libraries]:
                handler.setLevel(logging.WARNING)
            warnings.simplefilter("ignore")
        try:
            yield
        finally:
            settings.progress = before[0]
            for handler, level in zip([*terminal, *libraries], before[1] + before[2]):
                handler.setLevel(level)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``spatialfuse`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        with terminal_output(args.quiet):
            code = args.func(args)
    except InputError as err:
        print(f"spatialfuse: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:
        if err.errno not in STORAGE_ERRNOS:
            return _internal_error(err)
        print(
            f"spatialfuse: error: cannot write {err.filename or 'the output'} "
            f"({err.strerror or err}). No partial file was left under a final name: free disk "
            "space or choose a writable --out, then run again with --resume.",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(
            "spatialfuse: interrupted; run again with --resume to continue from the last "
            "completed step",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    except Exception as err:  # noqa: BLE001 - last-resort boundary of the CLI
        return _internal_error(err)
    return code if isinstance(code, int) else EXIT_OK


def _internal_error(err: BaseException) -> int:
    print(
        f"spatialfuse: internal error: {type(err).__name__}: {err}\n"
        "This is a bug in spatialfuse; please report it with the command you ran.",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
