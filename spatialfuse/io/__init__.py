"""Reading Visium data and checking its layout.

``read_visium`` reads a Space Ranger output folder, ``read_h5ad`` an AnnData file, and
``validate`` checks an AnnData is in the scanpy/squidpy Visium layout.
"""

from .._validation import validate_visium as validate
from ._read import read_h5ad, read_visium

__all__ = ["read_h5ad", "read_visium", "validate"]
