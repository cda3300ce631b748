"""Clustering metrics (``sf.metrics``): agreement with a truth (ARI, NMI, AMI) and spatial
coherence (PAS, CHAOS); :func:`compare` returns all of them for an AnnData column.
"""

from __future__ import annotations

from ._compare import compare
from ._consistency import slide_consistency
from ._partition import ami, ari, nmi
from ._spatial import chaos, pas

__all__ = ["ami", "ari", "chaos", "compare", "nmi", "pas", "slide_consistency"]
