"""Build the sparse spatial neighbour graph with squidpy, per slide."""

from __future__ import annotations

from typing import Literal

from anndata import AnnData

from .. import _keys
from .._logging import info
from .._validation import check_spatial


def spatial_graph(
    adata: AnnData,
    *,
    n_rings: int = 1,
    coord_type: Literal["grid", "generic"] | None = None,
    n_neighs: int | None = None,
    library_key: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Build the spot neighbour graph with :func:`squidpy.gr.spatial_neighbors`.

    Visium slides (``obs['array_row']`` present) get squidpy's hexagonal grid graph with
    ``n_rings`` rings of 6 neighbours; other data a k-nearest-neighbour graph. With
    ``library_key`` no edge joins two slides.

    Parameters
    ----------
    adata
        Slide(s) with ``obsm['spatial']``.
    n_rings
        Rings of hexagonal neighbours (grid graphs).
    coord_type
        ``"grid"`` or ``"generic"``; inferred when ``None``.
    n_neighs
        Neighbours per ring (grid, default 6) or per spot (generic, default 6).
    library_key
        ``obs`` column naming the slide of each spot, for several slides in one AnnData.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` or the copy. Writes ``obsp['spatial_connectivities']``,
    ``obsp['spatial_distances']`` and ``uns['spatial_neighbors']`` (squidpy's keys).
    """
    import squidpy as sq

    check_spatial(adata)
    adata = adata.copy() if copy else adata
    if coord_type is None:
        coord_type = "grid" if "array_row" in adata.obs else "generic"
    kwargs = {"n_rings": n_rings} if coord_type == "grid" else {}
    sq.gr.spatial_neighbors(
        adata,
        coord_type=coord_type,
        n_neighs=n_neighs or 6,
        library_key=library_key,
        **kwargs,
    )
    graph = adata.obsp[_keys.SPATIAL_CONNECTIVITIES]
    info(
        "added %r (%s graph, %.1f neighbours per spot on average, adata.obsp)",
        _keys.SPATIAL_CONNECTIVITIES,
        coord_type,
        graph.nnz / max(adata.n_obs, 1),
    )
    return adata if copy else None
