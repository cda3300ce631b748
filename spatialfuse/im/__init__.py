"""Histology (``sf.im``): per-spot tiles, their quality, stain normalisation and image features."""

from ._encode import ENCODERS, encode
from ._stain import MacenkoNormalizer, ReinhardNormalizer
from ._tiles import TileSource, iter_tile_batches, tile_quality, tile_source

__all__ = [
    "ENCODERS",
    "MacenkoNormalizer",
    "ReinhardNormalizer",
    "TileSource",
    "encode",
    "tile_quality",
    "iter_tile_batches",
    "tile_source",
]
