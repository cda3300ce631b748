"""Imports of optional-cost dependencies, with the noise a user cannot act on filtered."""

from __future__ import annotations

import warnings
from types import ModuleType


def import_squidpy() -> ModuleType:
    """``import squidpy``, without the ``SyntaxWarning``s its docrep decorators emit at import
    ("'n_jobs' is not a valid key!"): they concern squidpy's docstrings, not the user's data."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=SyntaxWarning, module="docrep")
        import squidpy

    return squidpy
