"""Agreement of domain labels across slides, measured through a shared ground truth."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys
from .._errors import InputError


def _majority_domains(domains: pd.Series, truth: pd.Series, slides: pd.Series) -> pd.DataFrame:
    """Most frequent domain of each (slide, truth label); ties go to the first domain."""
    table = pd.crosstab([slides, truth], domains)
    return table.idxmax(axis=1).rename("domain").reset_index()


def _consistent(
    domains: pd.Series, truth: pd.Series, slides: pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """Per spot: whether it is scored and whether it is consistent (see slide_consistency)."""
    majority = _majority_domains(domains, truth, slides)
    majority.columns = ["slide", "truth", "domain"]
    scored = np.zeros(len(domains), dtype=bool)
    consistent = np.zeros(len(domains), dtype=bool)
    spot_slide, spot_truth = slides.to_numpy(), truth.to_numpy()
    spot_domain = domains.to_numpy()
    for label, rows in majority.groupby("truth", observed=True):
        if len(rows) < 2:
            continue
        for slide in rows["slide"]:
            others = rows.loc[rows["slide"] != slide, "domain"].to_numpy()
            spots = (spot_slide == slide) & (spot_truth == label)
            scored |= spots
            consistent[spots] = (spot_domain[spots][:, None] == others[None, :]).all(axis=1)
    return scored, consistent


def slide_consistency(
    adata: AnnData,
    key: str = _keys.DOMAIN,
    truth_key: str = _keys.LAYER_TRUTH,
    library_key: str = _keys.LIBRARY_KEY,
) -> dict[str, Any]:
    """Fraction of spots whose domain is the one their ground-truth label gets on other slides.

    For slide ``j`` and truth label ``L``, ``m_j(L)`` is the most frequent domain among the
    spots of ``j`` labelled ``L``. A spot of slide ``i`` labelled ``L`` is *consistent* when its
    domain equals ``m_j(L)`` on every other slide ``j`` that has spots labelled ``L``. Spots
    without truth, or whose label is on no other slide, are not scored. With one labelling
    across slides (:func:`sf.tl.joint_domains`), 1.0 means every layer gets the same domain on
    every slide and no spot strays from it.

    Parameters
    ----------
    adata
        Reads ``obs[key]`` (domains), ``obs[truth_key]`` (truth, NaN where unknown) and
        ``obs[library_key]`` (slide of each spot).
    key, truth_key, library_key
        The three ``obs`` columns.

    Returns
    -------
    ``{'consistency', 'n_scored', 'labels_agreeing', 'n_labels', 'pairs'}``:
    ``labels_agreeing`` is the fraction of the ``n_labels`` truth labels found on at least two
    slides whose majority domain is the same on all of them; ``pairs`` maps
    ``"slideA|slideB"`` to the consistency of that pair of slides alone.
    """
    for name in (key, truth_key, library_key):
        if name not in adata.obs:
            raise InputError(
                f"adata.obs[{name!r}] is missing (obs has {list(adata.obs.columns)}). Pass the "
                "domain, truth and slide columns, e.g. slide_consistency(adata, "
                "'spatialfuse_domain', 'layer', 'library_id')."
            )
    known = adata.obs[truth_key].notna().to_numpy()
    obs = adata.obs.loc[known, [key, truth_key, library_key]].astype(str)
    domains, truth, slides = obs[key], obs[truth_key], obs[library_key]
    scored, consistent = _consistent(domains, truth, slides)
    majority = _majority_domains(domains, truth, slides)
    per_label = majority.groupby(truth_key)[["domain"]].agg(["nunique", "size"])
    shared = per_label[("domain", "size")] >= 2
    pairs = {}
    for a, b in combinations(pd.unique(slides), 2):
        pair = (slides == a).to_numpy() | (slides == b).to_numpy()
        ok, hit = _consistent(domains[pair], truth[pair], slides[pair])
        pairs[f"{a}|{b}"] = float(hit[ok].mean()) if ok.any() else float("nan")
    return {
        "consistency": float(consistent[scored].mean()) if scored.any() else float("nan"),
        "n_scored": int(scored.sum()),
        "labels_agreeing": float((per_label.loc[shared, ("domain", "nunique")] == 1).mean())
        if shared.any()
        else float("nan"),
        "n_labels": int(shared.sum()),
        "pairs": pairs,
    }
