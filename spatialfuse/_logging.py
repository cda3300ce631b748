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


def _sync_level() -> None:
    logger.setLevel(settings.verbosity.upper())


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
