"""Neighbourhood averaging of a spot representation over a sparse spatial graph."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def neighbourhood_operator(graph: sp.spmatrix | sp.sparray, n_hops: int = 1) -> sp.csr_matrix:
    """The sparse ``(n, n)`` matrix that averages each spot over its ``n_hops`` neighbourhood.

    Row ``i`` holds ``1 / size`` at spot ``i`` and at every spot reachable from it in at most
    ``n_hops`` edges of ``graph`` (weights ignored); :func:`neighbourhood_mean` multiplies by
    it. Build it once to average many blocks of columns.
    """
    n = graph.shape[0]
    if graph.shape != (n, n):
        raise ValueError(f"graph has shape {graph.shape}; expected a square matrix.")
    if isinstance(n_hops, bool) or int(n_hops) != n_hops or n_hops < 0:
        raise ValueError(f"n_hops={n_hops!r}; pass a whole number >= 0.")
    step = sp.csr_matrix(graph, dtype=bool, copy=True)
    step = (step + step.T + sp.eye(n, dtype=bool, format="csr")).astype(bool).tocsr()
    reach = sp.eye(n, dtype=bool, format="csr")
    for _ in range(int(n_hops)):
        reach = (reach @ step).astype(bool).tocsr()
    reach = reach.astype(np.float64)
    size = np.asarray(reach.sum(axis=1)).ravel()
    return sp.csr_matrix(sp.diags(1.0 / size) @ reach)


def neighbourhood_mean(
    X: np.ndarray | sp.spmatrix, graph: sp.spmatrix | sp.sparray, n_hops: int = 1
) -> np.ndarray | sp.csr_matrix:
    """Average each spot's representation over the spots within ``n_hops`` steps of it.

    The neighbourhood of spot ``i`` is ``i`` itself and every spot reachable from it in at
    most ``n_hops`` edges of ``graph`` (on a Visium hexagonal grid with its first ring of 6
    neighbours, ``n_hops=2`` is the 18 spots of the first two rings); every spot of it counts
    equally. Neighbouring spots of one tissue domain share their expression programme while
    their counts are sampled independently, so the average keeps the domain signal and
    divides the sampling noise (the idea behind BANKSY's neighbour-augmented expression and
    the graph encoders of STAGATE and GraphST, without training). Edges never join two
    slides when the graph does not, so several slides can be averaged at once.

    Parameters
    ----------
    X
        ``(n, d)`` representation, e.g. expression principal components, dense or sparse.
    graph
        ``(n, n)`` sparse spatial adjacency (weights ignored, only its pattern is used).
    n_hops
        Radius of the neighbourhood in graph steps; ``0`` returns ``X`` unchanged.

    Returns
    -------
    The ``(n, d)`` averaged representation (float64; sparse CSR when ``X`` is sparse).
    """
    X = sp.csr_matrix(X, dtype=np.float64) if sp.issparse(X) else np.asarray(X, np.float64)
    if graph.shape != (X.shape[0],) * 2:
        raise ValueError(f"graph has shape {graph.shape}; expected {(X.shape[0],) * 2}.")
    return neighbourhood_operator(graph, n_hops) @ X


def spatial_coherence(X: np.ndarray, graph: sp.spmatrix | sp.sparray) -> float:
    """Share of a representation's variance that spots share with their spatial neighbours.

    ``trace(Xc^T W Xc) / trace(Xc^T Xc)`` with ``Xc`` the centred representation and ``W`` the
    row-normalised adjacency without self-loops: Moran's I of every column pooled by its
    variance. About 0 (within a few hundredths on a few hundred spots) when the rows are in
    a random spatial order, near 1 when neighbours are alike.

    Parameters
    ----------
    X
        ``(n, d)`` representation, e.g. image feature components.
    graph
        ``(n, n)`` sparse spatial adjacency (weights ignored, only its pattern is used).

    Returns
    -------
    The coherence, in ``[-1, 1]``; 0 when ``X`` is constant or no spot has a neighbour.
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    if graph.shape != (n, n):
        raise ValueError(f"graph has shape {graph.shape}; expected {(n, n)}.")
    adjacency = sp.csr_matrix(graph, dtype=bool, copy=True)
    adjacency = (adjacency + adjacency.T).astype(np.float64).tocsr()
    adjacency.setdiag(0)
    adjacency.eliminate_zeros()
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    step = sp.diags(np.divide(1.0, degree, out=np.zeros(n), where=degree > 0)) @ adjacency
    centred = X - X.mean(axis=0)
    total = float((centred**2).sum())
    if total <= 0 or not degree.any():
        return 0.0
    return float((centred * (step @ centred)).sum() / total)
