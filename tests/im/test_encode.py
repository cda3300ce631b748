"""sf.im.encode: shapes, determinism, custom modules, handcrafted features, quality reuse."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import spatialfuse as sf
from spatialfuse import _keys
from spatialfuse._errors import ParameterError
from spatialfuse.im._handcrafted import N_FEATURES, handcrafted_features


@pytest.fixture
def slide(coloured_slide):
    return coloured_slide[0]


def test_handcrafted_shape_and_standardised(slide):
    sf.im.encode(slide, encoder="handcrafted", tile_px=16, n_comps=None)
    features = slide.obsm[_keys.HISTOLOGY]
    assert features.shape == (slide.n_obs, N_FEATURES) and features.dtype == np.float32
    assert slide.uns[_keys.HISTOLOGY]["params"]["encoder"] == "handcrafted"
    varying = features.std(axis=0) > 0
    np.testing.assert_allclose(features[:, varying].mean(axis=0), 0, atol=1e-4)


def test_handcrafted_features_differ_between_textures():
    rng = np.random.default_rng(0)
    stripes = np.zeros((32, 32, 3))
    stripes[::4] = 1.0
    noise = rng.random((32, 32, 3))
    a, b, same = handcrafted_features(np.stack([stripes, noise, stripes]))
    assert a.shape == (N_FEATURES,)
    assert np.linalg.norm(a - b) > 0.5
    np.testing.assert_array_equal(a, same)


def test_handcrafted_features_of_a_batch_are_those_of_each_tile():
    """The co-occurrence properties are computed for the whole batch at once; each tile's
    must not depend on the others (a blank tile, stripes and noise side by side)."""
    tiles = np.random.default_rng(1).random((5, 24, 24, 3))
    tiles[1] = 0.5
    tiles[2, ::3] = 1.0
    batch = handcrafted_features(tiles)
    alone = np.concatenate([handcrafted_features(tile[None]) for tile in tiles])
    np.testing.assert_allclose(batch, alone, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="B, H, W, 3"):
        handcrafted_features(tiles[0])


def test_efficientnet_features_reduced_by_pca(slide):
    sf.im.encode(slide, encoder="efficientnet", tile_px=32, n_comps=8, batch_size=16)
    assert slide.obsm[_keys.HISTOLOGY].shape == (slide.n_obs, 8)
    assert slide.uns[_keys.HISTOLOGY]["params"]["n_encoder_features"] == 1280
    full = sf.im.encode(slide, encoder="efficientnet", tile_px=32, n_comps=None, copy=True)
    assert full.obsm[_keys.HISTOLOGY].shape == (slide.n_obs, 1280)


def test_simclr_is_deterministic_for_a_seed(slide):
    runs = [
        sf.im.encode(slide, encoder="simclr", tile_px=16, n_epochs=1, seed=seed, copy=True)
        for seed in (3, 3, 4)
    ]
    a, b, c = (run.obsm[_keys.HISTOLOGY] for run in runs)
    assert a.shape[0] == slide.n_obs
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert len(runs[0].uns[_keys.HISTOLOGY]["loss"]) == 1


def test_custom_module(slide):
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    sf.im.encode(slide, encoder=module, tile_px=16, key_added="X_custom")
    assert slide.obsm["X_custom"].shape == (slide.n_obs, 4)
    assert slide.uns["X_custom"]["params"]["encoder"] == "module"
    with torch.no_grad():
        expected = module(
            torch.from_numpy(sf.im.tile_source(slide, tile_px=16).tiles([2])).permute(0, 3, 1, 2)
        )
    np.testing.assert_allclose(slide.obsm["X_custom"][2], expected[0].numpy(), rtol=1e-5)


def test_wrong_shaped_module_gives_a_clear_error(slide):
    with pytest.raises(ParameterError, match=r"must return a \(B, D\)"):
        sf.im.encode(slide, encoder=nn.Conv2d(3, 4, 3), tile_px=16)
    with pytest.raises(ParameterError, match="failed on a tile batch"):
        sf.im.encode(slide, encoder=nn.Linear(7, 2), tile_px=16)


def test_unknown_encoder_is_explained(slide):
    with pytest.raises(ParameterError, match="encoder=.resnet. is not valid.*torch.nn.Module"):
        sf.im.encode(slide, encoder="resnet")


def test_encodes_the_tiles_tile_quality_measured(slide, monkeypatch):
    sf.im.tile_quality(slide, size_um=55.0, tile_px=16, stain_normalization="reinhard")
    record = slide.uns[_keys.TILES]
    slide.obs[_keys.TILE_SHARPNESS] = -1.0  # a marker: recomputing would overwrite it
    fits = []
    monkeypatch.setattr(
        sf.im.ReinhardNormalizer, "fit", lambda self, x: fits.append(1) or self, raising=True
    )
    sf.im.encode(slide, encoder="handcrafted", tile_px=24)
    assert (slide.obs[_keys.TILE_SHARPNESS] == -1.0).all()  # quality kept, not recomputed
    assert fits == []  # the normaliser fitted by tile_quality is reused, not refitted
    params = slide.uns[_keys.HISTOLOGY]["params"]
    assert params["size_um"] == 55.0 and params["side_px"] == record["side_px"]
    assert params["tile_px"] == 24 and params["stain_normalization"] == "reinhard"


def test_runs_tile_quality_when_missing(slide):
    slide.uns.pop(_keys.TILES, None)
    sf.im.encode(slide, encoder="handcrafted", tile_px=16)
    assert _keys.TILES in slide.uns and _keys.TILE_USABLE in slide.obs
