"""The ``spatialfuse`` logger and the progress-bar factory."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

from ._settings import settings

T = TypeVar("T")

logger = logging.getLogger("spatialfuse")
if not logger.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("spatialfuse: %(message)s"))
    logger.addHandler(_handler)
    logger.propagate = False


# scanpy's integer verbosities: 0 errors, 1 warnings, 2 info, 3 and above debug.
_SCANPY_LEVELS = ("ERROR", "WARNING", "INFO", "DEBUG")


def _sync_level() -> None:
    verbosity = settings.verbosity
    if isinstance(verbosity, int) and not isinstance(verbosity, bool) and verbosity >= 0:
        level = _SCANPY_LEVELS[min(verbosity, 3)]
    elif isinstance(verbosity, str) and verbosity.upper() in logging.getLevelNamesMapping():
        level = verbosity.upper()
    else:
        raise ValueError(
            f"sf.settings.verbosity={verbosity!r}; use a level name ('WARNING', 'INFO', "
            "'DEBUG') or scanpy's integers 0-3."
        )
    logger.setLevel(level)


def info(msg: str, *args: object) -> None:
    """Log ``msg`` at INFO level, respecting ``settings.verbosity``."""
    _sync_level()
    logger.info(msg, *args)


def warning(msg: str, *args: object) -> None:
    """Log ``msg`` at WARNING level."""
    _sync_level()
    logger.warning(msg, *args)


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar unless ``settings.progress`` is off."""
    return iter(tqdm(iterable, desc=desc, total=total, disable=not settings.progress, leave=False))
