"""Tools (``sf.tl``): fusion, domain clustering, the one-call pipeline and its multi-slide
version."""

from ._domains import align_domains, cluster_domains, domain_markers
from ._fuse import fuse
from ._image_weight import refine_with_image, weigh_image
from ._joint import joint_domains
from ._pipeline import spatial_domains
from ._slides import concat_slides, integrate_slides
from ._umap import umap

__all__ = [
    "align_domains",
    "cluster_domains",
    "concat_slides",
    "domain_markers",
    "fuse",
    "integrate_slides",
    "joint_domains",
    "refine_with_image",
    "spatial_domains",
    "umap",
    "weigh_image",
]
