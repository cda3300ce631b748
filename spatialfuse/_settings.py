"""Global settings: the random seed, torch threads, verbosity, progress bars and the data
cache folder."""

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
    n_threads
        Threads torch uses in the seeded steps (encoding, fusion). ``None``: ``OMP_NUM_THREADS``
        when set, else the CPU cores available to the process. The count is set again at each
        step because float sums depend on it, and other libraries change it (numba, which
        scanpy runs, resets the shared OpenMP thread count when it first runs).
    progress
        Show tqdm progress bars on long steps.
    verbosity
        Logging level of the ``spatialfuse`` logger: a name (``"WARNING"``, ``"INFO"``, ...)
        or scanpy's integers (0 errors, 1 warnings, 2 info, 3 debug).
    data_dir
        Cache folder of downloaded data sets (``SPATIALFUSE_DATA_DIR`` overrides it).
    """

    seed: int = 0
    n_threads: int | None = None
    progress: bool = True
    verbosity: str | int = "INFO"
    data_dir: Path = field(default_factory=_default_data_dir)


settings = Settings()


def resolve_seed(seed: int | None) -> int:
    """Return ``seed``, or the package default when it is ``None``."""
    return settings.seed if seed is None else int(seed)


def resolve_n_threads() -> int:
    """Torch threads of the seeded steps: ``settings.n_threads`` or its documented default."""
    if settings.n_threads is not None:
        return int(settings.n_threads)
    from_env = os.environ.get("OMP_NUM_THREADS", "")
    if from_env.isdigit() and int(from_env) > 0:
        return int(from_env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def seed_everything(seed: int | None) -> int:
    """Seed Python, NumPy and torch, fix torch's thread count and make it deterministic;
    return the seed used."""
    import torch

    seed = resolve_seed(seed)
    torch.set_num_threads(resolve_n_threads())
    random.seed(seed)
    np.random.seed(seed % (2**32))  # noqa: NPY002 - seeds libraries using the global RNG
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return seed
