"""Preprocessing of gene expression (``sf.pp``), thin wrappers over scanpy."""

from ._preprocess import preprocess

__all__ = ["preprocess"]
