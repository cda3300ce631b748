"""Tests of spatialfuse._validation: one test per malformed input, on a real DLPFC slide."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
import tifffile

import spatialfuse as sf
from spatialfuse import _validation as val
from spatialfuse._errors import (
    BarcodeError,
    CountsError,
    ImageError,
    LayoutError,
    ScaleFactorError,
)

LIB = "151673"


@pytest.fixture(scope="module")
def _slide_once(dlpfc_151673_path: Path) -> ad.AnnData:
    full = ad.read_h5ad(dlpfc_151673_path)
    return full[:300, :200].copy()


@pytest.fixture
def slide(_slide_once: ad.AnnData) -> ad.AnnData:
    """300 real spots x 200 genes of DLPFC 151673, with the lowres H&E; a fresh copy."""
    return _slide_once.copy()


def _set_fullres(adata: ad.AnnData, path: Path) -> None:
    adata.uns["spatial"][LIB]["metadata"] = {"source_image_path": str(path)}


def _empty_tiff(path: Path, height: int, width: int) -> Path:
    tifffile.imwrite(path, shape=(height, width, 3), dtype=np.uint8)  # sparse file, no pixels
    return path


def test_valid_slide_passes(slide):
    assert val.validate_visium(slide, require_image=True) == LIB


def test_not_an_anndata():
    with pytest.raises(LayoutError, match="expected an AnnData"):
        val.validate_visium(np.zeros((3, 3)))


def test_missing_obsm_spatial(slide):
    del slide.obsm["spatial"]
    with pytest.raises(LayoutError, match=r"obsm\['spatial'\] is missing"):
        val.validate_visium(slide)


def test_non_finite_coordinates(slide):
    coords = slide.obsm["spatial"].astype(float)
    coords[0, 0] = np.nan
    slide.obsm["spatial"] = coords
    with pytest.raises(LayoutError, match="NaN or infinite coordinates"):
        val.validate_visium(slide)


def test_missing_uns_spatial(slide):
    del slide.uns["spatial"]
    with pytest.raises(LayoutError, match="read_visium"):
        val.validate_visium(slide)


def test_two_libraries_need_library_id(slide):
    slide.uns["spatial"]["other"] = slide.uns["spatial"][LIB]
    with pytest.raises(LayoutError, match="library_id="):
        val.validate_visium(slide)
    assert val.validate_visium(slide, library_id="other") == "other"


def test_scalefactors_absent(slide):
    del slide.uns["spatial"][LIB]["scalefactors"]
    with pytest.raises(ScaleFactorError, match="scalefactors_json.json"):
        val.validate_visium(slide)


def test_scalefactor_not_a_number(slide):
    slide.uns["spatial"][LIB]["scalefactors"]["tissue_lowres_scalef"] = "abc"
    with pytest.raises(ScaleFactorError, match="not a number"):
        val.validate_visium(slide)


@pytest.mark.parametrize("value", [0.0, -0.045, np.inf])
def test_scalefactor_not_positive(slide, value):
    slide.uns["spatial"][LIB]["scalefactors"]["tissue_lowres_scalef"] = value
    with pytest.raises(ScaleFactorError, match="positive number"):
        val.validate_visium(slide)


def test_image_missing_when_required(slide):
    slide.uns["spatial"][LIB]["images"] = {}
    assert val.validate_visium(slide) == LIB  # fine when not required
    with pytest.raises(ImageError, match="no tissue image"):
        val.validate_visium(slide, require_image=True)


def test_wrong_scalefactor_puts_spots_outside_image(slide):
    # the hires factor used on the lowres image: spots land beyond its 600 px
    slide.uns["spatial"][LIB]["scalefactors"]["tissue_lowres_scalef"] = 0.150015
    with pytest.raises(ScaleFactorError, match="fall inside the lowres image"):
        val.validate_visium(slide)


def test_duplicated_barcodes(slide):
    names = slide.obs_names.to_numpy().copy()
    names[1] = names[0]
    slide.obs_names = names
    with pytest.raises(BarcodeError, match="duplicated"):
        val.validate_visium(slide)


def test_negative_counts(slide):
    slide.X = slide.X.copy()
    slide.X.data[0] = -1
    with pytest.raises(CountsError, match="negative"):
        val.validate_visium(slide)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_counts(slide, bad):
    slide.X = slide.X.copy()
    slide.X.data[0] = bad
    with pytest.raises(CountsError, match="NaN or infinite"):
        val.validate_visium(slide)


def test_non_finite_counts_dense(slide):
    dense = slide.X.toarray()
    dense[0, 0] = np.nan
    slide.X = dense
    with pytest.raises(CountsError, match="NaN or infinite"):
        val.validate_visium(slide)


def test_empty_tissue(slide):
    with pytest.raises(CountsError, match="no spots"):
        val.validate_visium(slide[[]].copy(), require_counts=False)


def test_all_zero_matrix(slide):
    slide.X = sp.csr_matrix(slide.shape, dtype=np.float32)
    with pytest.raises(CountsError, match="zero counts"):
        val.validate_visium(slide)
    assert val.validate_visium(slide, require_counts=False) == LIB


def test_no_genes(slide):
    with pytest.raises(CountsError, match="no genes"):
        val.validate_visium(slide[:, []].copy())


@pytest.mark.parametrize(
    ("image", "expected_first_pixel"),
    [
        (np.full((8, 9), 51, dtype=np.uint8), [0.2, 0.2, 0.2]),  # grey
        (np.full((8, 9, 4), [255, 0, 51, 7], dtype=np.uint8), [1.0, 0.0, 0.2]),  # RGBA
        (np.full((8, 9, 3), 65535, dtype=np.uint16), [1.0, 1.0, 1.0]),  # 16-bit
        (np.full((8, 9, 3), 127.5, dtype=np.float64), [0.5, 0.5, 0.5]),  # float 0-255
    ],
)
def test_check_image_array_accepts_common_formats(image, expected_first_pixel):
    rgb = val.check_image_array(image, "lowres")
    assert rgb.shape == (8, 9, 3)
    assert rgb.dtype == np.float32
    np.testing.assert_allclose(rgb[0, 0], expected_first_pixel, atol=1e-6)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((8, 9, 2), dtype=np.uint8),  # two channels
        np.zeros((1, 9, 3), dtype=np.uint8),  # one row
        np.zeros((8, 9, 3), dtype=bool),
        np.zeros((8, 9, 3), dtype=np.int64),
    ],
)
def test_check_image_array_rejects_bad_images(image):
    with pytest.raises(ImageError, match="lowres image"):
        val.check_image_array(image, "lowres")


def test_check_image_array_rejects_nan_pixels():
    image = np.zeros((8, 9, 3))
    image[0, 0, 0] = np.nan
    with pytest.raises(ImageError, match="NaN"):
        val.check_image_array(image, "hires")


@pytest.mark.parametrize("convert", [lambda im: im[..., 0], lambda im: im.astype(np.uint16) * 257])
def test_grey_and_16bit_images_pass_validation(slide, convert):
    slide.uns["spatial"][LIB]["images"]["lowres"] = convert(
        slide.uns["spatial"][LIB]["images"]["lowres"]
    )
    assert val.validate_visium(slide, require_image=True) == LIB


def test_bad_image_in_uns_fails_validation(slide):
    slide.uns["spatial"][LIB]["images"]["lowres"] = np.zeros((600, 600, 2), dtype=np.uint8)
    with pytest.raises(ImageError, match="shape"):
        val.validate_visium(slide)


def test_fullres_available_when_file_exists(slide, tmp_path):
    tiff = _empty_tiff(tmp_path / "full.tif", 13000, 12500)
    _set_fullres(slide, tiff)
    assert val.available_images(slide, LIB) == ["fullres", "lowres"]
    assert val.choose_image(slide, LIB) == "fullres"
    assert val.image_shape(slide, LIB, "fullres") == (13000, 12500)
    assert val.validate_visium(slide, require_image=True) == LIB


def test_fullres_absent_when_file_missing(slide, tmp_path):
    _set_fullres(slide, tmp_path / "gone.tif")
    assert val.available_images(slide, LIB) == ["lowres"]
    with pytest.raises(ImageError, match="no full-resolution image"):
        val.image_shape(slide, LIB, "fullres")


def test_fullres_too_small_for_spots(slide, tmp_path):
    _set_fullres(slide, _empty_tiff(tmp_path / "small.tif", 500, 500))
    with pytest.raises(ScaleFactorError, match="fullres image"):
        val.validate_visium(slide)


def test_fullres_unreadable(slide, tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff at all")
    _set_fullres(slide, bad)
    with pytest.raises(ImageError, match="cannot read the image file"):
        val.validate_visium(slide)


def test_fullres_jpeg_shape_from_header(tmp_path):
    from PIL import Image

    path = tmp_path / "full.jpg"
    Image.fromarray(np.zeros((40, 70, 3), dtype=np.uint8)).save(path)
    assert val.image_file_shape(path) == (40, 70)


def test_auto_image_skips_a_one_colour_placeholder(heart):
    """The real heart folder ships an all-black hires PNG: tiles come from the lowres H&E."""
    adata = sf.io.read_visium(heart)
    library_id = sf.io.validate(adata)
    assert not adata.uns["spatial"][library_id]["images"]["hires"][..., :3].any()
    assert val.choose_image(adata, library_id) == "lowres"
    assert val.choose_image(adata, library_id, "hires") == "hires"  # a named image is honoured
    sf.im.tile_quality(adata)
    assert adata.uns["spatialfuse_tiles"]["image"] == "lowres"
    assert adata.obs["tile_usable"].mean() > 0.5
