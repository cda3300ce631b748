"""Training curves of the fusion model: loss per epoch, total and per term."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes

from .. import _keys
from .._errors import LayoutError
from ._figure import axes_or_new, finish

TOTAL = "loss"


def training_curves(
    adata: AnnData,
    *,
    key: str = _keys.FUSED,
    log_scale: bool | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes:
    """Plot each recorded loss term against the epoch; the total loss in bold.

    Parameters
    ----------
    adata
        Reads ``uns[key]['history']``: ``{'loss': [...], <term>: [...]}`` written by
        :func:`spatialfuse.tl.fuse` (terms may have their own number of epochs).
    key
        ``uns`` key of the fusion run.
    log_scale
        Logarithmic loss axis; by default when every value is positive.
    ax, show, save
        As in :func:`spatialfuse.pl.domains`.

    Returns
    -------
    The matplotlib axes.
    """
    history = (adata.uns.get(key) or {}).get("history")
    if not history:
        raise LayoutError(
            f"adata.uns[{key!r}]['history'] is missing: the training curves are recorded by "
            "sf.tl.fuse(adata). Run it first, or pass key= naming the fusion run."
        )
    ax, new_figure = axes_or_new(ax, figsize=(6, 4))
    terms = sorted(history, key=lambda name: (name != TOTAL, name))
    for name in terms:
        values = np.asarray(history[name], dtype=float)
        bold = name == TOTAL
        ax.plot(
            np.arange(1, len(values) + 1),
            values,
            label=name,
            linewidth=2.0 if bold else 1.0,
            color="black" if bold else None,
            zorder=3 if bold else 2,
        )
    values = np.concatenate([np.asarray(history[n], dtype=float) for n in terms])
    if log_scale if log_scale is not None else bool((values > 0).all()):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(f"training of {key}")
    ax.legend(fontsize="small", frameon=False)
    finish(ax.figure, show=show, save=save, new_figure=new_figure)
    return ax
