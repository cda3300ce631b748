"""Preprocessing of gene expression (``sf.pp``), thin wrappers over scanpy."""

from ._preprocess import preprocess
from ._qc import drop_empty

__all__ = ["drop_empty", "preprocess"]
