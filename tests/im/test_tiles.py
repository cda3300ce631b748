"""Tiles are centred on their spots at every resolution, padded at borders, and scored."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile
from scipy import ndimage

import spatialfuse as sf
from spatialfuse import _keys
from spatialfuse._errors import ImageError, ParameterError


def centre_colours(tiles: np.ndarray) -> np.ndarray:
    """Mean colour of the central quarter of each tile (inside the spot's disc)."""
    q = tiles.shape[1] // 4
    return tiles[:, q:-q, q:-q].mean(axis=(1, 2))


@pytest.mark.parametrize("image", ["lowres", "hires", "fullres"])
def test_each_tile_shows_its_own_spot(coloured_slide, image):
    adata, colours = coloured_slide
    tiles = np.concatenate(
        list(sf.im.iter_tile_batches(adata, 16, image=image, size_um=55.0, tile_px=16))
    )
    assert tiles.shape == (adata.n_obs, 16, 16, 3)
    got = centre_colours(tiles)[1:]  # spot 0 is the clipped corner spot
    distances = np.linalg.norm(got[:, None] - colours[1:][None], axis=2)
    np.testing.assert_array_equal(distances.argmin(axis=1), np.arange(len(got)))
    assert np.abs(got - colours[1:]).max() < 0.1


def test_fullres_is_read_lazily_from_tiled_and_strip_tiffs(coloured_slide, tmp_path):
    adata, _ = coloured_slide
    metadata = adata.uns["spatial"]["slide"]["metadata"]
    tiled = sf.im.tile_source(adata, image="fullres", size_um=55.0, tile_px=16)
    strip_path = tmp_path / "strips.tif"
    tifffile.imwrite(strip_path, tifffile.imread(metadata["source_image_path"]), photometric="rgb")
    metadata["source_image_path"] = str(strip_path)
    strips = sf.im.tile_source(adata, image="fullres", size_um=55.0, tile_px=16)
    assert isinstance(strips.reader.image, np.memmap)  # uncompressed: memory-mapped
    assert not isinstance(tiled.reader.image, np.ndarray)  # tiled: zarr, chunk by chunk
    assert tiled.reader.lazy and strips.reader.lazy
    np.testing.assert_array_equal(tiled.tiles(range(6)), strips.tiles(range(6)))


def test_tile_covers_same_tissue_at_every_resolution(coloured_slide):
    adata, _ = coloured_slide
    tiles = {
        image: sf.im.tile_source(adata, image=image, size_um=110.0, tile_px=16).tiles([5])[0]
        for image in ("lowres", "hires", "fullres")
    }
    assert np.abs(tiles["fullres"] - tiles["hires"]).mean() < 0.05
    assert np.abs(tiles["fullres"] - tiles["lowres"]).mean() < 0.08


def test_border_tile_is_padded_with_white(coloured_slide):
    adata, colours = coloured_slide
    tile = sf.im.tile_source(adata, image="fullres", size_um=55.0, tile_px=20).tiles([0])[0]
    # the spot is 8 px from the corner: 12 of its 40 px lie outside, i.e. the first 6 tile px
    np.testing.assert_allclose(tile[:5, :, :], 1.0)
    np.testing.assert_allclose(tile[:, :5, :], 1.0)
    np.testing.assert_allclose(tile[14, 14], colours[0], atol=0.05)


def test_quality_separates_blank_and_blurred_from_textured(slide_tools):
    rng = np.random.default_rng(1)
    centres = slide_tools.hex_centres(4, 5, origin=50.0)
    size = (300, 420)
    sharp = slide_tools.textured(rng, size)
    blurred = ndimage.gaussian_filter(slide_tools.textured(rng, size), (6, 6, 0))
    blank = np.array([250, 250, 250], dtype=np.uint8)
    discs = [sharp] * len(centres)
    discs[3], discs[7] = blank, blurred
    adata = slide_tools.make_slide(centres, discs, size, images={"hires": 1.0})
    sf.im.tile_quality(adata, size_um=40.0, tile_px=24)
    fraction = adata.obs[_keys.TILE_TISSUE_FRACTION].to_numpy()
    sharpness = adata.obs[_keys.TILE_SHARPNESS].to_numpy()
    usable = adata.obs[_keys.TILE_USABLE].to_numpy()
    textured_spots = np.setdiff1d(np.arange(len(centres)), [3, 7])
    assert fraction[3] < 0.1 and fraction[textured_spots].min() > 0.9
    assert sharpness[7] < 0.1 * sharpness[textured_spots].min()
    assert not usable[3] and not usable[7] and usable[textured_spots].all()
    assert adata.uns[_keys.TILES]["size_um"] == 40.0


def test_quality_keeps_pale_tissue_and_drops_blank_and_blurred_regions():
    # domain D0 of the synthetic image is eosin with few nuclei: two-class Otsu cut between the
    # stains and called 95 % of its tiles glass; a third of the blurred tiles passed at 0.1 x
    adata = sf.datasets.synthetic(600, n_genes=30, scenario="corrupted_image", seed=0)
    sf.im.tile_quality(adata)
    corrupted = adata.obs["image_corrupted"].to_numpy()
    usable = adata.obs[_keys.TILE_USABLE].to_numpy()
    x = adata.obsm["spatial"][:, 0]
    scalefactors = adata.uns["spatial"]["synthetic"]["scalefactors"]
    half_tile = adata.uns[_keys.TILES]["size_um"] / 2 * scalefactors["spot_diameter_fullres"] / 55
    lo, hi, mid = x[corrupted].min(), x[corrupted].max(), np.median(x[corrupted])
    blank_only = corrupted & (x + half_tile < mid) & (x - half_tile > lo)
    blurred_only = corrupted & (x - half_tile > mid) & (x + half_tile < hi)
    assert usable[~corrupted].mean() > 0.98
    assert usable[~corrupted & (adata.obs["domain_truth"] == "D0").to_numpy()].all()
    assert blank_only.sum() > 10 and blurred_only.sum() > 10
    assert not usable[blank_only | blurred_only].any()


def test_stain_normalisation_keeps_tile_geometry(coloured_slide):
    adata, _ = coloured_slide
    for method in ("reinhard", "macenko"):
        tiles = sf.im.tile_source(
            adata, size_um=55.0, tile_px=16, stain_normalization=method
        ).tiles(np.arange(5))
        assert tiles.shape == (5, 16, 16, 3)
        assert np.isfinite(tiles).all() and tiles.min() >= 0 and tiles.max() <= 1


def test_tile_quality_reads_the_scanned_pixels_not_the_normalised_ones():
    adata = sf.datasets.synthetic(n_spots=300, scenario="complementary", image="hires", seed=0)
    plain = sf.im.tile_quality(adata, copy=True)
    normalised = sf.im.tile_quality(adata, stain_normalization="reinhard", copy=True)
    columns = [_keys.TILE_TISSUE_FRACTION, _keys.TILE_SHARPNESS, _keys.TILE_USABLE]
    pd.testing.assert_frame_equal(plain.obs[columns], normalised.obs[columns])
    assert "stain_fit" in normalised.uns[_keys.TILES]


def test_slide_without_image_says_how_to_run_expression_only(coloured_slide):
    adata, _ = coloured_slide
    library = adata.uns["spatial"]["slide"]
    library["images"], library["metadata"] = {}, {}
    with pytest.raises(ImageError, match="expression-only"):
        sf.im.tile_quality(adata)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size_um": 0}, "size_um"),
        ({"tile_px": 3}, "tile_px"),
        ({"stain_normalization": "x"}, "stain"),
    ],
)
def test_bad_parameters_are_explained(coloured_slide, kwargs, match):
    adata, _ = coloured_slide
    with pytest.raises(ParameterError, match=match):
        sf.im.tile_quality(adata, **kwargs)


def test_copy_leaves_input_untouched(coloured_slide):
    adata, _ = coloured_slide
    out = sf.im.tile_quality(adata, size_um=55.0, tile_px=16, copy=True)
    assert _keys.TILE_USABLE in out.obs and _keys.TILE_USABLE not in adata.obs
