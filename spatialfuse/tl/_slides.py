"""Several slides in one AnnData: joining them, their slide effect, their images."""

from __future__ import annotations

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
from .._settings import resolve_seed
from .._validation import validate_visium

Correction = Literal["harmony", "center", "none"]
CORRECTIONS = ("harmony", "center", "none")
# the default of integrate_slides and joint_domains: with the default smoothed core it gave
# the best ARI on both DLPFC sets of benchmarks/results/joint.md (5 seeds); Harmony kept a
# higher consistency only where a section of a second donor joined (262 shared genes)
DEFAULT_CORRECTION: Correction = "center"
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


def library_ids(adata: AnnData, library_key: str) -> list[str]:
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
    method: Correction = DEFAULT_CORRECTION,
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
        ``"center"`` (the default: each slide centred and scaled to unit variance per
        dimension), ``"harmony"`` (:func:`harmonypy.run_harmony`: soft clusters shared by
        the slides, each slide's offset regressed out per cluster) or ``"none"`` (a copy).
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


def encode_slides(
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
