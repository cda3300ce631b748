"""``sf.tl.fuse``: fuse the gene representation and histology features into one embedding."""

from __future__ import annotations

from numbers import Real
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import torch
from anndata import AnnData
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors
from torch_geometric.utils import from_scipy_sparse_matrix

from .. import _keys
from .._errors import InputError
from .._logging import info
from .._params import (
    NON_NEGATIVE_INT,
    NON_NEGATIVE_REAL,
    POSITIVE_INT,
    POSITIVE_REAL,
    SEED,
    Interval,
    Options,
    validate_params,
)
from .._settings import resolve_seed
from .._validation import check_spatial
from ..cluster import neighbourhood_mean
from ..nn._model import METHODS, FusionInputs, FusionModel, LossWeights
from ..nn._training import embed, spatial_batches, train

Method = Literal["smoothed", "gene", "image", "early", "late", "cross_attention", "tensor", "gated"]
SMOOTHED = "smoothed"  # expression PCs averaged over spatial neighbourhoods, no training
SMOOTHED_IMAGE_PCS = 20  # image components beside the gene PCs when image_weight > 0
IMPUTE_NEIGHBOURS = 15  # spots (nearest in expression) whose image a spot without a tile gets
ALL_METHODS = (SMOOTHED, *METHODS, "late")
TRAINED_METHODS = (*METHODS, "late")
FULL_BATCH_MAX_SPOTS = 50_000  # larger slides train on mini-batches (batch_size=None)
DEFAULT_BATCH_SIZE = 8_192


def _standardise(x: np.ndarray, rows: np.ndarray, per_feature: bool) -> np.ndarray:
    """Centre on ``rows`` and scale per feature (image) or by one global sd (gene PCs keep
    their relative variance)."""
    mean = x[rows].mean(axis=0)
    sd = x[rows].std(axis=0) if per_feature else x[rows].std()
    return (x - mean) / np.where(sd > 0, sd, 1.0)


def _inputs(adata: AnnData, gene_key: str, image_key: str | None, graph_key: str) -> FusionInputs:
    """Validated, standardised tensors; an absent image gives zero features and no tile."""
    n = adata.n_obs
    gene = np.asarray(adata.obsm[gene_key], dtype=np.float64)
    if gene.ndim != 2 or gene.shape[0] != n or not np.isfinite(gene).all():
        raise InputError(
            f"adata.obsm[{gene_key!r}] must be a finite (n_spots, n_features) array; got shape "
            f"{gene.shape}. Recompute it with sf.pp.preprocess(adata)."
        )
    usable = np.ones(n, dtype=bool)
    if image_key is None:
        image, usable[:] = np.zeros((n, 1)), False
    else:
        image = np.asarray(adata.obsm[image_key], dtype=np.float64)
        if image.ndim != 2 or image.shape[0] != n:
            raise InputError(
                f"adata.obsm[{image_key!r}] has shape {image.shape}; expected (n_spots, "
                "n_features). Recompute it with sf.im.encode(adata)."
            )
        usable &= np.isfinite(image).all(axis=1)
        if _keys.TILE_USABLE in adata.obs:
            usable &= adata.obs[_keys.TILE_USABLE].to_numpy().astype(bool)
        image = np.where(usable[:, None], image, 0.0)
    graph = adata.obsp[graph_key]
    if not sp.issparse(graph) or graph.shape != (n, n):
        raise InputError(
            f"adata.obsp[{graph_key!r}] must be a sparse (n_spots, n_spots) matrix. Rebuild it "
            "with sf.gr.spatial_graph(adata)."
        )
    edge_index, _ = from_scipy_sparse_matrix(sp.coo_matrix(graph))
    rows = usable if usable.any() else np.ones(n, dtype=bool)
    return FusionInputs.from_graph(
        x_gene=torch.as_tensor(_standardise(gene, np.ones(n, bool), False), dtype=torch.float32),
        x_image=torch.as_tensor(_standardise(image, rows, True), dtype=torch.float32),
        edge_index=edge_index,
        usable=torch.as_tensor(usable),
    )


def _confidence(z: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    """1 - normalised entropy of a diagonal GMM's posterior: 1 for a sure assignment, 0 for
    a uniform one."""
    gmm = GaussianMixture(n_components, covariance_type="diag", random_state=seed).fit(z)
    posterior = np.clip(gmm.predict_proba(z), 1e-12, 1.0)
    entropy = -(posterior * np.log(posterior)).sum(axis=1)
    return 1.0 - entropy / np.log(n_components)


def _late(
    data: FusionInputs, seed: int, late_components: int, **model_options
) -> tuple[np.ndarray, np.ndarray, dict[str, list[float]]]:
    """Late fusion: one model per modality; the decision of each is its soft assignment to
    ``late_components`` Gaussian clusters, and its per-spot confidence (1 - normalised
    entropy) weights it. The embedding concatenates the standardised per-modality embeddings
    scaled by the square root of their weights, so squared distances are the
    confidence-weighted sum of per-modality squared distances."""
    parts, confidences = [], []
    history: dict[str, list[float]] = {"loss": []}
    for modality in ("gene", "image"):
        z, _, hist = _train_one(data, modality, seed, **model_options)
        z = (z - z.mean(axis=0)) / z.std(axis=0).clip(min=1e-8)
        parts.append(z)
        confidences.append(_confidence(z, late_components, seed))
        history["loss"] += hist["total"]
        history.update({f"{modality}/{name}": values for name, values in hist.items()})
    confidence = np.stack(confidences, axis=1) + 1e-6
    confidence[:, 1] *= data.usable.numpy()
    weights = confidence / confidence.sum(axis=1, keepdims=True)
    fused = np.hstack([np.sqrt(weights[:, [m]]) * parts[m] for m in range(2)])
    return fused, weights, history


def _train_one(
    data: FusionInputs,
    method: str,
    seed: int,
    *,
    n_latent: int,
    hidden_dim: int,
    conv: Literal["gcn", "gat", "mlp"],
    loss_weights: LossWeights,
    epochs: int,
    lr: float,
    patience: int,
    batches: list[torch.Tensor] | None,
) -> tuple[np.ndarray, np.ndarray, dict[str, list[float]]]:
    torch.manual_seed(seed)
    model = FusionModel(
        data.x_gene.shape[1],
        data.x_image.shape[1],
        method=method,
        n_latent=n_latent,
        hidden_dim=hidden_dim,
        conv=conv,
    )
    history = train(
        model,
        data,
        weights=loss_weights,
        epochs=epochs,
        lr=lr,
        patience=patience,
        seed=seed,
        batches=batches,
    )
    z, weights = embed(model, data)
    return z.numpy(), weights.numpy(), history


def _smoothed(
    adata: AnnData,
    gene_key: str,
    image_key: str,
    graph_key: str,
    n_hops: int,
    n_pcs: int | None,
    image_weight: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``"smoothed"`` embedding and each spot's image weight.

    The first ``n_pcs`` gene PCs, and with ``image_weight > 0`` the leading principal
    components of the image features beside them (each block scaled to unit mean squared row
    norm, then by ``sqrt(1 - w)`` and ``sqrt(w)``; spots without a usable tile get the image
    of their nearest spots in expression, see :func:`_image_components`), averaged over
    ``n_hops``.
    """
    gene = np.asarray(adata.obsm[gene_key], dtype=np.float64)
    if gene.ndim != 2 or gene.shape[0] != adata.n_obs or not np.isfinite(gene).all():
        raise InputError(
            f"adata.obsm[{gene_key!r}] must be a finite (n_spots, n_features) array; got shape "
            f"{gene.shape}. Recompute it with sf.pp.preprocess(adata)."
        )
    graph = adata.obsp[graph_key]
    if not sp.issparse(graph) or graph.shape != (adata.n_obs, adata.n_obs):
        raise InputError(
            f"adata.obsp[{graph_key!r}] must be a sparse (n_spots, n_spots) matrix. Rebuild it "
            "with sf.gr.spatial_graph(adata)."
        )
    gene = gene[:, :n_pcs]
    weights = np.zeros(adata.n_obs)
    if image_weight > 0:
        if image_key not in adata.obsm:
            raise InputError(
                f"image_weight={image_weight} needs image features in adata.obsm[{image_key!r}]."
                " Run sf.im.tile_quality and sf.im.encode first, or set image_weight=0."
            )
        image, usable = _image_components(adata, image_key, gene)
        gene = gene / np.sqrt((gene**2).sum(axis=1).mean())
        gene = np.hstack([np.sqrt(1.0 - image_weight) * gene, np.sqrt(image_weight) * image])
        weights[usable] = image_weight
    return neighbourhood_mean(gene, graph, n_hops), weights


def usable_tiles(adata: AnnData, features: np.ndarray) -> np.ndarray:
    """Spots whose image features are finite and whose tile passed QC
    (``obs['tile_usable']`` when :func:`sf.im.tile_quality` ran)."""
    usable = np.asarray(np.isfinite(features).all(axis=1), dtype=bool)
    if _keys.TILE_USABLE in adata.obs:
        usable &= adata.obs[_keys.TILE_USABLE].to_numpy(dtype=bool)
    return usable


def _image_components(
    adata: AnnData, image_key: str, gene: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Leading principal components (at most ``SMOOTHED_IMAGE_PCS``) of the image features,
    standardised by the usable tiles' mean and sd; the directions come from every finite
    tile. A spot without a usable tile gets the mean image of the ``IMPUTE_NEIGHBOURS`` spots
    with usable tiles closest to it in expression (``gene``): its image is unknown, so it
    is drawn toward spots of its expression domain, not to a shared value that would make
    the unusable spots a domain of their own (zeros did: on the synthetic corrupted-image
    slide a blank strip became a domain). Unit mean squared row norm over the usable ones."""
    features = np.asarray(adata.obsm[image_key], dtype=np.float64)
    usable = usable_tiles(adata, features)
    out = np.zeros((adata.n_obs, 0))
    if usable.sum() < max(3, IMPUTE_NEIGHBOURS):
        info("fewer than %d usable tiles: the image gets no weight", max(3, IMPUTE_NEIGHBOURS))
        return out, np.zeros(adata.n_obs, dtype=bool)
    finite = np.isfinite(features).all(axis=1)
    sd = features[usable].std(axis=0)
    x = (features[finite] - features[usable].mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    x -= x.mean(axis=0)
    n_comps = min(SMOOTHED_IMAGE_PCS, x.shape[0] - 1, x.shape[1])
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    out = np.zeros((adata.n_obs, n_comps))
    out[finite] = u[:, :n_comps] * s[:n_comps]
    if not usable.all():
        nearest = NearestNeighbors(n_neighbors=IMPUTE_NEIGHBOURS).fit(gene[usable])
        index = nearest.kneighbors(gene[~usable], return_distance=False)
        out[~usable] = out[usable][index].mean(axis=1)
    out /= np.sqrt((out[usable] ** 2).sum(axis=1).mean())
    return out, np.asarray(usable, dtype=bool)


@validate_params(
    {
        "adata": [AnnData],
        "method": [Options(ALL_METHODS)],
        "gene_key": [str],
        "image_key": [str],
        "graph_key": [str],
        "n_latent": [POSITIVE_INT],
        "hidden_dim": [POSITIVE_INT],
        "conv": [Options(("gcn", "gat", "mlp"))],
        "epochs": [POSITIVE_INT],
        "lr": [POSITIVE_REAL],
        "patience": [POSITIVE_INT],
        "batch_size": [POSITIVE_INT, None],
        "reconstruction_weight": [NON_NEGATIVE_REAL],
        "contrastive_weight": [NON_NEGATIVE_REAL],
        "spatial_weight": [NON_NEGATIVE_REAL],
        "temperature": [POSITIVE_REAL],
        "late_components": [POSITIVE_INT],
        "n_hops": [NON_NEGATIVE_INT],
        "n_pcs": [POSITIVE_INT, None],
        "image_weight": [Interval(Real, 0, 1, closed="left")],
        "seed": SEED,
        "key_added": [str],
        "copy": [bool],
    }
)
def fuse(
    adata: AnnData,
    *,
    method: Method = "gated",
    gene_key: str = _keys.PCA,
    image_key: str = _keys.HISTOLOGY,
    graph_key: str = _keys.SPATIAL_CONNECTIVITIES,
    n_latent: int = 32,
    hidden_dim: int = 64,
    conv: Literal["gcn", "gat", "mlp"] = "gcn",
    epochs: int = 400,
    lr: float = 5e-3,
    patience: int = 30,
    batch_size: int | None = None,
    reconstruction_weight: float = 1.0,
    contrastive_weight: float = 0.1,
    spatial_weight: float = 1.0,
    temperature: float = 0.5,
    late_components: int = 8,
    n_hops: int = 1,
    n_pcs: int | None = None,
    image_weight: float = 0.0,
    seed: int | None = None,
    key_added: str = _keys.FUSED,
    copy: bool = False,
) -> AnnData | None:
    """Fuse expression and histology into one embedding per spot with a graph neural network.

    ``method="smoothed"`` trains nothing: the embedding is the gene representation averaged
    over each spot's spatial neighbourhood (:func:`sf.cluster.neighbourhood_mean`), the
    expression core of :func:`sf.tl.spatial_domains`. It ignores the image unless
    ``image_weight > 0``: then the image features' leading components sit beside the gene
    components with that share of the squared norm (early fusion without training).

    Two graph encoders (gene representation, image features) share the spatial graph; a fusion
    layer combines them; training minimises reconstruction of both inputs, a gene-image InfoNCE
    term and a Deep-Graph-Infomax spatial term (on the fused embedding and, for the
    intermediate fusions, on each modality embedding). Spots without a usable tile still get an
    embedding (from their expression; ``"gated"`` mixes in the image embedding predicted from
    it, see ``docs/concepts.md``).

    Parameters
    ----------
    adata
        Slide; reads ``obsm[gene_key]``, ``obsm[image_key]`` (optional), ``obsp[graph_key]``
        and ``obs['tile_usable']`` (optional: False marks spots without a usable tile).
    method
        ``"smoothed"`` (no training, expression only: see above), ``"gated"`` (modality
        weights from predicted uncertainty), ``"cross_attention"``
        (neighbourhood cross-modal attention), ``"tensor"`` (low-rank tensor fusion), or the
        baselines ``"early"`` (concatenated inputs), ``"late"`` (per-modality models
        combined by clustering confidence), ``"gene"``, ``"image"``.
    gene_key, image_key, graph_key
        Where the inputs are. Without ``obsm[image_key]`` the fusion runs expression-only.
    n_latent, hidden_dim, conv
        Embedding size, hidden size and encoder type (``"gcn"``, ``"gat"``, ``"mlp"``).
    epochs, lr, patience
        Maximum epochs, Adam learning rate, epochs without improvement before stopping.
    batch_size
        Slides with more spots train on mini-batches: compact patches of about this many spots
        (cut from ``obsm['spatial']``), one Adam step on one patch per epoch (see
        :func:`spatialfuse.nn.train`); the embedding is then computed on the whole graph.
        ``None``: full batch up to 50,000 spots, patches of 8,192 spots above.
    reconstruction_weight, contrastive_weight, spatial_weight, temperature
        Loss term weights and the InfoNCE temperature (defaults chosen by the benchmark in
        ``benchmarks/bench_fusion.py``).
    late_components
        Gaussian clusters per modality whose posterior entropy weights ``"late"`` fusion.
    n_hops, n_pcs
        ``"smoothed"`` only: neighbourhood radius in spatial-graph steps, and the number of
        leading gene components averaged (all when ``None``).
    image_weight
        ``"smoothed"`` only: share of the image in the embedding, in ``[0, 1)``; 0 (the
        default) is expression only. ``benchmarks/results/image_weight.md`` measures it on
        every labelled slide with an image: it helps the synthetic complementary slide and
        mouse olfactory bulb, and lowers ARI on DLPFC and her2st A1.
    seed
        Random seed (``sf.settings.seed`` when ``None``); results are deterministic for it.
    key_added
        ``obsm`` key of the embedding and ``uns`` key of the parameters and loss history.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` or the copy. Writes ``obsm[key_added]`` (``n_latent`` columns; ``2 * n_latent``
    for ``"late"``; the ``n_pcs`` gene components for ``"smoothed"``),
    ``obs['fusion_weight_gene']``, ``obs['fusion_weight_image']`` (learned for ``"gated"`` and
    ``"late"``; otherwise 0.5/0.5, or 1/0 without a usable tile or for ``"smoothed"``) and
    ``uns[key_added] = {'params': {...}, 'history': {'loss': [...], <term>: [...]}}``.
    """
    if gene_key not in adata.obsm:
        raise InputError(
            f"adata.obsm[{gene_key!r}] (the gene representation) is missing. Run "
            "sf.pp.preprocess(adata) first, or pass gene_key= naming your representation."
        )
    if graph_key not in adata.obsp:
        raise InputError(
            f"adata.obsp[{graph_key!r}] (the spatial graph) is missing. Run "
            "sf.gr.spatial_graph(adata) first, or pass graph_key=."
        )
    has_image = image_key in adata.obsm
    if method == "image" and not has_image:
        raise InputError(
            f"method='image' needs histology features in adata.obsm[{image_key!r}]. Run "
            "sf.im.encode(adata) first, or choose a method that uses expression."
        )
    adata = adata.copy() if copy else adata
    seed = resolve_seed(seed)
    if method == SMOOTHED:
        z, weights = _smoothed(
            adata, gene_key, image_key, graph_key, n_hops, n_pcs, float(image_weight)
        )
        adata.obsm[key_added] = z.astype(np.float32)
        adata.obs[_keys.FUSION_WEIGHT_GENE] = (1.0 - weights).astype(np.float32)
        adata.obs[_keys.FUSION_WEIGHT_IMAGE] = weights.astype(np.float32)
        adata.uns[key_added] = {
            "params": {
                "method": method,
                "method_used": method,
                "gene_key": gene_key,
                "image_key": image_key if image_weight > 0 else None,
                "graph_key": graph_key,
                "n_hops": int(n_hops),
                "n_pcs": z.shape[1],
                "image_weight": float(image_weight),
                "seed": seed,
            },
            "history": {"loss": []},
        }
        info(
            "added %r (%d components averaged over %d-step neighbourhoods, image weight %.2f; "
            "adata.obsm)",
            key_added,
            z.shape[1],
            n_hops,
            float(weights.max(initial=0.0)),
        )
        return adata if copy else None
    data = _inputs(adata, gene_key, image_key if has_image else None, graph_key)
    method_used = method
    if not data.usable.any() and method != "gene":
        if method == "image":
            raise InputError(
                f"no spot has a usable tile (obs[{_keys.TILE_USABLE!r}] / finite "
                f"obsm[{image_key!r}]); method='image' cannot run. Use method='gene'."
            )
        info(
            "no usable histology features (obsm[%r]): fusing expression only (method='gene')",
            image_key,
        )
        method_used = "gene"
    if batch_size is None:
        batch_size = adata.n_obs if adata.n_obs <= FULL_BATCH_MAX_SPOTS else DEFAULT_BATCH_SIZE
    batches = None
    if adata.n_obs > batch_size:
        coords = torch.as_tensor(check_spatial(adata), dtype=torch.float64)
        batches = spatial_batches(coords, int(batch_size))
    options: dict[str, Any] = {
        "n_latent": n_latent,
        "hidden_dim": hidden_dim,
        "conv": conv,
        "loss_weights": LossWeights(
            reconstruction_weight, contrastive_weight, spatial_weight, temperature
        ),
        "epochs": epochs,
        "lr": lr,
        "patience": patience,
        "batches": batches,
    }
    if method_used == "late":
        z, weights, history = _late(data, seed, late_components, **options)
    else:
        z, weights, history = _train_one(data, method_used, seed, **options)
        history = {"loss": history.pop("total"), **history}
    adata.obsm[key_added] = z.astype(np.float32)
    adata.obs[_keys.FUSION_WEIGHT_GENE] = weights[:, 0].astype(np.float32)
    adata.obs[_keys.FUSION_WEIGHT_IMAGE] = weights[:, 1].astype(np.float32)
    params = {k: v for k, v in options.items() if k not in ("loss_weights", "batches")}
    params.update(
        method=method,
        method_used=method_used,
        gene_key=gene_key,
        image_key=image_key if has_image else None,
        graph_key=graph_key,
        reconstruction_weight=reconstruction_weight,
        contrastive_weight=contrastive_weight,
        spatial_weight=spatial_weight,
        temperature=temperature,
        late_components=late_components,
        seed=seed,
        n_usable_tiles=int(data.usable.sum()),
        batch_size=int(batch_size),
        n_batches=len(batches) if batches else 1,
        epochs_run=len(history["loss"]),
    )
    adata.uns[key_added] = {"params": params, "history": history}
    info(
        "added %r (%s fusion, %d dims, adata.obsm), %r and %r (adata.obs)",
        key_added,
        method_used,
        z.shape[1],
        _keys.FUSION_WEIGHT_GENE,
        _keys.FUSION_WEIGHT_IMAGE,
    )
    return adata if copy else None
