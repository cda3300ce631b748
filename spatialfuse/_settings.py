"""Global settings: the random seed, verbosity, progress bars and the data cache folder."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def _default_data_dir() -> Path:
    env = os.environ.get("SPATIALFUSE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "spatialfuse"


@dataclass
class Settings:
    """Package-wide settings, available as ``spatialfuse.settings``.

    Attributes
    ----------
    seed
        Default random seed used by every stochastic step when none is given.
    progress
        Show tqdm progress bars on long steps.
    verbosity
        Logging level of the ``spatialfuse`` logger: a name (``"WARNING"``, ``"INFO"``, ...)
        or scanpy's integers (0 errors, 1 warnings, 2 info, 3 debug).
    data_dir
        Cache folder of downloaded data sets (``SPATIALFUSE_DATA_DIR`` overrides it).
    """

    seed: int = 0
    progress: bool = True
    verbosity: str | int = "INFO"
    data_dir: Path = field(default_factory=_default_data_dir)


settings = Settings()


def resolve_seed(seed: int | None) -> int:
    """Return ``seed``, or the package default when it is ``None``."""
    return settings.seed if seed is None else int(seed)


def seed_everything(seed: int | None) -> int:
    """Seed Python, NumPy and torch, and make torch deterministic; return the seed used."""
    import torch

    seed = resolve_seed(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))  # noqa: NPY002 - seeds libraries using the global RNG
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return seed
