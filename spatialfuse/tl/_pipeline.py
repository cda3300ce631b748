"""The one-call pipeline: preprocessing, graph, tiles, image features, fusion, domains."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from anndata import AnnData

from .. import _keys
from .._logging import info
from .._settings import resolve_seed
from .._validation import available_images, check_n_domains, validate_visium

PIPELINE_KEY = "spatialfuse_pipeline"


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _StepTimer:
    """Collects wall time and peak memory of each pipeline step."""

    def __init__(self) -> None:
        self.steps: dict[str, dict[str, Any]] = {}

    @contextmanager
    def step(self, name: str, *, reused: bool = False):
        start = time.perf_counter()
        yield
        self.steps[name] = {
            "seconds": round(time.perf_counter() - start, 3),
            "peak_rss_mb": round(_peak_rss_mb(), 1),
            "reused": reused,
        }


def spatial_domains(
    adata: AnnData,
    n_domains: int | None = 7,
    *,
    library_id: str | None = None,
    use_image: bool = True,
    encoder: str = "efficientnet",
    fusion: str = "gated",
    n_top_genes: int = 3000,
    n_comps: int = 30,
    n_rings: int = 1,
    seed: int | None = None,
    key_added: str = _keys.DOMAIN,
    recompute: bool = False,
    copy: bool = False,
    step_options: dict[str, dict[str, Any]] | None = None,
) -> AnnData | None:
    """Find spatial domains in one call, with good defaults; every step stays callable alone.

    Runs :func:`sf.pp.preprocess`, :func:`sf.gr.spatial_graph`, :func:`sf.im.extract_tiles`,
    :func:`sf.im.encode`, :func:`sf.tl.fuse` and :func:`sf.tl.cluster_domains`. A step whose
    result is already in ``adata`` is reused unless ``recompute=True``. A slide without an
    image (or ``use_image=False``) runs expression-only.

    Parameters
    ----------
    adata
        Slide in the scanpy/squidpy Visium layout with raw counts in ``X``.
    n_domains
        Number of domains; chosen automatically when ``None``.
    library_id
        Slide to analyse; the only one when ``None``.
    use_image
        Use the H&E image when one is present.
    encoder
        Image encoder of :func:`sf.im.encode`.
    fusion
        Fusion method of :func:`sf.tl.fuse`.
    n_top_genes, n_comps
        Gene representation (see :func:`sf.pp.preprocess`).
    n_rings
        Rings of hexagonal neighbours in the spatial graph.
    seed
        Random seed of every stochastic step (``sf.settings.seed`` when ``None``).
    key_added
        ``obs`` key of the domains.
    recompute
        Recompute steps whose results are already present.
    copy
        Return a modified copy instead of writing into ``adata``.
    step_options
        Extra keyword arguments per step, e.g. ``{"fuse": {"epochs": 200}}``; step names are
        ``preprocess``, ``spatial_graph``, ``extract_tiles``, ``encode``, ``fuse``,
        ``cluster_domains``.

    Returns
    -------
    ``None`` or the copy. Writes what each step writes (``obsm['X_pca']``,
    ``obsp['spatial_connectivities']``, ``obsm['X_histology']``, ``obsm['X_fused']``,
    ``obs[key_added]`` ...) and ``uns['spatialfuse_pipeline']`` with the parameters and the
    wall time and peak memory of each step.
    """
    from .. import gr, im, pp
    from ._domains import cluster_domains
    from ._fuse import fuse

    library_id = validate_visium(adata, library_id=library_id)
    check_n_domains(adata.n_obs, n_domains)
    adata = adata.copy() if copy else adata
    seed = resolve_seed(seed)
    options = step_options or {}
    timer = _StepTimer()

    def run(name: str, done: bool, func: Callable[..., Any], **kwargs: Any) -> None:
        reuse = done and not recompute
        with timer.step(name, reused=reuse):
            if reuse:
                info("%s: reusing the result already in adata", name)
            else:
                func(adata, **{**kwargs, **options.get(name, {})})

    run(
        "preprocess",
        _keys.PCA in adata.obsm,
        pp.preprocess,
        n_top_genes=n_top_genes,
        n_comps=n_comps,
        seed=seed,
    )
    run(
        "spatial_graph",
        _keys.SPATIAL_CONNECTIVITIES in adata.obsp,
        gr.spatial_graph,
        n_rings=n_rings,
    )
    has_image = use_image and bool(available_images(adata, library_id))
    if has_image:
        run(
            "extract_tiles",
            _keys.TILES in adata.uns,
            im.extract_tiles,
            library_id=library_id,
        )
        run(
            "encode",
            _keys.HISTOLOGY in adata.obsm,
            im.encode,
            encoder=encoder,
            seed=seed,
        )
    else:
        info("no image used (use_image=%s): running expression-only", use_image)
    run(
        "fuse",
        _keys.FUSED in adata.obsm,
        fuse,
        method=fusion if has_image else "gene",
        seed=seed,
    )
    run(
        "cluster_domains",
        False,
        cluster_domains,
        n_domains=n_domains,
        seed=seed,
        key_added=key_added,
    )

    adata.uns[PIPELINE_KEY] = {
        "params": {
            "n_domains": n_domains,
            "library_id": library_id,
            "use_image": has_image,
            "encoder": encoder if has_image else None,
            "fusion": fusion if has_image else "gene",
            "n_top_genes": n_top_genes,
            "n_comps": n_comps,
            "n_rings": n_rings,
            "seed": seed,
            "key_added": key_added,
        },
        "steps": timer.steps,
    }
    info("added %r, the spatial domains (adata.obs, categorical)", key_added)
    return adata if copy else None
