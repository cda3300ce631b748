"""``sf.im.encode``: one histology feature vector per spot from its tile."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from anndata import AnnData
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from .. import _keys, _logging
from .._errors import ParameterError
from .._params import (
    FLAG,
    KEY,
    POSITIVE_INT,
    SEED,
    Options,
    Predicate,
    validate_params,
)
from .._settings import seed_everything
from ..nn._cnn import EfficientNetLite0Features, SmallCNN
from ..nn._contrastive import fit_simclr
from ._handcrafted import handcrafted_features
from ._tiles import TILE_PX, TileSource, recorded_source, tile_quality

ENCODERS = ("efficientnet", "simclr", "handcrafted")
DEFAULT_N_COMPS = 50  # image features kept (PCA) by encode and by the joint encoding
# tile sides chosen by benchmarks/bench_histology.py (see benchmarks/results/histology.md)
ENCODER_TILE_PX = {"efficientnet": 64, "simclr": 32, "handcrafted": 32, "module": 64}
DEFAULT_N_EPOCHS = 5  # 3.2 +- 0.7 min for 3.8k tiles on the busy shared 2-core benchmark machine


def _to_tensor(tiles: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(tiles.transpose(0, 3, 1, 2)))


def _embed(model: torch.nn.Module, batches: Iterable[torch.Tensor]) -> np.ndarray:
    """Run ``model`` on every ``(B, 3, H, W)`` batch without gradients, checking it returns
    ``(B, D)``."""
    model.eval()
    out = []
    with torch.no_grad():
        for x in batches:
            try:
                features = model(x)
            except Exception as err:
                raise ParameterError(
                    f"the encoder module failed on a tile batch of shape {tuple(x.shape)} "
                    f"(B, 3, H, W; RGB in [0, 1]): {type(err).__name__}: {err}. Pass a module "
                    "accepting such batches, or set tile_px= to the input size it expects."
                ) from None
            if (
                not isinstance(features, torch.Tensor)
                or features.ndim != 2
                or len(features) != len(x)
            ):
                shape = (
                    tuple(features.shape) if isinstance(features, torch.Tensor) else type(features)
                )
                raise ParameterError(
                    f"the encoder module returned {shape} for a batch of {len(x)} tiles; it must "
                    f"return a (B, D) = ({len(x)}, n_features) tensor. Add pooling/flattening "
                    "(e.g. x.mean(dim=(2, 3))) to the end of the module."
                )
            out.append(features.float().numpy())
    return np.concatenate(out)


def _handcrafted(source: TileSource, batch_size: int) -> np.ndarray:
    """Standardised colour/texture statistics of every tile."""
    batches = source.batches(batch_size, desc="encoding tiles (handcrafted)")
    return StandardScaler().fit_transform(
        np.concatenate([handcrafted_features(batch) for batch in batches])
    )


def _simclr(
    source: TileSource, batch_size: int, n_epochs: int, seed: int
) -> tuple[np.ndarray, list[float]]:
    """Train a :class:`SmallCNN` with SimCLR on the slide's tiles; its features and losses."""
    tiles = _to_tensor(np.concatenate(list(source.batches(256, desc="cutting tiles"))))
    model = SmallCNN()
    losses = fit_simclr(
        model,
        tiles,
        out_dim=model.out_dim,
        n_epochs=n_epochs,
        generator=torch.Generator().manual_seed(seed),
        progress=lambda epochs: _logging.progress(epochs, desc="SimCLR epochs", total=n_epochs),
    )
    return _embed(model, torch.split(tiles, batch_size)), losses


@validate_params(
    {
        "adata": [AnnData],
        "encoder": [
            Options(ENCODERS),
            Predicate(
                lambda value: isinstance(value, torch.nn.Module),
                "a torch.nn.Module mapping (B, 3, H, W) tiles to (B, D) features",
            ),
        ],
        "tile_px": [TILE_PX, None],
        "tiles_key": KEY,
        "batch_size": [POSITIVE_INT],
        "n_epochs": [POSITIVE_INT],
        "n_comps": [POSITIVE_INT, None],
        "seed": SEED,
        "key_added": KEY,
        "copy": FLAG,
    }
)
def encode(
    adata: AnnData,
    *,
    encoder: str | torch.nn.Module = "handcrafted",
    tile_px: int | None = None,
    tiles_key: str = _keys.TILES,
    batch_size: int = 64,
    n_epochs: int = DEFAULT_N_EPOCHS,
    n_comps: int | None = DEFAULT_N_COMPS,
    seed: int | None = None,
    key_added: str = _keys.HISTOLOGY,
    copy: bool = False,
) -> AnnData | None:
    """Encode each spot's histology tile into a feature vector.

    Parameters
    ----------
    adata
        The slide. Encodes the tiles :func:`tile_quality` measured: its record
        ``uns[tiles_key]`` fixes the image, the tile footprint in micrometres and the fitted
        stain normaliser, so features and quality describe the same tiles. Without that
        record, :func:`tile_quality` runs first with its defaults.
    encoder
        ``"handcrafted"`` (default): colour (RGB, HED) and texture (GLCM, LBP) statistics,
        standardised; it separated annotated regions best on lowres images, where a spot is
        ~4 px wide (benchmarks/results/histology.md). ``"efficientnet"``: ImageNet-pretrained
        EfficientNet-lite0, global-average-pooled (1280 features). ``"simclr"``: a small CNN
        trained for ``n_epochs`` with SimCLR on this slide's tiles. Or a ``torch.nn.Module``
        mapping ``(B, 3, H, W)`` RGB in ``[0, 1]`` to ``(B, D)`` (e.g. a local pathology
        foundation model); it is put in eval mode.
    tile_px
        Side in pixels the tiles are resampled to for the encoder; per-encoder default
        (``ENCODER_TILE_PX``) when ``None``. The footprint does not change.
    tiles_key
        ``uns`` key of the :func:`tile_quality` record.
    batch_size
        Tiles per forward pass.
    n_epochs
        SimCLR training epochs.
    n_comps
        Reduce features wider than this with PCA; ``None`` keeps them all.
    seed
        Random seed; ``settings.seed`` when ``None``.
    key_added
        ``obsm`` key of the features and ``uns`` key of the parameters.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None``, or the copy. Writes ``obsm[key_added]`` (float32, one row per spot),
    ``uns[key_added]['params']`` (the tile record's geometry, encoder, ``tile_px`` ...), and
    the tile quality of :func:`tile_quality` when it was missing.
    """
    is_module = isinstance(encoder, torch.nn.Module)
    name = "module" if is_module else str(encoder)
    tile_px = ENCODER_TILE_PX[name] if tile_px is None else tile_px
    adata = adata.copy() if copy else adata
    seed = seed_everything(seed)
    if tiles_key not in adata.uns:
        _logging.info("no tile record in uns[%r]: running sf.im.tile_quality first", tiles_key)
        tile_quality(adata, key_added=tiles_key)
    record = adata.uns[tiles_key]
    source = recorded_source(adata, tiles_key=tiles_key, tile_px=tile_px)
    extra: dict[str, Any] = {}
    if name == "handcrafted":
        features = _handcrafted(source, batch_size)
    elif name == "simclr":
        features, extra["loss"] = _simclr(source, batch_size, int(n_epochs), seed)
    else:
        model = (
            EfficientNetLite0Features(image_size=tile_px)
            if name == "efficientnet" or isinstance(encoder, str)
            else encoder
        )
        batches = source.batches(batch_size, desc=f"encoding tiles ({name})")
        features = _embed(model, map(_to_tensor, batches))

    n_features = features.shape[1]
    if n_comps is not None and n_features > n_comps and len(source) > n_comps:
        features = PCA(n_components=int(n_comps), random_state=seed).fit_transform(features)
    adata.obsm[key_added] = np.asarray(features, dtype=np.float32)
    adata.uns[key_added] = {
        "params": {
            **{
                k: record[k]
                for k in ("library_id", "image", "size_um", "side_px", "stain_normalization")
                if k in record
            },
            "tile_px": int(tile_px),
            "tiles_key": tiles_key,
            "encoder": name,
            "n_encoder_features": int(n_features),
            "n_comps": int(n_comps) if n_comps is not None else 0,
            "batch_size": int(batch_size),
            "seed": int(seed),
            **({"n_epochs": int(n_epochs)} if name == "simclr" else {}),
        },
        **extra,
    }
    _logging.info(
        "added obsm %r (%d x %d %s features) and uns %r",
        key_added,
        *adata.obsm[key_added].shape,
        name,
        key_added,
    )
    return adata if copy else None
