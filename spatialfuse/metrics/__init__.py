"""Clustering metrics (``sf.metrics``): agreement with a truth (ARI, NMI, AMI) and spatial
coherence (PAS, CHAOS; :func:`compare` returns these for an AnnData column) and the
neighbour agreement of a labelling with a spatial graph.
"""

from __future__ import annotations

from ._compare import compare
from ._consistency import slide_consistency
from ._partition import ami, ari, nmi
from ._spatial import chaos, neighbour_agreement, pas

__all__ = [
    "ami",
    "ari",
    "chaos",
    "compare",
    "neighbour_agreement",
    "nmi",
    "pas",
    "slide_consistency",
]
