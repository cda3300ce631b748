"""The ``spatialfuse`` logger and the progress-bar factory."""

from __future__ import annotations

import contextlib
import importlib
import logging
import warnings
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

from ._settings import settings

T = TypeVar("T")

CHATTY_LIBRARY_LOGGERS = ("spatialdata._logging",)  # squidpy logs through it
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


@contextlib.contextmanager
def quiet_terminal(quiet: bool = True) -> Iterator[None]:
    """Turn off progress bars, terminal info logs and warnings when ``quiet``; restore after.

    File handlers (the log file of a run) keep the info logs.
    """
    terminal: list[logging.Handler | logging.Logger] = [
        h
        for h in logger.handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    if quiet:  # set up the library loggers now, or their import would reset their level
        for name in CHATTY_LIBRARY_LOGGERS:
            importlib.import_module(name)
    libraries: list[logging.Handler | logging.Logger] = [
        logging.getLogger(name) for name in CHATTY_LIBRARY_LOGGERS
    ]
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
