"""Cohorts (``sf.cohort``): the pipeline on many slides in parallel on Dask.

:func:`run_many` reads a manifest (a CSV of slides with per-slide options, see
:func:`read_manifest`) and runs every slide as ``spatialfuse run`` would, on a local Dask
cluster or an existing one; ``spatialfuse run-many`` is its command line.
"""

from __future__ import annotations

from ._manifest import Slide, read_manifest
from ._run import SUMMARY_CSV, SUMMARY_JSON, run_many, run_slide_task

__all__ = [
    "SUMMARY_CSV",
    "SUMMARY_JSON",
    "Slide",
    "read_manifest",
    "run_many",
    "run_slide_task",
]
