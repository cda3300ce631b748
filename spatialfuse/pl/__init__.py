"""Plotting (``sf.pl``): domain maps over the H&E and model diagnostics."""

from ._domains import domains

__all__ = ["domains"]
