"""The one-call pipeline: preprocessing, graph, tiles, image features, fusion, domains."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys
from .._cache import Snapshot, StepCache, apply_delta, data_fingerprint
from .._errors import CountsError, ParameterError
from .._logging import info
from .._params import (
    FLAG,
    KEY,
    N_DOMAINS,
    N_RUNS,
    POSITIVE_INT,
    SEED,
    Options,
    validate_params,
)
from .._settings import resolve_seed
from .._validation import (
    available_images,
    check_n_domains,
    counts_from_layer,
    resolve_n_runs,
    validate_visium,
)
from ..cluster import mean_aligned_posterior, most_agreeing
from ._genes import AUTO_FLAVOR, FLAVORS, FLAVORS_TRIED, choose_gene_ranking
from ._image_weight import image_resolves_spots, refine_with_image, weigh_image
from ._slides import cross_slide_edges, encode_slides, integrate_slides

EXPRESSION_METHODS = ("smoothed", "gene")  # fusion methods that never read the image
DETERMINISTIC_METHODS = ("smoothed",)  # the embedding does not depend on the seed
# defaults shared by spatial_domains and joint_domains (declared once)
DEFAULT_ENCODER = "handcrafted"
DEFAULT_FUSION = "smoothed"
DEFAULT_N_RUNS = "auto"  # 4 runs on a 4,000-spot slide, up to 64 on small ones
STEPS = (
    "preprocess",
    "spatial_graph",
    "tile_quality",
    "encode",
    "fuse",
    "cluster_domains",
    "choose_genes",
    "weigh_image",
    "refine_with_image",
)
# several slides: tiles are cut and scored inside "encode", slide by slide; no image vote
JOINT_STEPS = (
    *(s for s in STEPS if s not in ("tile_quality", "choose_genes", "refine_with_image")),
    "integrate",
)


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    try:
        import resource  # Unix only
    except ImportError:  # pragma: no cover - Windows: no peak-memory record
        return float("nan")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def check_no_empty_spots(adata: AnnData) -> None:
    """Raise :class:`CountsError` when some spots have no counts at all."""
    empty = np.asarray(adata.X.sum(axis=1)).ravel() <= 0
    if empty.any():
        raise CountsError(
            f"{int(empty.sum())} of {adata.n_obs} spots have zero counts (e.g. "
            f"{adata.obs_names[empty][:3].tolist()}); they carry no expression to cluster. Drop "
            "them first with scanpy.pp.filter_cells(adata, min_counts=1) (the spatialfuse "
            "command line does this for you)."
        )


# parameters spatial_domains and joint_domains share, declared once
RUN_CONSTRAINTS: dict[str, list[Any]] = {
    "n_domains": N_DOMAINS,
    "use_image": FLAG,
    "encoder": [str],
    "fusion": [str],
    "n_runs": N_RUNS,
    "seed": SEED,
    "key_added": KEY,
    "recompute": FLAG,
    "copy": FLAG,
    "step_options": [dict, None],
    "cache_dir": [str, os.PathLike, None],
}


def shared_arguments(values: dict[str, Any]) -> dict[str, Any]:
    """The arguments of ``RUN_CONSTRAINTS`` (but ``copy``) that :func:`run_slides` takes,
    picked from the ``locals()`` of :func:`spatial_domains` or :func:`sf.tl.joint_domains`."""
    return {name: values[name] for name in RUN_CONSTRAINTS if name != "copy"}


class _StepRunner:
    """Runs pipeline steps, reusing results in ``adata`` or in the step cache, and records
    the wall time, peak memory and origin of each step."""

    def __init__(
        self,
        adata: AnnData,
        library_id: str | Sequence[str],
        cache_dir: str | os.PathLike | None,
        *,
        recompute: bool,
    ) -> None:
        self.adata = adata
        self.recompute = recompute
        self.cache = None if cache_dir is None else StepCache(cache_dir)
        self.fingerprint = data_fingerprint(adata, library_id) if self.cache else None
        self.keys: dict[str, str | None] = {}
        self.steps: dict[str, dict[str, Any]] = {}

    def run(
        self,
        name: str,
        done: bool,
        func: Callable[..., Any],
        kwargs: dict[str, Any],
        *,
        depends: list[str] | None = None,
    ) -> None:
        """Run ``func(adata, **kwargs)`` as step ``name`` unless its result can be reused."""
        start, start_cpu = time.perf_counter(), time.process_time()
        key = None
        if self.cache is not None:
            after = {dep: self.keys.get(dep) for dep in depends or []}
            key = self.cache.key(name, data=self.fingerprint, params=kwargs, after=after)
        self.keys[name] = key
        if done and not self.recompute:
            source = "adata"
            info("%s: reusing the result already in adata", name)
        elif (
            key is not None
            and self.cache is not None
            and not self.recompute
            and (delta := self.cache.load(key))
        ):
            source = "cache"
            apply_delta(self.adata, delta)
            info("%s: reused cached result %s", name, key)
        else:
            source = "computed"
            snapshot = Snapshot.of(self.adata) if key is not None else None
            func(self.adata, **kwargs)
            if snapshot is not None and key is not None and self.cache is not None:
                self.cache.save(key, snapshot.delta(self.adata))
                info("%s: checkpointed result %s", name, key)
        self.steps[name] = {
            "seconds": round(time.perf_counter() - start, 3),
            "cpu_seconds": round(time.process_time() - start_cpu, 3),
            "peak_rss_mb": round(_peak_rss_mb(), 1),
            "source": source,
            "reused": source != "computed",
            "cache_key": key,
        }


@validate_params(
    {
        "adata": [AnnData],
        "library_id": [str, None],
        "layer": [str, None],
        "n_top_genes": [POSITIVE_INT],
        "flavor": [Options(FLAVORS)],
        "n_comps": [POSITIVE_INT],
        "n_rings": [POSITIVE_INT],
        **RUN_CONSTRAINTS,
    }
)
def spatial_domains(
    adata: AnnData,
    n_domains: int | None = None,
    *,
    library_id: str | None = None,
    layer: str | None = None,
    use_image: bool = True,
    encoder: str = DEFAULT_ENCODER,
    fusion: str = DEFAULT_FUSION,
    n_top_genes: int = 3000,
    flavor: str = AUTO_FLAVOR,
    n_comps: int = 30,
    n_rings: int = 1,
    n_runs: int | str = DEFAULT_N_RUNS,
    seed: int | None = None,
    key_added: str = _keys.DOMAIN,
    recompute: bool = False,
    copy: bool = False,
    step_options: dict[str, dict[str, Any]] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> AnnData | None:
    """Find spatial domains in one call, with good defaults; every step stays callable alone.

    Runs :func:`sf.pp.preprocess`, :func:`sf.gr.spatial_graph`, :func:`sf.im.tile_quality`,
    :func:`sf.im.encode`, :func:`sf.tl.fuse` and :func:`sf.tl.cluster_domains`. A step whose
    result is already in ``adata`` is reused unless ``recompute=True``. A slide without an
    image (or ``use_image=False``) runs expression-only. With an image that resolves the
    spots, :func:`sf.tl.weigh_image` decides whether it joins the embedding (then the
    domains are clustered again) and, when it does not, :func:`sf.tl.refine_with_image`
    lets it vote on the expression domains spot by spot if it can tell them apart.

    Parameters
    ----------
    adata
        Slide in the scanpy/squidpy Visium layout with raw counts in ``X`` (or ``layer``).
    n_domains
        Number of domains; when ``None``, the most stable number in 3..12 (the ``n_runs``
        clustering runs agree best there; see :func:`sf.tl.cluster_domains`).
    library_id
        Slide to analyse; the only one when ``None``.
    layer
        ``adata.layers`` key of the raw counts when ``X`` holds something else (for example
        log-normalised values); they are copied into ``X`` first, as the pipeline expects.
    use_image
        Use the H&E image when one is present.
    encoder
        Image encoder of :func:`sf.im.encode`.
    fusion
        Fusion method of :func:`sf.tl.fuse`. The default, ``"smoothed"`` (expression
        components averaged over spatial neighbourhoods, no training, no image steps), was
        chosen leave-one-slide-out over the eight labelled slides of the evaluation protocol
        (``benchmarks/results/generalisation.md``); pass ``"gated"``, ``"cross_attention"``,
        ``"tensor"``, ``"early"`` or ``"late"`` to fuse the histology with a trained model,
        ``"gene"`` for the expression-only graph model.
    n_top_genes, n_comps
        Gene representation (see :func:`sf.pp.preprocess`).
    flavor
        How :func:`sf.pp.preprocess` ranks the variable genes. ``"auto"`` (default, with the
        ``"smoothed"`` fusion on one slide): the domains are found on the ``"seurat"`` genes and
        again, with the same number of domains, on the ``"spatial"`` genes (dispersion of the
        neighbourhood-averaged expression), and the domains that agree more with the spatial
        graph are kept (:func:`sf.metrics.neighbour_agreement`; ``uns['spatialfuse_genes']``
        records both and the choice). Neither ranking was best on every labelled slide, and
        this choice never scored below the ``"seurat"`` genes by more than the seeds' spread
        on them while it held up on thinned counts (README, *Performance*). Otherwise (or when
        ``step_options['preprocess']`` names a flavour) the ranking given,
        ``"seurat"`` for joint runs and trained fusions.
    n_rings
        Rings of hexagonal neighbours in the spatial graph.
    n_runs
        Clustering runs with different seeds (``seed * n_runs`` onwards). The domains are the
        argmax of the runs' posteriors averaged after matching their domains
        (:func:`sf.cluster.consensus_hmrf`), in the domain order of the run that agrees most
        with the others (highest mean ARI, :func:`sf.cluster.most_agreeing`). This evens out
        the occasional run stuck in a worse optimum, and their agreement chooses the number
        of domains. With a trained fusion (``"gated"`` ...) the fusion is trained ``n_runs``
        times too, each embedding clustered once, and the runs combined the same way (the
        embedding kept is that of the most agreeing run). ``1`` runs once with ``seed``;
        ``"auto"`` (default) spreads 16,000 spot-fits over 4 to 64 runs (4 on a 4,000-spot
        slide, 53 on a 300-spot one); 4 with a trained fusion.
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
        ``preprocess``, ``spatial_graph``, ``tile_quality``, ``encode``, ``fuse``,
        ``cluster_domains``, ``weigh_image``, ``refine_with_image``.
    cache_dir
        Folder of the step cache (e.g. :func:`spatialfuse._cache.default_cache_dir`); ``None``
        disables it. Each computed step's outputs are checkpointed there, keyed by a hash of
        the data, its parameters and the steps it depends on; a later call with the same
        inputs reuses them (so an interrupted run resumes after its last completed step), and
        changing a parameter recomputes only the steps that depend on it.

    Returns
    -------
    ``None`` or the copy. Writes what each step writes (``obsm['X_pca']``,
    ``obsp['spatial_connectivities']``, ``obsm['X_histology']``, ``obsm['X_fused']``,
    ``obs[key_added]`` ...; those of the kept run), ``uns[key_added]['runs']`` (seeds, pairwise
    ARI, kept run) when several runs were made, and ``uns['spatialfuse_pipeline']`` with the
    parameters and, per step (``fuse[r]``, ``cluster_domains[r]`` for the runs after the
    first), the wall time, CPU time (all threads), peak memory, origin (``"computed"``,
    ``"cache"`` or ``"adata"``) and cache key.

    Raises
    ------
    InputError
        The slide is not in the Visium layout, has spots without counts, or a parameter is
        out of range.
    """
    returns_copy = copy
    if layer is not None:
        adata = adata.copy() if copy else adata
        copy = False  # copied already
        counts_from_layer(adata, layer)
    library_id = validate_visium(adata, library_id=library_id)
    adata = adata.copy() if copy else adata
    run = run_slides(
        adata,
        [library_id],
        **shared_arguments(locals()),
        preprocess={"n_top_genes": n_top_genes, "n_comps": n_comps, "flavor": flavor},
        graph={"n_rings": n_rings},
    )
    adata.uns[_keys.PIPELINE] = {
        "image": run.image,
        "params": {
            "n_domains": n_domains,
            "library_id": library_id,
            "layer": layer,
            "n_top_genes": n_top_genes,
            "flavor": flavor,
            "n_comps": n_comps,
            "n_rings": n_rings,
            **run.params,
        },
        "steps": run.steps,
    }
    info("added %r, the spatial domains (adata.obs, categorical)", key_added)
    return adata if returns_copy else None


@dataclass(frozen=True)
class ImagePlan:
    """Whether a run reads the image, how its weight is set, and why (log and record)."""

    read: bool
    weigh: bool  # sf.tl.weigh_image decides the weight
    why: str


def plan_image(
    adata: AnnData,
    slides: Sequence[str],
    *,
    use_image: bool,
    fusion: str,
    fixed_weight: float | None,
) -> ImagePlan:
    """Decide whether a run reads the slides' images. ``"smoothed"`` weighs the image itself
    (:func:`weigh_image`) unless a weight is given, and then needs every image to resolve the
    spots (:func:`image_resolves_spots`); a trained fusion or a weight the user chose reads
    any image. Several slides read their images only when every slide qualifies."""
    weigh = fusion == "smoothed" and fixed_weight is None
    reads_image = fusion not in EXPRESSION_METHODS or weigh or bool(fixed_weight)
    checks = {lib: image_resolves_spots(adata, lib) for lib in slides}

    def reasons(libs: Sequence[str]) -> str:
        if len(slides) == 1:
            return checks[libs[0]][1]
        return "; ".join(f"{lib}: {checks[lib][1]}" for lib in libs)

    coarse = [lib for lib, (resolves, _) in checks.items() if not resolves]
    read = False
    if not use_image:
        why = "use_image=False"
    elif fixed_weight is not None and not fixed_weight:
        why = "image_weight=0"
    elif not reads_image:
        why = f"fusion={fusion!r} reads no image"
    elif missing := [lib for lib in slides if not available_images(adata, lib)]:
        why = reasons(missing)
    elif weigh and coarse:
        why = reasons(coarse)
    else:
        read, why = True, reasons(list(slides))
    if read:
        info("reading the H&E: %s", why)
    else:
        info("no image used (%s): running expression-only", why)
    return ImagePlan(read=read, weigh=weigh and read, why=why)


@dataclass(frozen=True)
class SlidesRun:
    """What :func:`run_slides` did: the parameters it resolved, the image record and the
    steps (wall time, memory, origin), for the caller's record in ``uns``."""

    params: dict[str, Any]
    image: dict[str, Any]
    steps: dict[str, dict[str, Any]]


def run_slides(
    adata: AnnData,
    slides: Sequence[str],
    *,
    library_key: str | None = None,
    n_domains: int | None,
    use_image: bool,
    encoder: str,
    fusion: str,
    n_runs: int | str,
    seed: int | None,
    key_added: str,
    recompute: bool,
    step_options: dict[str, dict[str, Any]] | None,
    cache_dir: str | os.PathLike | None,
    preprocess: dict[str, Any] | None = None,
    graph: dict[str, Any] | None = None,
    stain_normalization: str | None = None,
    batch_correction: str = "none",
) -> SlidesRun:
    """The steps of :func:`spatial_domains` and :func:`sf.tl.joint_domains` on one or several
    slides of ``adata``: one slide is the case ``library_key=None``. Several slides get a
    graph per slide, image features per slide (stain-normalised to one reference) and the
    slide effect removed from every embedding before it is clustered (``"integrate"``)."""
    from .. import gr, im, pp
    from ._domains import cluster_domains
    from ._fuse import fuse

    joint = library_key is not None
    steps = JOINT_STEPS if joint else STEPS
    options = step_options or {}
    # choose_genes re-runs preprocess, fuse and cluster_domains with their options: none of its own
    configurable = [step for step in steps if step != "choose_genes"]
    unknown = set(options) - set(configurable)
    if unknown:
        raise ParameterError(
            f"step_options names unknown steps {sorted(unknown)}; the steps that take options "
            f"are {configurable}."
        )
    check_n_domains(adata.n_obs, n_domains)
    check_no_empty_spots(adata)
    n_runs = resolve_n_runs(n_runs, adata.n_obs, trained=fusion not in DETERMINISTIC_METHODS)
    seed = resolve_seed(seed)
    runner = _StepRunner(adata, slides if joint else slides[0], cache_dir, recompute=recompute)

    preprocess_options = {**(preprocess or {}), "seed": seed, **options.get("preprocess", {})}
    choose_genes = preprocess_options.get("flavor") == AUTO_FLAVOR
    if choose_genes:  # the first ranking tried; choose_gene_ranking tries the other
        preprocess_options["flavor"] = FLAVORS_TRIED[0]
    graph_done = _keys.SPATIAL_CONNECTIVITIES in adata.obsp
    if library_key is not None:
        graph_done = graph_done and cross_slide_edges(adata, library_key) == 0
    graph_options = {
        **(graph or {}),
        **({"library_key": library_key} if joint else {}),
        **options.get("spatial_graph", {}),
    }
    # the "spatial" ranking of the genes averages over the graph: it is built first then
    ranks_on_graph = preprocess_options.get("flavor") == "spatial"
    if ranks_on_graph:
        runner.run("spatial_graph", graph_done, gr.spatial_graph, graph_options)
    runner.run(
        "preprocess",
        _keys.PCA in adata.obsm,
        pp.preprocess,
        preprocess_options,
        depends=["spatial_graph"] if ranks_on_graph else None,
    )
    # a representation already in adata is the user's: it is not replaced
    choose_genes = choose_genes and runner.steps["preprocess"]["source"] != "adata"
    if not ranks_on_graph:
        runner.run("spatial_graph", graph_done, gr.spatial_graph, graph_options)
    fixed_weight = options.get("fuse", {}).get("image_weight")
    plan = plan_image(adata, slides, use_image=use_image, fusion=fusion, fixed_weight=fixed_weight)
    fuse_depends = ["preprocess", "spatial_graph"]
    if plan.read and joint:
        encode_options = {
            "library_key": library_key,
            "encoder": encoder,
            "seed": seed,
            "stain_normalization": stain_normalization,
            **options.get("encode", {}),
        }
        runner.run("encode", _keys.HISTOLOGY in adata.obsm, encode_slides, encode_options)
    elif plan.read:
        runner.run(
            "tile_quality",
            _keys.TILES in adata.uns,
            im.tile_quality,
            {"library_id": slides[0], **options.get("tile_quality", {})},
        )
        runner.run(
            "encode",
            _keys.HISTOLOGY in adata.obsm,
            im.encode,
            {"encoder": encoder, "seed": seed, **options.get("encode", {})},
            depends=["tile_quality"],
        )
    if plan.read:
        fuse_depends.append("encode")
    fused_given = _keys.FUSED in adata.obsm and not recompute
    method = fusion if plan.read or fusion in EXPRESSION_METHODS else "gene"
    fuse_options = dict(options.get("fuse", {}))
    if method == "smoothed" and not plan.read:
        fuse_options.pop("image_weight", None)  # nothing to weigh
    integrate: tuple[Callable[..., Any], dict[str, Any]] | None = None
    cluster_options = {"key_added": key_added, **options.get("cluster_domains", {})}
    if joint:
        integrate = (
            integrate_slides,
            {
                "library_key": library_key,
                "method": batch_correction,
                "seed": seed,
                **options.get("integrate", {}),
            },
        )
        cluster_options = {"use_rep": _keys.JOINT, **cluster_options}
    weighed = plan.weigh and not fused_given
    if method in DETERMINISTIC_METHODS or fused_given:
        # one embedding; the n_runs clustering runs are combined by cluster_domains
        runner.run(
            "fuse",
            fused_given,
            fuse,
            {"method": method, "seed": seed, **fuse_options},
            depends=fuse_depends,
        )
        clustered = _integrate(runner, integrate, "fuse", "")
        runner.run(
            "cluster_domains",
            False,
            cluster_domains,
            {"n_domains": n_domains, "seed": seed, "n_runs": n_runs, **cluster_options},
            depends=[clustered, "spatial_graph"],
        )
        if choose_genes and not joint and method == "smoothed" and not fused_given:
            runner.run(
                "choose_genes",
                False,
                choose_gene_ranking,
                {
                    "preprocess_options": preprocess_options,
                    "fuse_options": fuse_options,
                    "cluster_options": cluster_options,
                    "seed": seed,
                    "n_runs": n_runs,
                },
                depends=["cluster_domains"],
            )
        if weighed:
            weigh_options = {
                **({"library_key": library_key} if joint else {}),
                **options.get("weigh_image", {}),
            }
            _add_image(
                adata, runner, seed, n_runs, fuse_options, cluster_options, weigh_options, integrate
            )
            if not joint and not adata.uns[_keys.IMAGE_DECISION]["weight"]:
                runner.run(
                    "refine_with_image",
                    False,
                    refine_with_image,
                    {
                        "domain_key": key_added,
                        "seed": seed,
                        **options.get("refine_with_image", {}),
                    },
                    depends=["weigh_image"],
                )
    else:
        _trained_runs(
            adata,
            runner,
            method,
            n_domains,
            seed,
            n_runs,
            fuse_depends,
            options.get("fuse", {}),
            cluster_options,
            integrate,
        )
    image = image_decision(adata, read=plan.read, weighed=weighed, fixed_weight=fixed_weight)
    image["why"] = plan.why
    params = {
        "use_image": plan.read,
        "encoder": encoder if plan.read else None,
        "fusion": method,
        "n_runs": n_runs,
        "seed": seed,
        "key_added": key_added,
        "step_options": options,
    }
    return SlidesRun(params=params, image=image, steps=runner.steps)


def _integrate(
    runner: _StepRunner,
    integrate: tuple[Callable[..., Any], dict[str, Any]] | None,
    after: str,
    name: str,
) -> str:
    """Run the slide-effect removal after step ``after`` (several slides) as step
    ``integrate{name}``; return the step whose embedding is clustered."""
    if integrate is None:
        return after
    runner.run(f"integrate{name}", False, integrate[0], integrate[1], depends=[after])
    return f"integrate{name}"


def image_decision(
    adata: AnnData, *, read: bool, weighed: bool, fixed_weight: float | None
) -> dict[str, Any]:
    """What a run did with the image, for its record and ``report.json``: read or not, the
    mean per-spot weight, and :func:`weigh_image`'s decision or the weight the user gave."""
    record: dict[str, Any] = {"read": bool(read)}
    if read and _keys.FUSION_WEIGHT_IMAGE in adata.obs:
        record["mean_spot_weight"] = float(adata.obs[_keys.FUSION_WEIGHT_IMAGE].mean())
    if weighed and _keys.IMAGE_DECISION in adata.uns:
        record.update(adata.uns[_keys.IMAGE_DECISION])
    elif read and fixed_weight is not None:
        record.update(weight=float(fixed_weight), decision="image_weight given")
    return record


def _add_image(
    adata: AnnData,
    runner: _StepRunner,
    seed: int,
    n_runs: int,
    fuse_options: dict[str, Any],
    cluster_options: dict[str, Any],
    image_options: dict[str, Any],
    integrate: tuple[Callable[..., Any], dict[str, Any]] | None = None,
) -> None:
    """Weigh the image against the expression domains just found (:func:`weigh_image`); when
    it earns a weight, fuse it in and cluster again with the same number of domains.
    ``integrate`` is the function and keyword arguments of the step that joint runs place
    between fusion and clustering (:func:`sf.tl.integrate_slides`)."""
    from ._domains import cluster_domains
    from ._fuse import fuse

    key_added = cluster_options["key_added"]
    runner.run(
        "weigh_image",
        False,
        weigh_image,
        {"domain_key": key_added, "seed": seed, **image_options},
        depends=["cluster_domains", "encode"],
    )
    weight = float(adata.uns[_keys.IMAGE_DECISION]["weight"])
    if weight == 0:
        return
    n_domains = int(adata.uns[key_added]["params"]["n_domains"])
    runner.run(
        "fuse_with_image",
        False,
        fuse,
        {"method": "smoothed", "seed": seed, "image_weight": weight, **fuse_options},
        depends=["weigh_image"],
    )
    clustered = _integrate(runner, integrate, "fuse_with_image", "_with_image")
    runner.run(
        "cluster_domains_with_image",
        False,
        cluster_domains,
        {"n_domains": n_domains, "seed": seed, "n_runs": n_runs, **cluster_options},
        depends=[clustered, "spatial_graph"],
    )


def _trained_runs(
    adata: AnnData,
    runner: _StepRunner,
    method: str,
    n_domains: int | None,
    seed: int,
    n_runs: int,
    fuse_depends: list[str],
    fuse_options: dict[str, Any],
    cluster_options: dict[str, Any],
    integrate: tuple[Callable[..., Any], dict[str, Any]] | None,
) -> None:
    """Train ``n_runs`` fusion models (one seed each), cluster each embedding (after the
    slide-effect removal ``integrate`` of several slides) and combine the runs
    (:func:`_combine_runs`)."""
    from ._domains import cluster_domains
    from ._fuse import fuse

    run_seeds = [seed] if n_runs == 1 else [seed * n_runs + r for r in range(n_runs)]
    # each embedding is clustered once, unless K is to be chosen from several runs
    cluster_runs = 1 if n_domains is not None else max(n_runs, 2)
    key_added = cluster_options["key_added"]
    proba_key = key_added + _keys.DOMAIN_PROBA_SUFFIX
    runs: list[tuple[np.ndarray, np.ndarray, dict[str, Any]]] = []
    for r, run_seed in enumerate(run_seeds):
        suffix = f"[{r}]" if r else ""
        before = Snapshot.of(adata)
        runner.run(
            f"fuse{suffix}",
            False,
            fuse,
            {"method": method, "seed": run_seed, **fuse_options},
            depends=fuse_depends,
        )
        clustered = _integrate(runner, integrate, f"fuse{suffix}", suffix)
        runner.run(
            f"cluster_domains{suffix}",
            False,
            cluster_domains,
            {"n_domains": n_domains, "seed": run_seed, "n_runs": cluster_runs, **cluster_options},
            depends=[clustered, "spatial_graph"],
        )
        if len(run_seeds) > 1:
            labels, proba = adata.obs[key_added].to_numpy(), np.asarray(adata.obsm[proba_key])
            runs.append((labels, proba, before.delta(adata)))
    if runs:
        _combine_runs(adata, runs, run_seeds, key_added)


def _combine_runs(
    adata: AnnData,
    runs: list[tuple[np.ndarray, np.ndarray, dict[str, Any]]],
    run_seeds: list[int],
    key_added: str,
) -> None:
    """Keep the most agreeing run's outputs (embedding, parameters) and replace its domains
    by the mean of the runs' aligned posteriors (runs with as many domains as it has)."""
    kept, agreement = most_agreeing([labels for labels, _, _ in runs])
    apply_delta(adata, runs[kept][2])
    shape = runs[kept][1].shape
    combined = [i for i, (_, proba, _) in enumerate(runs) if proba.shape == shape]
    mean = mean_aligned_posterior([runs[i][1] for i in combined], combined.index(kept))
    categories = adata.obs[key_added].cat.categories
    adata.obs[key_added] = pd.Categorical.from_codes(mean.argmax(axis=1), categories=categories)
    adata.obsm[key_added + _keys.DOMAIN_PROBA_SUFFIX] = mean.astype(np.float32)
    adata.obs[key_added + _keys.DOMAIN_CONFIDENCE_SUFFIX] = mean.max(axis=1)
    adata.uns[key_added]["runs"] = {
        "seeds": run_seeds,
        "agreement_ari": agreement.round(4).tolist(),
        "kept": kept,
        "averaged": combined,
    }
    info(
        "kept the embedding of run %d of %d (seed %d, mean ARI %.3f to the other runs); "
        "domains from the mean posterior of %d runs",
        kept,
        len(runs),
        run_seeds[kept],
        (agreement[kept].sum() - 1) / (len(runs) - 1),
        len(combined),
    )
