"""Run the pipeline on every slide of a cohort, in parallel on Dask (``dask.distributed``)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .._atomic import atomic_path
from .._errors import InputError, ParameterError
from .._logging import info, quiet_terminal, warning
from .._params import (
    NON_NEGATIVE_INT,
    Predicate,
    validate_params,
)
from .._settings import settings
from ..workflow import REPORT_FILE, RunOptions, run_slide
from ._manifest import Slide, read_manifest

SUMMARY_CSV = "summary.csv"
SUMMARY_JSON = "summary.json"
COLUMNS = (
    "sample_id",
    "status",
    "input",
    "seconds",
    "n_spots",
    "n_domains",
    "ari",
    "worker",
    "error",
    "bad_input",
)
DONE, SKIPPED, FAILED = "done", "skipped", "failed"
CONNECT_TIMEOUT = "30s"  # to reach a running scheduler


@contextlib.contextmanager
def _single_threaded() -> Iterator[None]:
    """One torch and one BLAS thread while a slide runs, so its result does not depend on
    where it runs (a worker, or this process), and parallel slides do not compete."""
    import torch
    from threadpoolctl import threadpool_limits

    before, before_setting = torch.get_num_threads(), settings.n_threads
    settings.n_threads = 1
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        settings.n_threads = before_setting
        torch.set_num_threads(before)


def _record(slide: Slide, report: Mapping[str, Any], status: str, worker: str) -> dict[str, Any]:
    return {
        "sample_id": slide.sample_id,
        "status": status,
        "input": str(slide.input),
        "seconds": report.get("total_seconds"),
        "n_spots": report.get("n_spots"),
        "n_domains": report.get("n_domains"),
        "ari": (report.get("scores") or {}).get("ari"),
        "worker": worker,
        "error": None,
        "bad_input": False,
    }


def _failed_row(slide: Slide, err: BaseException, worker: str = "") -> dict[str, Any]:
    row = _record(slide, {}, FAILED, worker)
    row.update(error=f"{type(err).__name__}: {err}", bad_input=isinstance(err, InputError))
    return row


def _read_report(folder: Path) -> dict[str, Any] | None:
    path = folder / REPORT_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def run_slide_task(slide: Slide, out: str) -> dict[str, Any]:
    """Run one slide into ``out/<sample_id>`` (what a worker executes); return its summary row.

    Bad input (:class:`InputError`) is returned as a failed row, since retrying cannot help;
    other exceptions propagate, so the scheduler retries the slide. A previous attempt's
    completed steps are reused (``--resume``), and a slide an earlier attempt finished is not
    recomputed.
    """
    folder = Path(out) / slide.sample_id
    try:
        from distributed import get_worker

        worker = get_worker().address
    except ValueError:  # not on a Dask worker: the sequential mode
        worker = f"local:{socket.gethostname()}:{os.getpid()}"
    done = _read_report(folder)
    if done is not None:
        return _record(slide, done, DONE, worker)
    try:
        with quiet_terminal(), _single_threaded():
            options = RunOptions.from_manifest_row(slide.options, slide.config)
            report = run_slide(slide.input, folder, options, resume=True)
    except InputError as err:
        return _failed_row(slide, err, worker)
    return _record(slide, report, DONE, worker)


def _write_summary(out: Path, rows: dict[str, dict[str, Any]], order: list[str]) -> pd.DataFrame:
    """Write ``summary.csv`` and ``summary.json`` (atomically) with one row per slide so far."""
    table = pd.DataFrame([rows[s] for s in order if s in rows], columns=list(COLUMNS))
    with atomic_path(out / SUMMARY_CSV) as tmp:
        table.to_csv(tmp, index=False)
    counts = table["status"].value_counts().to_dict()
    with atomic_path(out / SUMMARY_JSON) as tmp:
        tmp.write_text(
            json.dumps(
                {"n_slides": len(order), "status": counts, "slides": table.to_dict("records")},
                indent=2,
                default=str,
            )
        )
    return table


def _check_options(slides: list[Slide], config: str | Path | None) -> None:
    """Resolve every slide's options now, so a bad value fails before anything runs."""
    for slide in slides:
        try:
            RunOptions.from_manifest_row(slide.options, slide.config or config)
        except ParameterError as err:
            raise ParameterError(f"slide {slide.sample_id!r}: {err}") from None


@validate_params(
    {
        "manifest": [str, Path, pd.DataFrame],
        "out": [str, Path],
        "scheduler": [
            str,
            None,
            Predicate(lambda value: hasattr(value, "submit"), "a distributed.Client"),
        ],
        "n_workers": [NON_NEGATIVE_INT],
        "retries": [NON_NEGATIVE_INT],
        "config": [str, Path, None],
    }
)
def run_many(
    manifest: str | Path | pd.DataFrame,
    out: str | Path,
    *,
    scheduler: Any = None,
    n_workers: int = 2,
    retries: int = 1,
    config: str | Path | None = None,
) -> pd.DataFrame:
    """Run the whole pipeline on every slide of a cohort, slides in parallel on Dask.

    Each slide runs exactly as ``spatialfuse run`` would (:func:`sf.workflow.run_slide`,
    single-threaded) and writes its outputs into ``out/<sample_id>/`` as soon as it finishes:
    every file under a temporary name renamed when complete, ``report.json`` last. A slide
    whose ``report.json`` exists is skipped, so re-running after an interruption does only
    what is left, resuming unfinished slides from their completed steps. A failing slide is
    retried ``retries`` times (bad input is not retried), then reported; the others go on.
    A worker lost mid-slide (killed, out of memory) has its slide run again elsewhere.

    Parameters
    ----------
    manifest
        CSV path or DataFrame: a column ``input`` and optional per-slide columns
        (see :func:`read_manifest`).
    out
        Output folder; one sub-folder per slide plus ``summary.csv`` and ``summary.json``.
    scheduler
        Address of a running Dask scheduler (e.g. ``"tcp://127.0.0.1:8786"``) or a
        ``distributed.Client``; ``None`` starts a ``LocalCluster`` of ``n_workers`` worker
        processes with one thread each.
    n_workers
        Workers of the local cluster; ``0`` runs the slides one after another in this process,
        without Dask.
    retries
        Extra attempts of a slide that raised an error.
    config
        TOML/YAML file of ``run`` options for every slide (a per-slide ``config`` column
        replaces it; manifest columns override both).

    Returns
    -------
    The summary, one row per slide: ``sample_id``, ``status`` (``done``, ``skipped``,
    ``failed``), ``input``, ``seconds``, ``n_spots``, ``n_domains``, ``ari`` (with a ``truth``
    column), ``worker`` and ``error``. Written to ``out/summary.csv`` and
    ``out/summary.json`` after every slide.

    Raises
    ------
    InputError
        The manifest or an option in it is unusable (nothing is run).
    """
    slides = read_manifest(manifest)
    slides = [
        Slide(s.sample_id, s.input, s.options, s.config or (Path(config) if config else None))
        for s in slides
    ]
    _check_options(slides, config)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"--out {str(out)!r} is a file; give a folder path.")
    out.mkdir(parents=True, exist_ok=True)
    order = [s.sample_id for s in slides]
    rows: dict[str, dict[str, Any]] = {}
    todo = []
    for slide in slides:
        report = _read_report(out / slide.sample_id)
        if report is None:
            todo.append(slide)
        else:
            rows[slide.sample_id] = _record(slide, report, SKIPPED, "")
    info("%d slides: %d to run, %d already done (skipped)", len(slides), len(todo), len(rows))
    _write_summary(out, rows, order)
    start = time.perf_counter()

    def finished(slide: Slide, row: dict[str, Any]) -> None:
        rows[slide.sample_id] = row
        _write_summary(out, rows, order)
        done = sum(r["status"] != FAILED for r in rows.values())
        message = "slide %s %s (%d/%d finished, %.0f s)"
        log = warning if row["status"] == FAILED else info
        log(message, slide.sample_id, row["status"], done, len(slides), time.perf_counter() - start)
        if row["error"]:
            warning("slide %s: %s", slide.sample_id, row["error"])

    if todo and n_workers == 0 and scheduler is None:
        for slide in todo:
            for attempt in range(retries + 1):
                try:
                    row = run_slide_task(slide, str(out))
                    break
                except Exception as err:  # noqa: BLE001 - reported in the summary
                    row = _failed_row(slide, err)
                    info("slide %s: attempt %d failed (%s)", slide.sample_id, attempt + 1, err)
            finished(slide, row)
    elif todo:
        with _client(scheduler, n_workers) as client:
            from distributed import as_completed

            futures = {
                client.submit(
                    run_slide_task,
                    slide,
                    str(out.resolve()),
                    key=f"spatialfuse-{slide.sample_id}-{uuid.uuid4().hex[:8]}",
                    retries=retries,
                    pure=False,
                ): slide
                for slide in todo
            }
            for future in as_completed(futures):
                slide = futures[future]
                try:
                    row = future.result()
                except Exception as err:  # noqa: BLE001 - reported in the summary
                    row = _failed_row(slide, err)
                finished(slide, row)
    return _write_summary(out, rows, order)


@contextlib.contextmanager
def _client(scheduler: Any, n_workers: int) -> Iterator[Any]:
    """A Dask client: on ``scheduler`` (address or client), or on a new ``LocalCluster``."""
    import logging

    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
    elif scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except OSError as err:
            raise ParameterError(
                f"cannot reach the Dask scheduler at {scheduler!r} ({err}). Start it (dask "
                "scheduler) and its workers (dask worker ADDRESS), or leave --scheduler out to "
                "use a local cluster."
            ) from None
        with client:
            yield client
    else:
        cluster = LocalCluster(
            n_workers=int(n_workers),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
        info("started a local Dask cluster: %d workers, 1 thread each", n_workers)
        try:
            yield client
        finally:
            for close in (client.close, cluster.close):
                try:
                    close()
                except TimeoutError:  # a busy machine can be slow to stop a worker process
                    warning("the local Dask cluster was slow to shut down; the results are saved")
