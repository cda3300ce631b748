"""Shared fixtures: paths into ../shared/data and small real slides."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import anndata as ad
import pytest

import spatialfuse as sf

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SPATIALFUSE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _quiet_settings():
    """No progress bars in tests; settings restored after each test."""
    before = (sf.settings.progress, sf.settings.seed, sf.settings.verbosity)
    sf.settings.progress = False
    yield
    sf.settings.progress, sf.settings.seed, sf.settings.verbosity = before


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real data folder (``../shared/data``)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def dlpfc_151673_path(shared_data: Path) -> Path:
    return shared_data / "dlpfc" / "h5ad" / "151673_hvg5000.h5ad"


@pytest.fixture
def dlpfc_151673(dlpfc_151673_path: Path) -> ad.AnnData:
    """DLPFC 151673, 3,639 spots x 5,000 genes, lowres H&E, layer labels in obs['layer']."""
    return ad.read_h5ad(dlpfc_151673_path)


@pytest.fixture
def heart(shared_data: Path, tmp_path: Path) -> Path:
    """A writable copy of the tiny real Space Ranger folder (100 spots x 100 genes)."""
    folder = tmp_path / "heart"
    shutil.copytree(shared_data / "visium_heart_tiny", folder, copy_function=shutil.copyfile)
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


@pytest.fixture
def one_torch_thread():
    """One torch thread: small full-batch graphs gain nothing from more on a shared machine."""
    import torch

    import spatialfuse as sf

    before, before_setting = torch.get_num_threads(), sf.settings.n_threads
    sf.settings.n_threads = 1
    torch.set_num_threads(1)
    yield
    sf.settings.n_threads = before_setting
    torch.set_num_threads(before)
