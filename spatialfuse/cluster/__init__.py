"""Array-level spatial clustering (``sf.cluster``): no AnnData, numpy/scipy in and out.

:func:`hmrf_gmm` fits a Gaussian mixture regularised by a Potts hidden Markov random field
on a sparse spatial graph; :func:`consensus_hmrf` averages several of its runs and
:func:`select_n_domains` picks the number of domains by their stability;
:func:`align_labels` matches labels to a reference; :func:`most_agreeing` picks the medoid of
several runs and :func:`mean_aligned_posterior` averages their posteriors;
:func:`neighbourhood_mean` averages a representation over spatial neighbourhoods (with the
matrix of :func:`neighbourhood_operator`) and
:func:`spatial_coherence` measures how much of it neighbours share; :func:`cross_modal_vote`
teaches a second modality the domains of the first.
"""

from __future__ import annotations

from ._align import align_labels
from ._consensus import mean_aligned_posterior, most_agreeing
from ._crossmodal import CrossModalVote, cross_modal_vote
from ._gaussian import COVARIANCE_TYPES, MCLUST_NAMES, GaussianComponents
from ._hmrf import INITS, HMRFResult, hmrf_gmm
from ._potts import estimate_beta, prepare_graph
from ._selection import BEST_FRACTION, ConsensusResult, consensus_hmrf, select_n_domains
from ._smooth import neighbourhood_mean, neighbourhood_operator, spatial_coherence

__all__ = [
    "BEST_FRACTION",
    "COVARIANCE_TYPES",
    "MCLUST_NAMES",
    "INITS",
    "ConsensusResult",
    "CrossModalVote",
    "GaussianComponents",
    "HMRFResult",
    "align_labels",
    "consensus_hmrf",
    "cross_modal_vote",
    "estimate_beta",
    "hmrf_gmm",
    "mean_aligned_posterior",
    "most_agreeing",
    "neighbourhood_mean",
    "neighbourhood_operator",
    "prepare_graph",
    "select_n_domains",
    "spatial_coherence",
]
