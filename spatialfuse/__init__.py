"""spatialfuse: fuse H&E histology and gene expression of Visium slides into spatial domains.

Namespaces follow scanpy/squidpy: ``pp`` (preprocessing), ``gr`` (spatial graph),
``im`` (histology tiles and image features), ``tl`` (fusion, domains, the one-call
pipeline), ``pl`` (plots), ``io`` (reading, validation, exports), ``datasets``,
``metrics``, and ``cohort`` (many slides in parallel on Dask). ``nn`` holds the pure-torch
models and ``cluster`` the array-level clustering algorithms; neither knows about AnnData.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import cluster, cohort, datasets, gr, im, io, metrics, nn, pl, pp, tl, workflow
from ._errors import InputError, SpatialfuseError
from ._settings import settings

try:
    __version__ = version("spatialfuse")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "InputError",
    "SpatialfuseError",
    "__version__",
    "cluster",
    "cohort",
    "datasets",
    "gr",
    "im",
    "io",
    "metrics",
    "nn",
    "pl",
    "pp",
    "settings",
    "tl",
    "workflow",
]
