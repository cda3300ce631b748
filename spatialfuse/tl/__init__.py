"""Tools (``sf.tl``): fusion, domain clustering and the one-call pipeline."""

from ._domains import align_domains, cluster_domains, domain_markers
from ._fuse import fuse
from ._pipeline import spatial_domains

__all__ = ["align_domains", "cluster_domains", "domain_markers", "fuse", "spatial_domains"]
