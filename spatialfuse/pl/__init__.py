"""Plotting (``sf.pl``): domain maps over the H&E, the fused embedding and model diagnostics.

Every function takes ``ax=``, ``show=`` and ``save=`` (PNG, SVG or PDF by suffix, written
atomically) like scanpy and returns the matplotlib axes.
"""

from .._colors import domain_colors
from ._curves import training_curves
from ._domains import domains
from ._embedding import embedding
from ._markers import markers
from ._n_domains import n_domains_scores
from ._weights import fusion_weights

__all__ = [
    "domain_colors",
    "domains",
    "embedding",
    "fusion_weights",
    "markers",
    "n_domains_scores",
    "training_curves",
]
