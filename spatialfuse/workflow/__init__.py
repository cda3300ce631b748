"""Run a slide from its input to an output folder (what ``spatialfuse run`` does).

:class:`RunOptions` declares every option of a run once: the CLI flags, the config-file keys
and the manifest columns of ``spatialfuse run-many`` are its field names. :func:`run_slide`
reads a slide and writes every output; :func:`run_adata` does the same for an AnnData in
memory. The CLI and the cohort runner (``sf.cohort``) both call these; neither is imported
by them.
"""

from ._options import AUTO, OPTION_KINDS, OPTION_NAMES, RunOptions, read_config
from ._slide import (
    CACHE_FOLDER,
    LOG_FILE,
    REPORT_FILE,
    RunReport,
    package_versions,
    run_adata,
    run_slide,
)

__all__ = [
    "AUTO",
    "CACHE_FOLDER",
    "LOG_FILE",
    "OPTION_KINDS",
    "OPTION_NAMES",
    "REPORT_FILE",
    "RunOptions",
    "RunReport",
    "package_versions",
    "read_config",
    "run_adata",
    "run_slide",
]
