"""Pure torch models (``sf.nn``): tensors in, tensors out, no AnnData."""

from ._losses import info_nce

__all__ = ["info_nce"]
