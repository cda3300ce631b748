"""The one place for the names spatialfuse reads from and writes into an AnnData.

Every AnnData-facing function takes ``key_added=`` (or similar) defaulting to one of
these, so a user can find every result by reading this module.
"""

from __future__ import annotations

# scanpy / squidpy conventions that spatialfuse reads
SPATIAL = "spatial"  # obsm: full-resolution pixel (x, y); uns: per-library images/scalefactors
SPATIAL_CONNECTIVITIES = "spatial_connectivities"  # obsp, from squidpy.gr.spatial_neighbors
SPATIAL_DISTANCES = "spatial_distances"  # obsp
PCA = "X_pca"  # obsm, from scanpy.pp.pca
COUNTS_LAYER = "counts"  # layers: raw counts kept by sf.pp.preprocess

LAYER_TRUTH = "layer"  # obs: manual cortical layer of the DLPFC data sets (ground truth)
SPOT_DIAMETER_UM = "spot_diameter_um"  # uns['spatial'][lib]['metadata']: spot size (55 Visium)
LIBRARY_KEY = "library_id"  # obs: slide of each spot when one AnnData holds several (squidpy)

# what spatialfuse writes
HISTOLOGY = "X_histology"  # obsm: one image feature vector per spot
FUSED = "X_fused"  # obsm: the fused embedding
JOINT = "X_joint"  # obsm: fused embedding of several slides, slide effect removed
PIPELINE = "spatialfuse_pipeline"  # uns: parameters and steps of sf.tl.spatial_domains
JOINT_RECORD = "spatialfuse_joint"  # uns: parameters and steps of sf.tl.joint_domains
DOMAIN = "spatialfuse_domain"  # obs: categorical domain label
DOMAIN_PROBA_SUFFIX = "_proba"  # obsm[f"{DOMAIN}{suffix}"]: per-domain posterior probabilities
DOMAIN_CONFIDENCE_SUFFIX = "_confidence"  # obs[f"{DOMAIN}{suffix}"]: max posterior per spot
TILES = "spatialfuse_tiles"  # uns: tile geometry and quality parameters
TILE_TISSUE_FRACTION = "tile_tissue_fraction"  # obs
TILE_SPOT_TISSUE_FRACTION = "tile_spot_tissue_fraction"  # obs: in the spot itself
TILE_SHARPNESS = "tile_sharpness"  # obs: variance of the Laplacian (blur score)
TILE_USABLE = "tile_usable"  # obs: bool, the tile is usable for the image branch
FUSION_WEIGHT_IMAGE = "fusion_weight_image"  # obs
FUSION_WEIGHT_GENE = "fusion_weight_gene"  # obs
PREPROCESS = "spatialfuse_preprocess"  # uns: parameters of sf.pp.preprocess
GENE_RANKING = "spatialfuse_genes"  # uns: the variable-gene ranking spatial_domains kept, and why
IMAGE_DECISION = "spatialfuse_image"  # uns: the image weight sf.tl.weigh_image chose, and why
MARKERS = "spatialfuse_markers"  # uns: rank_genes_groups result of sf.tl.domain_markers
UMAP_SUFFIX = "_umap"  # obsm[basis + suffix]: 2-D UMAP of obsm[basis] (sf.tl.umap)
NEIGHBORS_SUFFIX = "_neighbors"  # uns/obsp prefix of the kNN graph that UMAP is built on
COLORS_SUFFIX = "_colors"  # uns[f"{key}_colors"]: colours of a categorical obs column (scanpy)
