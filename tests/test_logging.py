"""Tests of the ``spatialfuse`` logger's verbosity setting."""

from __future__ import annotations

import logging

import pytest

import spatialfuse as sf
from spatialfuse._logging import info, logger


@pytest.mark.parametrize(
    ("verbosity", "level"),
    [
        (0, logging.ERROR),
        (1, logging.WARNING),
        (2, logging.INFO),
        (5, logging.DEBUG),
        ("warning", logging.WARNING),
        ("INFO", logging.INFO),
    ],
)
def test_verbosity_accepts_level_names_and_scanpy_integers(verbosity, level):
    sf.settings.verbosity = verbosity
    info("a message")
    assert logger.level == level


@pytest.mark.parametrize("verbosity", ["loud", -1, True, 2.5])
def test_unknown_verbosity_names_the_accepted_values(verbosity):
    sf.settings.verbosity = verbosity
    with pytest.raises(ValueError, match="scanpy's integers"):
        info("a message")
