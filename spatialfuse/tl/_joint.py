"""Joint spatial domains of several slides: one embedding, slide effect removed, one clustering."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from sklearn.decomposition import PCA

from .. import _keys
from .._errors import InputError, ParameterError
from .._logging import info
from .._params import (
    KEY,
    Options,
    validate_params,
)
from .._settings import resolve_seed
from .._validation import (
    available_images,
    check_n_domains,
    resolve_n_runs,
    validate_visium,
)
from ._image_weight import image_resolves_spots
from ._pipeline import (
    DEFAULT_ENCODER,
    DEFAULT_FUSION,
    DEFAULT_N_RUNS,
    EXPRESSION_METHODS,
    RUN_CONSTRAINTS,
    STEPS,
    _add_image,
    _StepRunner,
    check_no_empty_spots,
    image_decision,
)

Correction = Literal["harmony", "center", "none"]
CORRECTIONS = ("harmony", "center", "none")
JOINT_STEPS = (*(s for s in STEPS if s != "tile_quality"), "integrate")
TILE_COLUMNS = (
    _keys.TILE_TISSUE_FRACTION,
    _keys.TILE_SPOT_TISSUE_FRACTION,
    _keys.TILE_SHARPNESS,
    _keys.TILE_USABLE,
)


def concat_slides(adatas: Sequence[AnnData], *, library_key: str = _keys.LIBRARY_KEY) -> AnnData:
    """Concatenate single-slide AnnDatas into one, restricted to the genes they share.

    Each slide keeps its images and scale factors in ``uns['spatial'][library_id]``; spots
    get ``obs[library_key]`` (their library id) and barcodes suffixed with ``-<library_id>``.
    Only raw counts (``layers['counts']`` when present, else ``X``), ``obs``, and
    ``obsm['spatial']`` are kept, so results computed on one slide alone are not mixed into
    the joint analysis. Spots left without counts on the shared genes are dropped.

    Parameters
    ----------
    adatas
        Slides in the scanpy/squidpy Visium layout, one library each, distinct library ids.
    library_key
        ``obs`` column of the slide of each spot.

    Returns
    -------
    The joint AnnData: raw counts in ``X``, ``obs[library_key]`` (categorical, in input
    order), ``obsm['spatial']``, ``uns['spatial']`` with every library.
    """
    if isinstance(adatas, AnnData) or len(adatas) < 2:
        raise ParameterError(
            "concat_slides needs a list of at least two AnnData slides; a single AnnData with "
            f"several slides needs obs[{library_key!r}] instead."
        )
    libraries = [validate_visium(a) for a in adatas]
    if len(set(libraries)) < len(libraries):
        raise ParameterError(
            f"the slides' library ids {libraries} are not distinct. Rename the duplicates, e.g. "
            "adata.uns['spatial'] = {'new_id': adata.uns['spatial'].pop('old_id')}."
        )
    genes = adatas[0].var_names
    for adata in adatas[1:]:
        genes = genes[genes.isin(adata.var_names)]
    if len(genes) == 0:
        raise InputError(
            "the slides share no gene names (var_names). Use the same gene identifiers on "
            "every slide (e.g. Ensembl ids in var_names)."
        )
    info(
        "kept the %d genes shared by all %d slides (of %s genes)",
        len(genes),
        len(adatas),
        "/".join(str(a.n_vars) for a in adatas),
    )
    parts = []
    for adata in adatas:
        counts = adata.layers.get(_keys.COUNTS_LAYER, adata.X)
        part = AnnData(
            X=sp.csr_matrix(counts)[:, adata.var_names.get_indexer(genes)],
            obs=adata.obs.drop(columns=[library_key], errors="ignore"),
            var=pd.DataFrame(index=genes),
            obsm={_keys.SPATIAL: np.asarray(adata.obsm[_keys.SPATIAL])},
        )
        parts.append(part)
    joint = ad.concat(parts, label=library_key, keys=libraries, index_unique="-", merge="first")
    joint.obs[library_key] = pd.Categorical(joint.obs[library_key], categories=libraries)
    joint.uns[_keys.SPATIAL] = {lib: a.uns[_keys.SPATIAL][lib] for lib, a in zip(libraries, adatas)}
    empty = np.asarray(joint.X.sum(axis=1)).ravel() <= 0
    if empty.any():
        info("dropped %d spots without counts on the shared genes", int(empty.sum()))
        joint = joint[~empty].copy()
    return joint


def _slides(adata: AnnData, library_key: str) -> list[str]:
    """Library ids of a multi-slide AnnData, checking each is in ``uns['spatial']``."""
    if library_key not in adata.obs:
        raise InputError(
            f"adata.obs[{library_key!r}] (the slide of each spot) is missing. Pass a list of "
            "single-slide AnnDatas instead, or name the column with library_key=."
        )
    spot_slides = adata.obs[library_key].astype(str).to_numpy()
    slides = [str(s) for s in pd.unique(spot_slides)]
    for lib in slides:
        validate_visium(adata[spot_slides == lib], library_id=lib)
    return slides


def cross_slide_edges(adata: AnnData, library_key: str = _keys.LIBRARY_KEY) -> int:
    """Number of edges of ``obsp['spatial_connectivities']`` joining spots of different slides."""
    graph = sp.coo_matrix(adata.obsp[_keys.SPATIAL_CONNECTIVITIES])
    codes = adata.obs[library_key].astype("category").cat.codes.to_numpy()
    return int((codes[graph.row] != codes[graph.col]).sum())


def integrate_slides(
    adata: AnnData,
    library_key: str = _keys.LIBRARY_KEY,
    *,
    method: Correction = "harmony",
    use_rep: str = _keys.FUSED,
    key_added: str = _keys.JOINT,
    seed: int | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Remove the slide (batch) effect from an embedding shared by several slides.

    Parameters
    ----------
    adata
        Reads ``obsm[use_rep]`` and ``obs[library_key]``.
    library_key
        ``obs`` column of the slide of each spot.
    method
        ``"harmony"`` (:func:`harmonypy.run_harmony`: soft clusters shared by the slides,
        each slide's offset regressed out per cluster), ``"center"`` (each slide centred and
        scaled to unit variance per dimension) or ``"none"`` (a copy).
    use_rep
        ``obsm`` embedding to correct.
    key_added
        ``obsm`` key of the corrected embedding.
    seed
        Random seed of Harmony's clustering (``sf.settings.seed`` when ``None``).
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` or the copy. Writes ``obsm[key_added]`` (float32, same shape as ``use_rep``).
    """
    if method not in CORRECTIONS:
        raise ParameterError(f"method={method!r}; choose one of {CORRECTIONS}.")
    if use_rep not in adata.obsm:
        raise InputError(
            f"adata.obsm[{use_rep!r}] is missing. Run sf.tl.fuse(adata) first, or pass "
            "use_rep= naming the embedding to correct."
        )
    if library_key not in adata.obs:
        raise InputError(f"adata.obs[{library_key!r}] (the slide of each spot) is missing.")
    adata = adata.copy() if copy else adata
    x = np.asarray(adata.obsm[use_rep], dtype=np.float64)
    slides = adata.obs[library_key].astype(str).to_numpy()
    if method == "harmony" and len(np.unique(slides)) > 1:
        import harmonypy

        batches = pd.DataFrame({library_key: slides})
        result = harmonypy.run_harmony(
            x, batches, library_key, random_state=resolve_seed(seed), verbose=False
        )
        z = np.asarray(result.Z_corr)
    elif method == "center":
        z = np.empty_like(x)
        for slide in np.unique(slides):
            rows = slides == slide
            sd = x[rows].std(axis=0)
            z[rows] = (x[rows] - x[rows].mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    else:
        z = x.copy()
    adata.obsm[key_added] = z.astype(np.float32)
    info("added %r (%s, slides from obs[%r], adata.obsm)", key_added, method, library_key)
    return adata if copy else None


def _encode_slides(
    adata: AnnData,
    *,
    library_key: str,
    encoder: str,
    seed: int,
    stain_normalization: str | None,
    **options: Any,
) -> None:
    """Tiles and image features slide by slide (each from its own image, stain-normalised to
    the common reference), reduced jointly (to the width :func:`sf.im.encode` reduces one
    slide to) so every slide's features share their axes."""
    from .. import im
    from ..im._encode import DEFAULT_N_COMPS

    n_comps = options.pop("n_comps", DEFAULT_N_COMPS)
    slides = adata.obs[library_key].astype(str).to_numpy()
    blocks, quality = [], []
    for lib in pd.unique(slides):
        rows = slides == lib
        slide = AnnData(
            obs=pd.DataFrame(index=adata.obs_names[rows]),
            obsm={_keys.SPATIAL: np.asarray(adata.obsm[_keys.SPATIAL])[rows]},
            uns={_keys.SPATIAL: {lib: adata.uns[_keys.SPATIAL][lib]}},
        )
        im.tile_quality(slide, library_id=lib, stain_normalization=stain_normalization)
        im.encode(slide, encoder=encoder, n_comps=None, seed=seed, **options)
        blocks.append(pd.DataFrame(slide.obsm[_keys.HISTOLOGY], index=slide.obs_names))
        quality.append(slide.obs[list(TILE_COLUMNS)])
    features = pd.concat(blocks).loc[adata.obs_names].to_numpy()
    if n_comps is not None and features.shape[1] > n_comps:
        features = PCA(n_components=int(n_comps), random_state=seed).fit_transform(features)
    quality = pd.concat(quality).loc[adata.obs_names]
    for column in TILE_COLUMNS:
        adata.obs[column] = quality[column].to_numpy()
    adata.obsm[_keys.HISTOLOGY] = np.asarray(features, dtype=np.float32)
    adata.uns[_keys.HISTOLOGY] = {
        "params": {
            "encoder": encoder,
            "per_slide": True,
            **({"stain_normalization": stain_normalization} if stain_normalization else {}),
            **options,
        }
    }


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
    batch_correction: Correction = "harmony",
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

    The steps of :func:`sf.tl.spatial_domains`, on all slides together:
    :func:`sf.pp.preprocess` on the joint counts; :func:`sf.gr.spatial_graph` per slide (no
    edge joins two slides); tiles and image features per slide, each slide's stain
    normalised to the same reference (only when ``fusion`` uses the image); one
    :func:`sf.tl.fuse` model trained on every slide; :func:`integrate_slides` to remove the
    slide effect from the embedding; one :func:`sf.tl.cluster_domains`. Each step runs with
    its own defaults unless ``step_options`` says otherwise. With the default fusion the
    image is handled as for one slide: read when every slide's image shows a spot in at
    least 8 px, weighed by :func:`sf.tl.weigh_image` slide by slide (``library_key``), and
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
        ``"harmony"``, ``"center"`` or ``"none"`` (see :func:`integrate_slides`); the
        default is the best in ``benchmarks/results/joint.md``.
    use_image, encoder, fusion
        As in :func:`sf.tl.spatial_domains` (same defaults).
    stain_normalization
        Stain normaliser of each slide's tiles (``"reinhard"``, ``"macenko"`` or ``None``),
        fitted on that slide and mapping it to the same reference colours.
    n_runs
        Clustering runs combined into the domains (:func:`sf.tl.cluster_domains`).
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
    from .. import gr, pp
    from ._domains import cluster_domains
    from ._fuse import fuse

    options = step_options or {}
    unknown = set(options) - set(JOINT_STEPS)
    if unknown:
        raise ParameterError(
            f"step_options names unknown steps {sorted(unknown)}; the steps are "
            f"{list(JOINT_STEPS)}."
        )
    if isinstance(data, AnnData):
        slides = _slides(data, library_key)
        adata = data.copy() if copy else data
    else:
        adata = concat_slides(list(data), library_key=library_key)
        slides = list(adata.obs[library_key].cat.categories)
        copy = True
    check_n_domains(adata.n_obs, n_domains)
    check_no_empty_spots(adata)
    n_runs = resolve_n_runs(n_runs, adata.n_obs)  # one fusion model; the runs cluster it
    seed = resolve_seed(seed)
    runner = _StepRunner(adata, slides, cache_dir, recompute=recompute)

    runner.run(
        "preprocess",
        _keys.PCA in adata.obsm,
        pp.preprocess,
        {"seed": seed, **options.get("preprocess", {})},
    )
    has_graph = _keys.SPATIAL_CONNECTIVITIES in adata.obsp
    runner.run(
        "spatial_graph",
        has_graph and cross_slide_edges(adata, library_key) == 0,
        gr.spatial_graph,
        {"library_key": library_key, **options.get("spatial_graph", {})},
    )
    fixed_weight = options.get("fuse", {}).get("image_weight")
    # as in spatial_domains: "smoothed" weighs the image unless step_options fix a weight
    weigh = fusion == "smoothed" and fixed_weight is None
    reads_image = fusion not in EXPRESSION_METHODS or weigh or bool(fixed_weight)
    present = all(available_images(adata, lib) for lib in slides)
    coarse = {}  # slides whose image is too coarse for the weighing to read
    for lib in slides:
        resolves, why = image_resolves_spots(adata, lib)
        if not resolves:
            coarse[lib] = why
    has_image = use_image and reads_image and present and not (weigh and coarse)
    if has_image:
        runner.run(
            "encode",
            _keys.HISTOLOGY in adata.obsm,
            _encode_slides,
            {
                "library_key": library_key,
                "encoder": encoder,
                "seed": seed,
                "stain_normalization": stain_normalization,
                **options.get("encode", {}),
            },
        )
    elif use_image and reads_image and present:
        why = "; ".join(f"{lib}: {reason}" for lib, reason in coarse.items())
        info("no image used (%s): running expression-only", why)
    else:
        info(
            "no image used (use_image=%s, fusion=%r, every slide with an image: %s): "
            "running expression-only",
            use_image,
            fusion,
            present,
        )
    weigh = weigh and has_image
    method = fusion if has_image or fusion in EXPRESSION_METHODS else "gene"
    fuse_options = dict(options.get("fuse", {}))
    if method == "smoothed" and not has_image:
        fuse_options.pop("image_weight", None)  # nothing to weigh
    runner.run(
        "fuse",
        _keys.FUSED in adata.obsm,
        fuse,
        {"method": method, "seed": seed, **fuse_options},
        depends=["preprocess", "spatial_graph", *(["encode"] if has_image else [])],
    )
    integrate_options = {
        "library_key": library_key,
        "method": batch_correction,
        "seed": seed,
        **options.get("integrate", {}),
    }
    runner.run("integrate", False, integrate_slides, integrate_options, depends=["fuse"])
    cluster_options = {
        "use_rep": _keys.JOINT,
        "key_added": key_added,
        **options.get("cluster_domains", {}),
    }
    runner.run(
        "cluster_domains",
        False,
        cluster_domains,
        {"n_domains": n_domains, "seed": seed, "n_runs": n_runs, **cluster_options},
        depends=["integrate", "spatial_graph"],
    )
    if weigh:
        _add_image(
            adata,
            runner,
            seed,
            n_runs,
            fuse_options,
            cluster_options,
            {"library_key": library_key, **options.get("weigh_image", {})},
            integrate=(integrate_slides, integrate_options),
        )
    adata.uns[_keys.JOINT_RECORD] = {
        "image": image_decision(adata, read=has_image, weighed=weigh, fixed_weight=fixed_weight),
        "params": {
            "n_domains": n_domains,
            "library_key": library_key,
            "batch_correction": batch_correction,
            "use_image": has_image,
            "encoder": encoder if has_image else None,
            "fusion": method,
            "stain_normalization": stain_normalization if has_image else None,
            "n_runs": n_runs,
            "seed": seed,
            "key_added": key_added,
            "step_options": options,
        },
        "slides": np.array(slides, dtype=str),
        "n_spots": adata.obs[library_key].astype(str).value_counts().reindex(slides).to_dict(),
        "n_genes": int(adata.n_vars),
        "steps": runner.steps,
    }
    info("added %r, one set of domains across %d slides (adata.obs)", key_added, len(slides))
    return adata if copy else None
