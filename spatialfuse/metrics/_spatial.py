"""Spatial coherence of a labelling without truth: PAS, CHAOS and neighbour agreement.

Definitions as in SpatialPCA (Shang & Zhou 2022) and the SDMBench benchmark:

* PAS, percentage of abnormal spots: the fraction of spots whose label differs from the
  labels of more than half of their ``k = 10`` nearest spatial neighbours. Lower is better.
* neighbour agreement: the fraction of the spatial graph's edges (pairs of neighbouring
  spots) whose two spots carry the same label. Higher is better.
* CHAOS: coordinates are standardised (zero mean, unit variance per axis); for every label
  with more than two spots, the distance from each spot to its nearest spot of the same
  label is summed; the total is divided by the number of spots. Lower is better.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler


def _inputs(labels: Any, coords: Any) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels, dtype=object).astype(str)
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[0] != labels.shape[0]:
        raise ValueError(
            f"coords has shape {coords.shape}; expected ({labels.shape[0]}, n_dims), one row per "
            "label."
        )
    return labels, coords


def pas(labels: Any, coords: Any, *, k: int = 10) -> float:
    """Fraction of spots whose label differs from more than ``k / 2`` of their ``k`` neighbours."""
    labels, coords = _inputs(labels, coords)
    k = min(k, labels.shape[0] - 1)
    if k < 1:
        return 0.0
    neighbours = NearestNeighbors(n_neighbors=k).fit(coords).kneighbors(return_distance=False)
    disagree = (labels[neighbours] != labels[:, None]).sum(axis=1)
    return float(np.mean(disagree > k / 2))


def chaos(labels: Any, coords: Any) -> float:
    """Mean distance to the nearest same-label spot, on standardised coordinates."""
    labels, coords = _inputs(labels, coords)
    scaled = StandardScaler().fit_transform(coords)
    total = 0.0
    for label in np.unique(labels):
        members = scaled[labels == label]
        if members.shape[0] <= 2:
            continue
        distances, _ = cKDTree(members).query(members, k=2)
        total += float(distances[:, 1].sum())
    return total / labels.shape[0]


def neighbour_agreement(labels: Any, graph: sp.spmatrix | sp.sparray) -> float:
    """Fraction of the edges of ``graph`` whose two spots share a label.

    Parameters
    ----------
    labels
        One label per spot (row of ``graph``).
    graph
        ``(n, n)`` sparse spatial adjacency, e.g. ``adata.obsp['spatial_connectivities']``
        (weights ignored, self-loops not counted).

    Returns
    -------
    The fraction in ``[0, 1]``: 1 when no domain border separates neighbours; ``nan`` for a
    graph without edges.
    """
    labels = np.asarray(labels, dtype=object).astype(str)
    if graph.shape != (labels.shape[0],) * 2:
        raise ValueError(f"graph has shape {graph.shape}; expected one row per label.")
    edges = sp.coo_matrix(graph)
    off_diagonal = edges.row != edges.col
    rows, cols = edges.row[off_diagonal], edges.col[off_diagonal]
    if rows.size == 0:
        return float("nan")
    return float(np.mean(labels[rows] == labels[cols]))
