"""Joint spatial domains of several slides: one embedding, slide effect removed, one clustering."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from anndata import AnnData

from .. import _keys
from .._logging import info
from .._params import KEY, Options, validate_params
from ._pipeline import (
    DEFAULT_ENCODER,
    DEFAULT_FUSION,
    DEFAULT_N_RUNS,
    RUN_CONSTRAINTS,
    run_slides,
    shared_arguments,
)
from ._slides import CORRECTIONS, DEFAULT_CORRECTION, Correction, concat_slides, library_ids


@validate_params(
    {
        "data": [AnnData, Sequence],
        "library_key": KEY,
        "batch_correction": [Options(CORRECTIONS)],
        "stain_normalization": [Options(("reinhard", "macenko")), None],
        **RUN_CONSTRAINTS,
    }
)
def joint_domains(
    data: AnnData | Sequence[AnnData],
    n_domains: int | None = None,
    *,
    library_key: str = _keys.LIBRARY_KEY,
    batch_correction: Correction = DEFAULT_CORRECTION,
    use_image: bool = True,
    encoder: str = DEFAULT_ENCODER,
    fusion: str = DEFAULT_FUSION,
    stain_normalization: str | None = "reinhard",
    n_runs: int | str = DEFAULT_N_RUNS,
    seed: int | None = None,
    key_added: str = _keys.DOMAIN,
    recompute: bool = False,
    copy: bool = False,
    step_options: dict[str, dict[str, Any]] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> AnnData | None:
    """Spatial domains of several slides at once, with the same label for the same domain.

    The pipeline of :func:`sf.tl.spatial_domains` (the same code, the same step cache and
    ``n_runs``), on all slides together: :func:`sf.pp.preprocess` on the joint counts;
    :func:`sf.gr.spatial_graph` per slide (no edge joins two slides); tiles and image
    features per slide, each slide's stain normalised to the same reference (only when the
    image is read); :func:`sf.tl.fuse` on every slide at once; :func:`integrate_slides` to
    remove the slide effect from each embedding before it is clustered; one
    :func:`sf.tl.cluster_domains`. Each step runs with
    its own defaults unless ``step_options`` says otherwise. With the default fusion the
    image is handled as for one slide: read when every slide's image shows a spot in at
    least 2 px, weighed by :func:`sf.tl.weigh_image` slide by slide (``library_key``), and
    fused in (then integrated and clustered again at the same number of domains) only when
    every slide earns it.

    Parameters
    ----------
    data
        A list of single-slide AnnDatas (joined by :func:`concat_slides` on their shared
        genes), or one AnnData holding several slides with ``obs[library_key]`` naming each
        spot's library in ``uns['spatial']``.
    n_domains
        Number of domains; when ``None``, the most stable number in 3..12 (as
        :func:`sf.tl.spatial_domains`).
    library_key
        ``obs`` column of the slide of each spot (squidpy's ``library_key``).
    batch_correction
        ``"center"``, ``"harmony"`` or ``"none"`` (see :func:`integrate_slides`). On DLPFC
        (``benchmarks/results/joint.md``, 5 seeds) ``"center"`` gave the best ARI on both
        section sets (151673 + 151674: 0.613 / 0.641 against Harmony's 0.554 / 0.549 and
        0.622 / 0.557 for separate runs); Harmony kept more of the layers on the same
        domain across three sections from two donors (consistency 0.728 against 0.584).
    use_image, encoder, fusion
        As in :func:`sf.tl.spatial_domains` (same defaults).
    stain_normalization
        Stain normaliser of each slide's tiles (``"reinhard"``, ``"macenko"`` or ``None``),
        fitted on that slide and mapping it to the same reference colours.
    n_runs
        As in :func:`sf.tl.spatial_domains`: clustering runs combined into the domains, or
        with a trained fusion as many models, each integrated and clustered once.
    seed
        Random seed of every stochastic step (``sf.settings.seed`` when ``None``).
    key_added
        ``obs`` key of the domains.
    recompute
        Recompute steps whose results are already in a multi-slide ``data``.
    copy
        Return a modified copy of a multi-slide ``data`` instead of writing into it.
    step_options
        Extra keyword arguments per step: ``preprocess``, ``spatial_graph``, ``encode``,
        ``fuse``, ``integrate``, ``cluster_domains``, ``weigh_image``.
    cache_dir
        Step cache folder, as in :func:`sf.tl.spatial_domains`: a step whose inputs and
        parameters were seen before (on all of these slides) is loaded, not recomputed.

    Returns
    -------
    The joint AnnData when ``data`` is a list or ``copy=True``, else ``None``. Writes what
    :func:`sf.tl.spatial_domains` writes, computed across slides, plus ``obsm['X_joint']`` (the
    corrected embedding that is clustered) and ``uns['spatialfuse_joint']`` (parameters, slides,
    spots per slide, and per step the wall time, peak memory and origin).
    """
    if isinstance(data, AnnData):
        slides = library_ids(data, library_key)
        adata = data.copy() if copy else data
    else:
        adata = concat_slides(list(data), library_key=library_key)
        slides = list(adata.obs[library_key].cat.categories)
        copy = True
    run = run_slides(
        adata,
        slides,
        **shared_arguments(locals()),
        library_key=library_key,
        stain_normalization=stain_normalization,
        batch_correction=batch_correction,
    )
    adata.uns[_keys.JOINT_RECORD] = {
        "image": run.image,
        "params": {
            "n_domains": n_domains,
            "library_key": library_key,
            "batch_correction": batch_correction,
            "stain_normalization": stain_normalization if run.params["use_image"] else None,
            **run.params,
        },
        "slides": np.array(slides, dtype=str),
        "n_spots": adata.obs[library_key].astype(str).value_counts().reindex(slides).to_dict(),
        "n_genes": int(adata.n_vars),
        "steps": run.steps,
    }
    info("added %r, one set of domains across %d slides (adata.obs)", key_added, len(slides))
    return adata if copy else None
