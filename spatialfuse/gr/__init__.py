"""Spatial graph (``sf.gr``): squidpy's neighbour graph with spatialfuse defaults."""

from ._graph import spatial_graph

__all__ = ["spatial_graph"]
