"""Tests of sf.io.read_st on the her2st sections as published (../shared/data/her2st/raw)."""

from __future__ import annotations

import shutil
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import tifffile

import spatialfuse as sf
from spatialfuse._errors import BarcodeError, ImageError, LayoutError, ParameterError

A1_SCALE = 2000 / 6954  # A1's PNG is a 2,000 px copy of a 6,954 px original
SECTIONS = ("A1", "B1", "B4", "C1", "C2", "C3", "C4", "C5", "C6", "D1")


def _files(raw: Path, section: str) -> tuple[Path, Path, Path | None]:
    folder = raw / section
    images = sorted(folder.glob("*.jpg")) + sorted(folder.glob("*.png"))
    return folder / f"{section}.tsv.gz", folder / f"{section}_selection.tsv", (images or [None])[0]


@pytest.fixture(scope="module")
def her2st(shared_data: Path) -> Path:
    return shared_data / "her2st"


@pytest.mark.parametrize("section", SECTIONS)
def test_equals_the_h5ad_conversion(her2st, section):
    """Spots, genes, counts, array and full-resolution coordinates as the published h5ad."""
    counts, spots, image = _files(her2st / "raw", section)
    if image is not None and section != "A1":
        image = None  # the full-res JPEGs are read in their own test (decoding costs time)
    adata = sf.io.read_st(counts, spots, image, image_scale=A1_SCALE if image else 1.0)
    ref = ad.read_h5ad(her2st / "h5ad" / f"her2st_{section}.h5ad")
    assert list(adata.obs_names) == list(ref.obs_names)
    assert list(adata.var_names) == list(ref.var_names)
    assert (adata.X != ref.X).nnz == 0
    np.testing.assert_allclose(adata.obsm["spatial"], ref.obsm["spatial"])
    for column in ("array_row", "array_col"):
        np.testing.assert_array_equal(adata.obs[column], ref.obs[column])
    scalefactors = adata.uns["spatial"][section]["scalefactors"]
    reference = ref.uns["spatial"][section]["scalefactors"]
    # 100 um spot = half the 200 um pitch, measured from the spot detector's pixels
    assert scalefactors["spot_diameter_fullres"] == pytest.approx(
        reference["spot_diameter_fullres"], rel=0.03
    )
    sf.io.validate(adata)


def test_a1_image_scale_maps_spots_onto_the_png(her2st):
    counts, spots, image = _files(her2st / "raw", "A1")
    adata = sf.io.read_st(counts, spots, image, image_scale=A1_SCALE)
    lib = adata.uns["spatial"]["A1"]
    hires = lib["images"]["hires"]
    assert max(hires.shape[:2]) == 2000
    xy = adata.obsm["spatial"] * lib["scalefactors"]["tissue_hires_scalef"]
    assert (xy >= 0).all()
    assert (xy[:, 0] < hires.shape[1]).all() and (xy[:, 1] < hires.shape[0]).all()
    # the spots sit on the stained tissue, not on the black masked background
    rows, cols = xy[:, 1].astype(int), xy[:, 0].astype(int)
    assert np.median(hires[rows, cols].mean(axis=1)) > 60
    assert lib["metadata"]["spot_diameter_um"] == 100


def test_full_resolution_jpeg_is_decoded_reduced(her2st):
    """B4's 9k-px JPEG: stored at <= 2,000 px; its scale maps the full-res spots onto it."""
    counts, spots, image = _files(her2st / "raw", "B4")
    adata = sf.io.read_st(counts, spots, image)
    lib = adata.uns["spatial"]["B4"]
    hires = lib["images"]["hires"]
    assert max(hires.shape[:2]) == 2000 and hires.dtype == np.uint8
    xy = adata.obsm["spatial"] * lib["scalefactors"]["tissue_hires_scalef"]
    assert (xy[:, 0] < hires.shape[1]).all() and (xy[:, 1] < hires.shape[0]).all()
    assert lib["scalefactors"]["tissue_lowres_scalef"] < lib["scalefactors"]["tissue_hires_scalef"]


def test_tiff_image(her2st, tmp_path):
    counts, spots, image = _files(her2st / "raw", "A1")
    rgb = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(image).convert("RGB"))
    tiff = tmp_path / "A1.tif"
    tifffile.imwrite(tiff, rgb, photometric="rgb")
    from_tiff = sf.io.read_st(counts, spots, tiff, image_scale=A1_SCALE)
    from_png = sf.io.read_st(counts, spots, image, image_scale=A1_SCALE)
    a = from_tiff.uns["spatial"]["A1"]
    b = from_png.uns["spatial"]["A1"]
    assert a["images"]["hires"].shape == b["images"]["hires"].shape
    assert a["scalefactors"]["tissue_hires_scalef"] == pytest.approx(
        b["scalefactors"]["tissue_hires_scalef"], rel=1e-3
    )


def test_tiles_are_sized_for_100_um_spots(her2st):
    """A tile of ``size_um`` spans the same micrometres on ST as on Visium."""
    counts, spots, image = _files(her2st / "raw", "A1")
    adata = sf.io.read_st(counts, spots, image, image_scale=A1_SCALE)
    sf.im.tile_quality(adata, size_um=200.0)
    lib = adata.uns["spatial"]["A1"]
    px_per_um = lib["scalefactors"]["spot_diameter_fullres"] / 100.0
    side = adata.uns[sf._keys.TILES]["side_px"]
    expected = 200.0 * px_per_um * lib["scalefactors"]["tissue_hires_scalef"]
    assert side == pytest.approx(expected, rel=1e-6)


def test_pipeline_runs_on_read_st(her2st):
    counts, spots, image = _files(her2st / "raw", "B1")
    adata = sf.io.read_st(counts, spots)
    sf.tl.spatial_domains(adata, n_domains=4, n_runs=1, seed=0)
    assert adata.obs[sf._keys.DOMAIN].nunique() == 4


def test_missing_file(her2st, tmp_path):
    counts, spots, _ = _files(her2st / "raw", "B1")
    with pytest.raises(LayoutError, match="does not exist"):
        sf.io.read_st(tmp_path / "none.tsv.gz", spots)
    with pytest.raises(ImageError):
        bad = tmp_path / "bad.jpg"
        bad.write_bytes(b"not an image")
        sf.io.read_st(counts, spots, bad)


def test_spot_table_without_pixels(her2st, tmp_path):
    counts, spots, _ = _files(her2st / "raw", "B1")
    table = pd.read_csv(spots, sep="\t").drop(columns=["pixel_x"])
    table.to_csv(tmp_path / "sel.tsv", sep="\t", index=False)
    with pytest.raises(LayoutError, match="pixel_x"):
        sf.io.read_st(counts, tmp_path / "sel.tsv")


def test_spot_table_of_another_section(her2st):
    counts, _, _ = _files(her2st / "raw", "B1")
    _, other, _ = _files(her2st / "raw", "C1")
    with pytest.raises(BarcodeError, match="same section"):
        sf.io.read_st(counts, other)


def test_unlocated_spots_are_dropped(her2st, tmp_path):
    counts, spots, _ = _files(her2st / "raw", "B1")
    table = pd.read_csv(spots, sep="\t")
    table.iloc[5:].to_csv(tmp_path / "sel.tsv", sep="\t", index=False)
    adata = sf.io.read_st(counts, tmp_path / "sel.tsv")
    assert adata.n_obs == table.shape[0] - 5


@pytest.mark.parametrize("scale", [0, -1.0, float("nan")])
def test_bad_image_scale(her2st, scale):
    counts, spots, _ = _files(her2st / "raw", "B1")
    with pytest.raises(ParameterError, match="image_scale"):
        sf.io.read_st(counts, spots, image_scale=scale)


def test_copy_of_raw_folder_is_read(her2st, tmp_path):
    """Plain file paths anywhere (here a copy) work; library_id defaults to the file stem."""
    counts, spots, _ = _files(her2st / "raw", "D1")
    shutil.copy(counts, tmp_path / "mysection.tsv.gz")
    adata = sf.io.read_st(tmp_path / "mysection.tsv.gz", spots)
    assert list(adata.uns["spatial"]) == ["mysection"]
