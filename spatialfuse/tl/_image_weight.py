"""How much weight the H&E gets beside expression, decided per slide without labels."""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from sklearn.metrics import adjusted_rand_score

from .. import _keys
from .._logging import info
from .._params import FLAG, KEY, NON_NEGATIVE_REAL, SEED, Interval, validate_params
from .._settings import resolve_seed
from .._validation import available_images, choose_image, get_scalefactors, image_scale
from ..cluster import (
    ConsensusResult,
    consensus_hmrf,
    cross_modal_vote,
    neighbourhood_mean,
    spatial_coherence,
)

# below this many pixels per spot diameter the image is not read: a spot's tile is then about
# one pixel. Whether a coarser image helps the domains is not decided here but by the data
# (weigh_image): on the 4-px lowres DLPFC images it keeps the image out of the embedding; on
# a synthetic slide whose domains need the image, at 4 px, it joins the embedding
# (0.56 -> 0.83), which the earlier floor of 8 px prevented
# (benchmarks/results/image_weight.md). The spot-by-spot vote needs MIN_VOTE_SPOT_PX.
MIN_SPOT_PX = 2.0
STABILITY_MARGIN = 0.05  # the image alone must be this much more reproducible than expression
MAX_AGREEMENT = 0.1  # ... and its partition this independent of expression's (ARI)
IMAGE_WEIGHT = 0.1  # the image's share of the embedding when it is used
# the image components' variance shared with spatial neighbours must reach this; tile
# features in a random spatial order score about 0 (within 0.03), real and synthetic
# H&E images 0.39-0.80 (benchmarks/results/image_weight.md)
MIN_COHERENCE = 0.1
# the image votes on expression's domains (refine_with_image) when it predicts them with at
# least this chance-corrected agreement (Cohen's kappa; a prior, not tuned: real H&E here
# 0.92-0.96, tile features in a random spatial order 0.11-0.18 (0.45 in one seed), an image
# that shows other structure than expression 0.13), with this weight on its log-likelihood
# ratio (with the per-domain guard of _vote, leave-one-slide-out over A1, MOB and the
# corrupted-image slide from 1 / 2 / 4 / 8: 4 and 8 are within 0.007 of each other on every
# slide, and 4 costs less when an image passes the kappa test wrongly (MOB's features
# permuted: 0.30 vs 0.26); benchmarks/results/experiments.md)
MIN_VOTE_KAPPA = 0.5
VOTE_STRENGTH = 4.0
# the vote acts spot by spot, so its tiles must resolve a spot; on DLPFC's lowres images (a
# spot in 4.3 px) the tile features predict expression's domains (kappa 0.70-0.83) from the
# coarse colour of the region, and their vote moved 3-5 % of the spots for no gain at full
# depth and 7-15 % at half depth, costing 151673 0.03 and 0.15 (seeds 0-1)
MIN_VOTE_SPOT_PX = 8.0
WEIGH_RUNS = 10  # single-start clustering runs per modality that measure its stability
WEIGH_MAX_ITER = 20  # EM iterations of each of those runs


def spot_diameter_px(
    adata: AnnData, library_id: str, image: str | None = None
) -> tuple[str, float]:
    """``image`` of ``library_id`` (its best one when ``None``) and the spot diameter in its
    pixels."""
    image = choose_image(adata, library_id) if image is None else image
    diameter = get_scalefactors(adata, library_id)["spot_diameter_fullres"]
    return image, float(diameter * image_scale(adata, library_id, image))


def image_resolves_spots(adata: AnnData, library_id: str) -> tuple[bool, str]:
    """Whether the slide's best image is worth reading, and why (for the log and report)."""
    if not available_images(adata, library_id):
        return False, "the slide has no H&E image"
    image, px = spot_diameter_px(adata, library_id)
    if px < MIN_SPOT_PX:
        return False, (
            f"its best image ({image}) shows a spot in {px:.1f} px, below {MIN_SPOT_PX:g} px: "
            "a tile would be about one pixel"
        )
    return True, f"its best image ({image}) shows a spot in {px:.1f} px"


# the arguments weigh_image and refine_with_image share, declared once
IMAGE_STEP_CONSTRAINTS: dict[str, list[Any]] = {
    "adata": [AnnData],
    "domain_key": KEY,
    "image_key": KEY,
    "graph_key": KEY,
    "seed": SEED,
    "copy": FLAG,
}


@validate_params(
    {
        **IMAGE_STEP_CONSTRAINTS,
        "margin": [NON_NEGATIVE_REAL],
        "min_coherence": [Interval(Real, -1, 1, closed="both")],
        "max_agreement": [Interval(Real, -1, 1, closed="both")],
        "weight": [Interval(Real, 0, 1, closed="neither")],
        "library_key": [str, None],
    }
)
def weigh_image(
    adata: AnnData,
    *,
    domain_key: str = _keys.DOMAIN,
    image_key: str = _keys.HISTOLOGY,
    graph_key: str = _keys.SPATIAL_CONNECTIVITIES,
    margin: float = STABILITY_MARGIN,
    min_coherence: float = MIN_COHERENCE,
    max_agreement: float = MAX_AGREEMENT,
    weight: float = IMAGE_WEIGHT,
    library_key: str | None = None,
    seed: int | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Decide, without labels, whether the image joins expression in the domains.

    Expression has been clustered (``obs[domain_key]``, :func:`sf.tl.cluster_domains`), which
    fixes the number of domains ``K``. Each modality alone is then clustered ``WEIGH_RUNS``
    times from single k-means starts (seeds from ``seed``; the clustering options and the
    fitted smoothing strength ``beta`` of the expression run, at most ``WEIGH_MAX_ITER`` EM
    iterations): expression on its embedding, the image on the leading components of its
    features, spatially averaged the same way (spots with a usable tile only). A modality's
    stability is the mean pairwise ARI of its runs (the criterion that chooses ``K``). The
    image is used, with ``weight``, when it partitions the tissue into ``K`` domains more
    reproducibly than expression, by at least ``margin``, and its partition is nearly
    independent of expression's (ARI between the two consensus partitions at most
    ``max_agreement``): the tissue then has structure that the image shows consistently and
    expression does not. Otherwise the weight is 0. Before any of this, the image components
    must be spatially coherent (:func:`sf.cluster.spatial_coherence` on the spots with a
    usable tile at least ``min_coherence``): tile features in a random spatial order (an
    image of another slide, or misregistered) can be clustered as reproducibly as real ones,
    and independently of expression, so stability and agreement alone would let them in
    (they did, in 1 of 3 seeds of a synthetic slide with its features permuted).

    Measured (``benchmarks/results/image_weight.md``, 5 seeds): image minus expression
    stability was +0.14 to +0.24 on a synthetic slide whose domains need the
    image, but also up to +0.21 on her2st A1, where a weight of 0.1 lowers ARI from 0.76 to
    0.47; the agreement separates them (0.004-0.007 against 0.14-0.20; MOB 0.23-0.31, a
    corrupted image 0.75-0.80).
    That threshold is a prior, not chosen on the slides: the rule is conservative, and on the
    real slides here it keeps expression only. Images whose spots span under
    ``MIN_SPOT_PX`` (2) pixels are not read at all (:func:`image_resolves_spots`).

    Parameters
    ----------
    adata
        The slide, clustered on expression, with image features in ``obsm[image_key]``
        (:func:`sf.im.encode`).
    domain_key
        ``obs``/``uns`` key of the expression clustering.
    image_key, graph_key
        Image features and spatial graph.
    margin
        Stability advantage the image needs.
    min_coherence
        Smallest spatial coherence of the image components at which the image is weighed.
    max_agreement
        Largest ARI between the image's and expression's partitions at which the image counts
        as showing structure of its own.
    weight
        Image weight when it is used (``image_weight`` of :func:`sf.tl.fuse`).
    library_key
        ``obs`` column naming each spot's slide when ``adata`` holds several
        (:func:`sf.tl.joint_domains`): each slide is weighed alone, on its own spots, graph
        and image, and the image is used only when every slide earns it (stain and scanner
        differences between slides would otherwise pass for structure the image adds).
    seed
        Random seed of the runs (``sf.settings.seed`` when ``None``).
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` or the copy. Writes ``uns['spatialfuse_image']``: ``weight``, ``coherence``,
    ``min_coherence``, ``stability_image``, ``stability_expression``, ``agreement``, ``margin``,
    ``max_agreement``, ``n_domains``, ``usable_fraction`` and ``decision`` (a sentence);
    with ``library_key``, ``weight``, ``decision`` and that record per slide (``slides``).
    """
    adata = adata.copy() if copy else adata
    seed = resolve_seed(seed)
    options: dict[str, Any] = {
        "domain_key": domain_key,
        "image_key": image_key,
        "graph_key": graph_key,
        "margin": margin,
        "min_coherence": min_coherence,
        "max_agreement": max_agreement,
        "weight": weight,
        "seed": seed,
    }
    if library_key is None:
        result = _weigh_slide(adata, **options)
    else:
        libraries = adata.obs[library_key].astype(str).to_numpy()
        slides = {
            lib: _weigh_slide(adata[libraries == lib].copy(), **options)
            for lib in pd.unique(libraries)
        }
        chosen = min(float(r["weight"]) for r in slides.values())
        refused = [lib for lib, r in slides.items() if not r["weight"]]
        result = {
            "weight": chosen,
            "margin": float(margin),
            "max_agreement": float(max_agreement),
            "slides": slides,
            "decision": f"image weight {chosen:g}: "
            + (
                f"every slide earns it ({len(slides)})"
                if not refused
                else f"{len(refused)} of {len(slides)} slides do not earn it ({', '.join(refused)})"
            ),
        }
    adata.uns[_keys.IMAGE_DECISION] = result
    info("%s", result["decision"])
    return adata if copy else None


@validate_params(
    {
        **IMAGE_STEP_CONSTRAINTS,
        "strength": [NON_NEGATIVE_REAL],
        "min_kappa": [Interval(Real, -1, 1, closed="both")],
        "min_spot_px": [NON_NEGATIVE_REAL],
    }
)
def refine_with_image(
    adata: AnnData,
    *,
    domain_key: str = _keys.DOMAIN,
    image_key: str = _keys.HISTOLOGY,
    graph_key: str = _keys.SPATIAL_CONNECTIVITIES,
    strength: float = VOTE_STRENGTH,
    min_kappa: float = MIN_VOTE_KAPPA,
    min_spot_px: float = MIN_VOTE_SPOT_PX,
    seed: int | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Let the image vote on the expression domains, spot by spot, when it can tell them apart.

    The image's features rarely *cluster* into the tissue's domains (their main variation is
    stain, density and texture), but they often *predict* them: on her2st A1 and MOB a
    logistic regression on the tile features predicts the labels as well as expression does
    (``benchmarks/results/experiments.md``). So the image is taught the expression domains
    (:func:`sf.cluster.cross_modal_vote`: a classifier learns them on the spots whose
    expression posterior is at least 0.9 and usable tiles) and votes on every spot with a
    likelihood ratio; the domains become the argmax of ``log P_expression + strength * log
    ratio``. A spot changes domain only where that vote overrules expression, typically at
    domain borders and where expression is uncertain. The vote refines expression's domains,
    it does not replace them: a domain keeps at least half of its spots (when the vote would
    take more, the spots that would leave it stay). The vote is cast only when the
    classifier's out-of-fold predictions on the training spots agree with expression beyond
    chance (Cohen's kappa at least ``min_kappa``), and only from tiles that resolve a spot
    (its diameter at least ``min_spot_px`` pixels of the encoded image); otherwise nothing
    changes.

    Parameters
    ----------
    adata
        The slide, clustered (``obs[domain_key]``, ``obsm[domain_key + '_proba']``), with
        image features in ``obsm[image_key]`` (:func:`sf.im.encode`) and tile QC in
        ``obs['tile_usable']`` when available.
    domain_key
        ``obs``/``obsm`` key of the domains and their posterior.
    image_key, graph_key
        Image features and spatial graph.
    strength
        Weight of the image's log-likelihood ratio; 0 changes nothing.
    min_kappa
        Smallest kappa at which the image votes.
    min_spot_px
        Smallest spot diameter, in pixels of the image the tiles were cut from
        (``uns['spatialfuse_tiles']``), at which the image votes; not checked when the
        features come without that record.
    seed
        Seed of the folds (``sf.settings.seed`` when ``None``).
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` or the copy. When the image votes, rewrites ``obs[domain_key]``, its posterior
    and confidence. Always records ``uns['spatialfuse_image']['vote']``: ``applied``,
    ``kappa``, ``accuracy``, ``n_sure``, ``strength``, ``min_kappa``, ``min_spot_px``,
    ``spot_px`` (when known), ``changed_fraction``,
    ``held_domains`` (the domains that kept the spots the vote would have taken) and
    ``decision`` (a sentence), and logs the decision.
    """
    from ._fuse import usable_tiles

    adata = adata.copy() if copy else adata
    seed = resolve_seed(seed)
    proba_key = domain_key + _keys.DOMAIN_PROBA_SUFFIX
    proba = np.asarray(adata.obsm[proba_key], dtype=np.float64)
    features = np.asarray(adata.obsm[image_key], dtype=np.float64)
    usable = usable_tiles(adata, features)
    vote = cross_modal_vote(features, proba, adata.obsp[graph_key], usable=usable, seed=seed)
    record: dict[str, Any] = {
        "applied": False,
        "kappa": vote.kappa,
        "accuracy": vote.accuracy,
        "n_sure": vote.n_sure,
        "strength": float(strength),
        "min_kappa": float(min_kappa),
        "changed_fraction": 0.0,
        "held_domains": np.array([], dtype=int),
    }
    spot_px = _encoded_spot_px(adata)
    record["min_spot_px"] = float(min_spot_px)
    if spot_px is not None:
        record["spot_px"] = spot_px
    labels = adata.obs[domain_key].cat.codes.to_numpy()
    if spot_px is not None and spot_px < min_spot_px:
        record["decision"] = (
            f"no image vote: its tiles show a spot in {spot_px:.1f} px (needs {min_spot_px:g}), "
            "too coarse to judge spots one by one"
        )
    elif not vote.kappa >= min_kappa:  # NaN: too few sure spots to learn from
        record["decision"] = (
            f"no image vote: the image predicts the expression domains no better than "
            f"kappa {vote.kappa:.2f} (needs {min_kappa:g})"
        )
    else:
        new_labels, combined, held = _vote(proba, labels, vote.ratio, strength)
        categories = adata.obs[domain_key].cat.categories
        adata.obs[domain_key] = pd.Categorical.from_codes(new_labels, categories=categories)
        adata.obsm[proba_key] = combined.astype(np.float32)
        adata.obs[domain_key + _keys.DOMAIN_CONFIDENCE_SUFFIX] = combined.max(axis=1)
        moved = float((new_labels != labels).mean())
        record.update(applied=True, changed_fraction=moved, held_domains=np.array(held, int))
        record["decision"] = (
            f"image vote (strength {strength:g}): it predicts the expression domains with "
            f"kappa {vote.kappa:.2f} (needs {min_kappa:g}) and moved {100 * moved:.1f} % of "
            "the spots"
            + (f"; domains {held} kept the spots it would have taken (over half)" if held else "")
        )
    adata.uns.setdefault(_keys.IMAGE_DECISION, {})["vote"] = record
    info("%s", record["decision"])
    return adata if copy else None


def _encoded_spot_px(adata: AnnData) -> float | None:
    """Spot diameter in pixels of the image the tiles were cut from (``None`` when the
    features come without the tile record of :func:`sf.im.tile_quality`)."""
    tiles = adata.uns.get(_keys.TILES, {})
    if "library_id" not in tiles or "image" not in tiles:
        return None
    return spot_diameter_px(adata, tiles["library_id"], tiles["image"])[1]


def _vote(
    proba: np.ndarray, labels: np.ndarray, ratio: np.ndarray, strength: float
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Labels and posterior after the image's vote at ``strength``, spot by spot, except
    that a domain keeps at least half of its spots: when the vote would take more, the
    spots that would leave it stay (with their expression posterior). The vote refines
    expression's domains, it does not replace them. Also returns the domains so held."""
    score = np.log(np.clip(proba, 1e-300, None)) + strength * np.log(ratio)
    combined = np.exp(score - score.max(axis=1, keepdims=True))
    combined /= combined.sum(axis=1, keepdims=True)
    # only spots whose argmax the vote changes move (the domains may differ from the
    # posterior's argmax where the consensus kept every domain asked for)
    overruled = combined.argmax(axis=1) != proba.argmax(axis=1)
    new_labels = labels.copy()
    new_labels[overruled] = combined.argmax(axis=1)[overruled]
    held = [
        int(domain)
        for domain in range(proba.shape[1])
        if np.sum((labels == domain) & (new_labels == domain)) < np.sum(labels == domain) / 2
    ]
    stay = np.isin(labels, held)
    new_labels[stay] = labels[stay]
    combined[stay] = proba[stay]
    return new_labels, combined, held


def _weigh_slide(
    adata: AnnData,
    *,
    domain_key: str,
    image_key: str,
    graph_key: str,
    margin: float,
    min_coherence: float,
    max_agreement: float,
    weight: float,
    seed: int,
) -> dict[str, Any]:
    """The decision of :func:`weigh_image` on one slide."""
    from ._fuse import _image_components

    record = adata.uns[domain_key]
    params = record["params"]
    n_domains = int(params["n_domains"])
    gene = np.asarray(adata.obsm[params["use_rep"]], dtype=np.float64)
    image, usable = _image_components(adata, image_key, gene)
    result: dict[str, Any] = {
        "weight": 0.0,
        "margin": float(margin),
        "n_domains": n_domains,
        "usable_fraction": float(usable.mean()),
    }
    graph = sp.csr_matrix(adata.obsp[graph_key])
    image_graph = graph[usable][:, usable]
    if usable.sum() < 2 * n_domains:
        result["decision"] = f"no image weight: {int(usable.sum())} usable tiles are too few"
        return result
    coherence = spatial_coherence(image[usable], image_graph)
    result.update(coherence=coherence, min_coherence=float(min_coherence))
    if coherence < min_coherence:
        result["decision"] = (
            f"no image weight: neighbouring tiles are hardly more alike than random ones "
            f"(spatial coherence of the image features {coherence:.2f}, below "
            f"{min_coherence:g}); the image may belong to another slide or be misregistered"
        )
        return result
    # the spatial prior's strength that expression settled on, for both modalities
    options = {k: params[k] for k in ("covariance", "init")}
    options["beta"] = float(record["beta"])
    seeds = [seed * WEIGH_RUNS + r for r in range(WEIGH_RUNS)]
    smoothed = neighbourhood_mean(image[usable], image_graph, _fuse_hops(adata))
    by_image = _consensus(smoothed, image_graph, n_domains, seeds, options)
    by_expression = _consensus(gene, graph, n_domains, seeds, options)
    stability_image = float(by_image.stability)
    stability_expression = float(by_expression.stability)
    agreement = float(adjusted_rand_score(by_expression.labels[usable], by_image.labels))
    steadier = stability_image - stability_expression >= margin
    independent = agreement <= max_agreement
    result.update(
        weight=float(weight) if steadier and independent else 0.0,
        stability_image=stability_image,
        stability_expression=stability_expression,
        agreement=agreement,
        max_agreement=float(max_agreement),
    )
    result["decision"] = (
        f"image weight {result['weight']:g}: at {n_domains} domains the image alone "
        f"partitions the tissue {'more' if steadier else 'no more'} reproducibly than "
        f"expression (run agreement {stability_image:.2f} vs {stability_expression:.2f}; "
        f"the image needs +{margin:g}) and its partition is "
        f"{'independent of' if independent else 'related to'} expression's (ARI "
        f"{agreement:.2f}; at most {max_agreement:g} adds structure expression lacks)"
    )
    return result


def _consensus(
    X: np.ndarray, graph: sp.csr_matrix, n_domains: int, seeds: list[int], options: dict
) -> ConsensusResult:
    """Single-start runs of one modality (their stability and consensus labels); the
    consensus averages every run, as when the thresholds of :func:`weigh_image` were set."""
    return consensus_hmrf(
        X,
        graph,
        n_domains,
        seeds,
        best_fraction=1.0,
        show_progress=False,
        n_init=1,
        max_iter=WEIGH_MAX_ITER,
        **options,
    )


def _fuse_hops(adata: AnnData) -> int:
    """The neighbourhood radius of the expression embedding (``sf.tl.fuse``'s record)."""
    fused = adata.uns.get(_keys.FUSED, {})
    return int(fused.get("params", {}).get("n_hops", 1))
