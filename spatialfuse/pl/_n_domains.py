"""The automatic choice of the number of domains: stability against K."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes

from .. import _keys
from .._errors import LayoutError
from ._figure import axes_or_new, finish


def n_domains_scores(
    adata: AnnData,
    *,
    key: str = _keys.DOMAIN,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes:
    """Plot the stability of each number of domains tried, and mark the one chosen.

    Parameters
    ----------
    adata
        Reads ``uns[key]['n_domains_scores']`` and ``uns[key]['n_domains']``, written by
        :func:`spatialfuse.tl.cluster_domains` (and :func:`spatialfuse.tl.spatial_domains`)
        when ``n_domains=None``.
    key
        ``uns`` key of the domains.
    ax, show, save
        As in :func:`spatialfuse.pl.domains`.

    Returns
    -------
    The matplotlib axes.
    """
    record = adata.uns.get(key) or {}
    scores = record.get("n_domains_scores")
    if scores is None:
        raise LayoutError(
            f"adata.uns[{key!r}]['n_domains_scores'] is missing: it is written when the number "
            "of domains is chosen automatically, sf.tl.spatial_domains(adata, n_domains=None)."
        )
    ks = np.asarray(scores["n_domains"], dtype=int)
    values = np.asarray(scores[scores["criterion"]], dtype=float)
    chosen = int(record["n_domains"])
    ax, new_figure = axes_or_new(ax, figsize=(5, 3.5))
    ax.plot(ks, values, "o-", color="0.3")
    ax.plot([chosen], values[ks == chosen], "o", color="crimson", markersize=10, label="chosen")
    ax.set_xticks(ks)
    ax.set_xlabel("number of domains K")
    ax.set_ylabel(f"{scores['criterion']} (mean ARI between runs)")
    ax.set_title(f"{key}: K = {chosen}")
    ax.legend(frameon=False)
    finish(ax.figure, show=show, save=save, new_figure=new_figure)
    return ax
