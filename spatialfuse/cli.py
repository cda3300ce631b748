"""Command line: ``spatialfuse run``, ``run-many``, ``demo`` and ``info``.

Exit codes: 0 success, 2 bad input or an unusable output folder (the message says what to
fix), 1 internal error. ``report.json`` is written last: its presence marks a complete run.
``run-many`` exits 0 when every slide is done, 2 when the failed ones all had bad input, else 1.
"""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path
from typing import Any

from . import _keys
from ._cache import default_cache_dir
from ._errors import InputError
from ._logging import quiet_terminal
from ._settings import settings
from .im._encode import ENCODERS
from .tl._fuse import ALL_METHODS
from .tl._genes import FLAVORS
from .workflow import (
    AUTO,
    CACHE_FOLDER,
    OPTION_NAMES,
    RunOptions,
    RunReport,
    package_versions,
    run_adata,
    run_slide,
)

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EPERM}
DEFAULTS = RunOptions()


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The run options given on the command line (flags not given are ``None``)."""
    return {name: getattr(args, name, None) for name in OPTION_NAMES}


def _cmd_run(args: argparse.Namespace) -> RunReport:
    options = RunOptions.from_config(args.config, **_given(args))
    return run_slide(
        args.input,
        args.out,
        options,
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


def _cmd_demo(args: argparse.Namespace) -> RunReport:
    from . import datasets

    options = RunOptions(seed=args.seed, truth=_keys.LAYER_TRUTH)
    report = run_adata(
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


def _int_or_auto(text: str) -> int | str:
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
        type=_int_or_auto,
        help="number of domains, or 'auto' to choose the most stable one "
        f"(default {DEFAULTS.n_domains or AUTO})",
    )
    run.add_argument("--seed", type=int, help="random seed (default 0)")
    run.add_argument("--truth", help="obs column with ground truth: ARI, NMI ... in report.json")
    run.add_argument("--library-id", help="slide to analyse when the input holds several")
    run.add_argument("--layer", help="layer of an .h5ad that holds the raw counts (default: X)")
    run.add_argument(
        "--encoder", choices=ENCODERS, help=f"image encoder (default {DEFAULTS.encoder})"
    )
    run.add_argument(
        "--fusion", choices=ALL_METHODS, help=f"fusion method (default {DEFAULTS.fusion})"
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
        help=f"highly variable genes (default {DEFAULTS.n_top_genes})",
    )
    run.add_argument(
        "--flavor",
        choices=FLAVORS,
        help="ranking of the variable genes; 'auto' tries 'seurat' and 'spatial' and keeps the "
        f"spatially more coherent domains (default {DEFAULTS.flavor})",
    )
    run.add_argument(
        "--n-comps", type=int, help=f"principal components (default {DEFAULTS.n_comps})"
    )
    run.add_argument(
        "--n-rings", type=int, help=f"rings of hex neighbours (default {DEFAULTS.n_rings})"
    )
    run.add_argument(
        "--n-runs",
        type=_int_or_auto,
        help="clustering runs (and fusion runs of a trained fusion), domains from their "
        f"averaged posteriors (default {DEFAULTS.n_runs})",
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``spatialfuse`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        with quiet_terminal(args.quiet):
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
