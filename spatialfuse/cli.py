"""Command line: ``spatialfuse run``, ``spatialfuse demo`` and ``spatialfuse info``.

Exit codes: 0 success, 2 bad input (the message says what to fix), 1 internal error.
"""

from __future__ import annotations

import argparse
import logging
import platform
import shutil
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from . import _keys
from ._errors import InputError, OutputExistsError
from ._logging import info, logger
from ._settings import settings

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2
VERSIONED = ("spatialfuse", "scanpy", "anndata", "squidpy", "torch", "torch_geometric", "numpy")


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages a result depends on."""
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = version(name.replace("_", "-"))
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def prepare_output_dir(out: Path, *, overwrite: bool) -> None:
    """Create ``out``; refuse an existing non-empty folder unless ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--out {out} is a file; give a folder path.")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise OutputExistsError(
                f"the output folder {out} exists and is not empty. Choose another --out, or pass "
                "--overwrite to replace its contents."
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def load_input(path: Path):
    """Read a Space Ranger folder or an ``.h5ad`` file."""
    from . import io

    if path.is_dir():
        return io.read_visium(path)
    if path.suffix == ".h5ad":
        return io.read_h5ad(path)
    raise InputError(
        f"INPUT {path} is neither a Space Ranger output folder nor an .h5ad file. Pass the "
        "folder that holds filtered_feature_bc_matrix.h5 and spatial/, or an .h5ad file."
    )


def run_analysis(
    adata,
    out: Path,
    *,
    n_domains: int | None,
    seed: int,
    truth: str | None,
    overwrite: bool,
    source: str,
) -> dict[str, Any]:
    """Run the pipeline on ``adata`` and write every output into ``out``; return the report."""
    from . import io, metrics, pl, tl

    if truth is not None and truth not in adata.obs:
        raise InputError(
            f"--truth {truth!r} is not a column of the input's obs (columns: "
            f"{list(adata.obs.columns)}). Name the ground-truth column, or drop --truth."
        )
    prepare_output_dir(out, overwrite=overwrite)
    handler = logging.FileHandler(out / "spatialfuse.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler)
    try:
        start = time.perf_counter()
        tl.spatial_domains(adata, n_domains=n_domains, seed=seed)
        report: dict[str, Any] = {
            "input": source,
            "n_spots": int(adata.n_obs),
            "n_genes": int(adata.n_vars),
            "n_domains": int(adata.obs[_keys.DOMAIN].nunique()),
            "params": adata.uns["spatialfuse_pipeline"]["params"],
            "steps": adata.uns["spatialfuse_pipeline"]["steps"],
            "versions": package_versions(),
        }
        if truth is not None:
            report["truth"] = truth
            report["scores"] = metrics.compare(adata, _keys.DOMAIN, truth)
        outputs = {
            "adata": io.export_h5ad(adata, out / "adata.h5ad"),
            "domains": io.export_domains_csv(adata, out / "domains.csv"),
            "map": out / "domain_map.png",
        }
        pl.domains(adata, save=outputs["map"], show=False)
        report["outputs"] = {name: str(path) for name, path in outputs.items()}
        report["total_seconds"] = round(time.perf_counter() - start, 2)
        report["peak_rss_mb"] = max(step["peak_rss_mb"] for step in report["steps"].values())
        io.write_json(report, out / "report.json")
    finally:
        logger.removeHandler(handler)
        handler.close()
    info("wrote %s (adata.h5ad, domains.csv, domain_map.png, report.json)", out)
    return report


def _cmd_run(args: argparse.Namespace) -> dict[str, Any]:
    adata = load_input(Path(args.input))
    return run_analysis(
        adata,
        Path(args.out),
        n_domains=args.n_domains,
        seed=args.seed,
        truth=args.truth,
        overwrite=args.overwrite,
        source=str(args.input),
    )


def _cmd_demo(args: argparse.Namespace) -> dict[str, Any]:
    from . import datasets

    report = run_analysis(
        datasets.demo(),
        Path(args.out),
        n_domains=7,
        seed=args.seed,
        truth="layer",
        overwrite=args.overwrite,
        source="spatialfuse.datasets.demo() (DLPFC 151673)",
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
    print(f"{'cache folder':16s} {settings.data_dir}")


def build_parser() -> argparse.ArgumentParser:
    """The ``spatialfuse`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="spatialfuse",
        description="Fuse H&E histology and gene expression of Visium slides into spatial domains.",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars or info logs")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="find spatial domains on one slide")
    run.add_argument("input", help="Space Ranger output folder or .h5ad in the Visium layout")
    run.add_argument("--out", required=True, help="output folder")
    run.add_argument(
        "--n-domains", type=int, default=None, help="number of domains (auto if unset)"
    )
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--truth", default=None, help="obs column with ground truth: ARI in report")
    run.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    run.set_defaults(func=_cmd_run)

    demo = sub.add_parser("demo", help="run the pipeline on the bundled DLPFC demo slide")
    demo.add_argument("--out", default="outputs/demo", help="output folder")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    demo.set_defaults(func=_cmd_demo)

    info_cmd = sub.add_parser("info", help="versions, device and cache folder")
    info_cmd.set_defaults(func=_cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``spatialfuse`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.quiet:
        settings.progress = False
        settings.verbosity = "WARNING"
    try:
        args.func(args)
    except InputError as err:
        print(f"spatialfuse: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("spatialfuse: interrupted", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as err:  # noqa: BLE001 - last-resort boundary of the CLI
        print(
            f"spatialfuse: internal error: {type(err).__name__}: {err}\n"
            "This is a bug in spatialfuse; please report it with the command you ran.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
