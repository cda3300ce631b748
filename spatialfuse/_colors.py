"""Domain colours keyed by category name, so aligned labels keep their colour everywhere.

Plots, the GeoJSON and the HTML map all colour a domain through :func:`domain_colors`.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import pandas as pd
from anndata import AnnData
from matplotlib.colors import to_hex
from scanpy.plotting.palettes import default_20, default_28, default_102

from ._errors import LayoutError

# scanpy's palettes, most distinct colours first; domain "k" always takes colour k
PALETTE = list(dict.fromkeys(c.lower() for c in (*default_20, *default_28, *default_102)))
HASHED_SLOTS = 8  # named domains hash into the 8 strongest colours (next free one on a clash)


def categories(adata: AnnData, key: str) -> list[str]:
    """Category names of ``obs[key]`` (a non-categorical column is read as strings)."""
    if key not in adata.obs:
        raise LayoutError(
            f"adata.obs[{key!r}] is missing: run sf.tl.spatial_domains (or "
            "sf.tl.cluster_domains) first, or pass key= naming your domain column."
        )
    column = adata.obs[key]
    if isinstance(column.dtype, pd.CategoricalDtype):
        return [str(c) for c in column.cat.categories]
    return sorted(column.dropna().astype(str).unique())


def _default_colors(names: list[str]) -> dict[str, str]:
    """Colour by name alone: ``"k"`` takes colour ``k``, other names a slot hashed from the name.

    A hashed name whose slot is taken (by a number or an earlier name in sorted order) moves
    to the next free colour; only then can its colour depend on the other names present.
    """
    out = {n: PALETTE[int(n) % len(PALETTE)] for n in names if n.isdigit()}
    used = set(out.values())
    for name in sorted(n for n in names if not n.isdigit()):
        slot = zlib.crc32(name.encode("utf-8")) % HASHED_SLOTS
        while PALETTE[slot % len(PALETTE)] in used and len(used) < len(PALETTE):
            slot += 1
        out[name] = PALETTE[slot % len(PALETTE)]
        used.add(out[name])
    return out


def domain_colors(
    adata: AnnData, key: str, palette: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Colour (hex) of every category of ``obs[key]``, and store them as scanpy does.

    A colour comes from ``palette`` when it names the category, else from
    ``uns[key + '_colors']`` (scanpy's list in category order) when that list matches the
    categories, else from scanpy's default palette chosen by name: domain ``"3"`` is always
    colour 3 and a named domain (e.g. aligned ``"L1"`` ... ``"WM"``) takes a colour hashed
    from its name, so the same domain keeps its colour across runs and slides whichever
    other domains are present (barring two names hashing to the same colour). Pass
    ``palette=domain_colors(other, key)`` to reuse the colours of another slide exactly.

    Writes ``uns[key + '_colors']`` (one colour per category, in category order).
    """
    names = categories(adata, key)
    stored = adata.uns.get(f"{key}_colors")
    colors = _default_colors(names)
    if stored is not None and len(stored) == len(names):
        colors.update(zip(names, (to_hex(c) for c in stored), strict=True))
    colors.update({str(n): to_hex(c) for n, c in (palette or {}).items() if str(n) in names})
    if isinstance(adata.obs[key].dtype, pd.CategoricalDtype):
        adata.uns[f"{key}_colors"] = [colors[n] for n in names]
    return {n: to_hex(colors[n]) for n in names}
