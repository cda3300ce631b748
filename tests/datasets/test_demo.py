"""Tests of sf.datasets.demo: the bundled slide is real, valid and what the builder produces."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

import spatialfuse as sf
from spatialfuse.datasets._build_demo import N_GENES, build_demo
from spatialfuse.datasets._demo import DEMO_FILE


def test_demo_is_a_valid_visium_slide():
    adata = sf.datasets.demo()
    assert sf.io.validate(adata, require_image=True) == "151673"
    assert adata.shape == (3639, N_GENES)
    counts = adata.X.data
    assert (counts >= 0).all() and np.array_equal(counts, np.round(counts))  # raw counts
    assert set(adata.obs["layer"].dropna()) == {"L1", "L2", "L3", "L4", "L5", "L6", "WM"}
    assert adata.uns["spatial"]["151673"]["images"]["lowres"].shape == (600, 600, 3)


def test_demo_returns_independent_copies():
    first = sf.datasets.demo()
    first.obs["layer"] = "changed"
    assert (sf.datasets.demo().obs["layer"] != "changed").all()


def test_shipped_file_matches_builder(dlpfc_151673_path, dlpfc_151673):
    shipped = sf.datasets.demo()
    built = build_demo(dlpfc_151673_path)
    assert list(shipped.obs_names) == list(built.obs_names)
    assert list(shipped.var_names) == list(built.var_names)
    assert (shipped.X != built.X).nnz == 0
    # the counts are the source's own, untouched
    source = dlpfc_151673[:, built.var["gene_ids"].to_numpy()]
    assert (shipped.X != source.X).nnz == 0
    pd.testing.assert_series_equal(shipped.obs["layer"], built.obs["layer"])
    np.testing.assert_array_equal(
        shipped.uns["spatial"]["151673"]["images"]["lowres"],
        dlpfc_151673.uns["spatial"]["151673"]["images"]["lowres"],
    )


def test_shipped_file_is_small():
    path = Path(sf.datasets.__file__).parent / "data" / DEMO_FILE
    assert path.stat().st_size < 6_000_000


def test_demo_reads_only_the_packaged_file(monkeypatch):
    read_paths = []
    read_h5ad = ad.read_h5ad

    def recording_read(path, *args, **kwargs):
        read_paths.append(Path(path).resolve())
        return read_h5ad(path, *args, **kwargs)

    monkeypatch.setattr(ad, "read_h5ad", recording_read)
    sf.datasets.demo()
    assert read_paths == [(Path(sf.datasets.__file__).parent / "data" / DEMO_FILE).resolve()]
