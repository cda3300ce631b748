"""Pure torch models (``sf.nn``): tensors in, tensors out, no AnnData."""

from ._cnn import EfficientNetLite0Features, SmallCNN
from ._contrastive import ProjectionHead, augment_tiles, fit_simclr
from ._encoders import GraphEncoder, MLPEncoder
from ._fusion import CrossAttentionFusion, GatedFusion, TensorFusion
from ._losses import graph_infomax, heteroscedastic_nll, info_nce
from ._model import METHODS, FusionInputs, FusionModel, LossWeights
from ._training import embed, spatial_batches, train

__all__ = [
    "METHODS",
    "CrossAttentionFusion",
    "EfficientNetLite0Features",
    "FusionInputs",
    "FusionModel",
    "GatedFusion",
    "GraphEncoder",
    "LossWeights",
    "MLPEncoder",
    "ProjectionHead",
    "SmallCNN",
    "TensorFusion",
    "augment_tiles",
    "embed",
    "fit_simclr",
    "graph_infomax",
    "heteroscedastic_nll",
    "info_nce",
    "spatial_batches",
    "train",
]
