"""One modality as a classifier of the domains another one found."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.preprocessing import StandardScaler

from ._smooth import neighbourhood_mean

VOTE_COMPONENTS = 20  # leading components of the features the classifier sees
MIN_SURE_SPOTS = 5  # a domain with fewer sure spots is not learned (its ratio stays 1)
N_FOLDS = 5


@dataclass(frozen=True)
class CrossModalVote:
    """What :func:`cross_modal_vote` learned: per-spot likelihood ratios of the domains
    (1 = no opinion), and how well the features predict the domains they were taught."""

    ratio: np.ndarray
    kappa: float
    accuracy: float
    n_sure: int


def cross_modal_vote(
    features: np.ndarray,
    proba: np.ndarray,
    graph: sp.spmatrix | sp.sparray,
    *,
    usable: np.ndarray | None = None,
    sure: float = 0.9,
    seed: int = 0,
) -> CrossModalVote:
    """Teach a second modality the domains of the first, and let it vote on every spot.

    A logistic regression learns the argmax domain of ``proba`` from ``features`` (their
    ``VOTE_COMPONENTS`` leading principal components after standardising, averaged over
    1-hop neighbourhoods of ``graph``) on the spots whose posterior is at least ``sure``.
    Those spots are predicted out of fold (``N_FOLDS``), the others by the model fitted on all
    of them. Each prediction is divided by its domain's frequency among the training spots,
    giving a likelihood ratio (1 when the features say nothing), so the training spots' class
    balance is not counted a second time when the ratio multiplies ``proba``. Spots outside
    ``usable`` and domains with fewer than ``MIN_SURE_SPOTS`` sure spots get ratio 1.

    Parameters
    ----------
    features
        ``(n, d)`` features of the second modality (e.g. tile features); rows outside
        ``usable`` may be anything finite or not.
    proba
        ``(n, K)`` posterior of the first modality's domains.
    graph
        ``(n, n)`` sparse spatial adjacency.
    usable
        Boolean mask of the spots whose features are valid (all when ``None``).
    sure
        Smallest posterior of a training spot.
    seed
        Seed of the folds and the PCA.

    Returns
    -------
    :class:`CrossModalVote`: ``ratio`` ``(n, K)``; ``kappa`` and ``accuracy`` of the
    out-of-fold predictions on the training spots (Cohen's kappa is chance-corrected: sure
    spots are often mostly one domain); NaN and all-ones ratios when fewer than two domains
    can be learned.
    """
    proba = np.asarray(proba, dtype=np.float64)
    n, k = proba.shape
    usable = np.ones(n, dtype=bool) if usable is None else np.asarray(usable, dtype=bool)
    ratio = np.ones((n, k))
    labels = proba.argmax(axis=1)
    train = usable & (proba.max(axis=1) >= sure)
    classes, counts = np.unique(labels[train], return_counts=True)
    learned = classes[counts >= MIN_SURE_SPOTS]
    train &= np.isin(labels, learned)
    if len(learned) < 2:
        return CrossModalVote(ratio, float("nan"), float("nan"), int(train.sum()))
    x = StandardScaler().fit_transform(np.asarray(features, dtype=np.float64)[usable])
    n_comps = min(VOTE_COMPONENTS, x.shape[1], x.shape[0] - 1)
    x = PCA(n_comps, random_state=seed).fit_transform(x)
    space = np.zeros((n, n_comps))
    usable_graph = sp.csr_matrix(graph)[usable][:, usable]
    space[usable] = neighbourhood_mean(x, usable_graph, 1)
    model = LogisticRegression(max_iter=2000)
    folds = StratifiedKFold(N_FOLDS, shuffle=True, random_state=seed)
    predicted = np.zeros((n, len(learned)))
    predicted[train] = cross_val_predict(
        model, space[train], labels[train], cv=folds, method="predict_proba"
    )
    rest = usable & ~train
    if rest.any():
        predicted[rest] = model.fit(space[train], labels[train]).predict_proba(space[rest])
    frequency = counts[np.isin(classes, learned)] / train.sum()
    ratio[np.ix_(usable, learned)] = predicted[usable] / frequency
    guess = learned[predicted[train].argmax(axis=1)]
    return CrossModalVote(
        ratio=ratio,
        kappa=float(cohen_kappa_score(labels[train], guess)),
        accuracy=float((guess == labels[train]).mean()),
        n_sure=int(train.sum()),
    )
