"""The ``ax=`` / ``show=`` / ``save=`` handling shared by every ``sf.pl`` function."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

from .._atomic import atomic_path
from .._errors import ParameterError

SAVE_FORMATS = ("png", "svg", "pdf")


def axes_or_new(ax: Axes | None, figsize: tuple[float, float] = (6, 6)) -> tuple[Axes, bool]:
    """``ax``, or the axes of a new figure; the flag says whether the figure is new."""
    if ax is not None:
        return ax, False
    _, ax = plt.subplots(figsize=figsize)
    return ax, True


def save_figure(fig: Figure | SubFigure, save: str | Path) -> Path:
    """Write ``fig`` atomically, as PNG, SVG or PDF by the suffix of ``save``."""
    path = Path(save)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in SAVE_FORMATS:
        raise ParameterError(
            f"save={str(save)!r} has suffix {path.suffix!r}; name a .png, .svg or .pdf file."
        )
    with atomic_path(path) as tmp:
        root = fig if isinstance(fig, Figure) else fig.figure
        root.savefig(tmp, dpi=150, bbox_inches="tight", format=fmt)
    return path


def finish(
    fig: Figure | SubFigure, *, show: bool | None, save: str | Path | None, new_figure: bool
) -> None:
    """Save then show ``fig`` like scanpy: shown by default only for a new, unsaved figure."""
    if save is not None:
        save_figure(fig, save)
    if show or (show is None and save is None and new_figure):
        plt.show()
