"""Spatial domains of an AnnData: HMRF-regularised Gaussian mixture, label alignment, markers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp
from anndata import AnnData

from .. import _keys
from .._errors import InputError, ParameterError
from .._logging import info
from .._params import (
    FLAG,
    KEY,
    N_DOMAINS,
    N_RUNS,
    NON_NEGATIVE_REAL,
    POSITIVE_FRACTION,
    POSITIVE_INT,
    SEED,
    Options,
    Predicate,
    validate_params,
)
from .._settings import resolve_seed
from .._validation import (
    AUTO_N_DOMAINS_RANGE,
    check_n_domains,
    resolve_n_runs,
)
from ..cluster import (
    BEST_FRACTION,
    COVARIANCE_TYPES,
    INITS,
    align_labels,
    consensus_hmrf,
    select_n_domains,
)

MARKERS = _keys.MARKERS
WRITTEN_BY = {
    _keys.FUSED: "sf.tl.fuse",
    _keys.PCA: "sf.pp.preprocess",
    _keys.HISTOLOGY: "sf.im.encode",
}


def _representation(adata: AnnData, use_rep: str) -> np.ndarray:
    if use_rep not in adata.obsm:
        writer = WRITTEN_BY.get(use_rep)
        hint = f"Run {writer}(adata) first" if writer else "Compute it first"
        raise InputError(
            f"adata.obsm[{use_rep!r}] is missing (obsm has {list(adata.obsm)}). {hint}, or "
            "pass use_rep= naming an existing representation, e.g. use_rep='X_pca'."
        )
    X = np.asarray(adata.obsm[use_rep], dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != adata.n_obs or not np.isfinite(X).all():
        raise InputError(
            f"adata.obsm[{use_rep!r}] must be a finite (n_spots, n_dims) array; it has shape "
            f"{X.shape}{'' if np.isfinite(X).all() else ' and holds NaN or infinite values'}. "
            "Recompute it."
        )
    return X


def _graph(adata: AnnData, graph_key: str) -> sp.csr_matrix:
    if graph_key not in adata.obsp:
        raise InputError(
            f"adata.obsp[{graph_key!r}] is missing: the spatial neighbour graph is needed to "
            "smooth the domains. Run sf.gr.spatial_graph(adata) first, or pass graph_key= "
            "naming an existing graph."
        )
    return sp.csr_matrix(adata.obsp[graph_key])


def _aligned_order(mapping: dict, reference: pd.Series) -> list:
    ref_order = (
        list(reference.cat.categories)
        if isinstance(reference.dtype, pd.CategoricalDtype)
        else sorted(reference.dropna().unique(), key=str)
    )
    names = list(mapping.values())
    return [r for r in ref_order if r in names] + [n for n in names if n not in ref_order]


def _relabel(adata: AnnData, key: str, mapping: dict, order: list) -> None:
    """Rename the categories of ``obs[key]`` and reorder the columns of its probabilities."""
    old = list(adata.obs[key].cat.categories)
    codes = adata.obs[key].cat.codes.to_numpy()
    new_index = {name: i for i, name in enumerate(order)}
    new_codes = np.array([new_index[mapping[c]] for c in old])[codes]
    adata.obs[key] = pd.Categorical.from_codes(new_codes, categories=[str(n) for n in order])
    adata.uns.pop(key + _keys.COLORS_SUFFIX, None)  # colours are stored by position
    proba_key = key + _keys.DOMAIN_PROBA_SUFFIX
    if proba_key in adata.obsm and adata.obsm[proba_key].shape[1] == len(old):
        permutation = [old.index(next(c for c in old if mapping[c] == n)) for n in order]
        adata.obsm[proba_key] = np.asarray(adata.obsm[proba_key])[:, permutation]


def align_domains(
    adata: AnnData, key: str = _keys.DOMAIN, reference_key: str = "layer", *, copy: bool = False
) -> AnnData | None:
    """Rename the domains in ``obs[key]`` after the reference labels they overlap most.

    Hungarian matching (:func:`scipy.optimize.linear_sum_assignment`) on the contingency table
    of ``obs[key]`` and ``obs[reference_key]`` (spots with a missing reference are ignored),
    so colours stay stable across runs and slides. Domains without a partner keep a
    distinct name.

    Parameters
    ----------
    adata
        Reads ``obs[key]`` and ``obs[reference_key]``.
    key
        Categorical domain column to rename (written in place).
    reference_key
        Column of reference labels (e.g. an earlier run, or manual annotation).
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` or the copy. Rewrites ``obs[key]`` and reorders the columns of
    ``obsm[key + '_proba']`` (when present) to the new category order.
    """
    for name, role in ((key, "domain"), (reference_key, "reference")):
        if name not in adata.obs:
            raise InputError(
                f"adata.obs[{name!r}] ({role} labels) is missing (obs has "
                f"{list(adata.obs.columns)}). Run sf.tl.cluster_domains(adata) first, or pass "
                "the name of an existing column."
            )
    adata = adata.copy() if copy else adata
    if not isinstance(adata.obs[key].dtype, pd.CategoricalDtype):
        adata.obs[key] = adata.obs[key].astype(str).astype("category")
    reference = adata.obs[reference_key]
    mapping = align_labels(adata.obs[key].to_numpy(), reference.to_numpy())
    _relabel(adata, key, mapping, _aligned_order(mapping, reference))
    info("aligned %r to %r (adata.obs)", key, reference_key)
    return adata if copy else None


@validate_params(
    {
        "adata": [AnnData],
        "n_domains": N_DOMAINS,
        "use_rep": KEY,
        "graph_key": KEY,
        "covariance": [Options(COVARIANCE_TYPES)],
        "beta": [NON_NEGATIVE_REAL, Options(("auto",))],
        "n_domains_range": [
            Predicate(
                lambda r: (
                    isinstance(r, (tuple, list))
                    and len(r) == 2
                    and all(POSITIVE_INT(v) for v in r)
                    and r[0] <= r[1]
                ),
                "(low, high): two whole numbers, low <= high",
            )
        ],
        "reference_key": [str, None],
        "n_init": [POSITIVE_INT],
        "init": [Options(INITS)],
        "n_runs": N_RUNS,
        "best_fraction": [POSITIVE_FRACTION],
        "seed": SEED,
        "key_added": KEY,
        "copy": FLAG,
    }
)
def cluster_domains(
    adata: AnnData,
    n_domains: int | None = None,
    *,
    use_rep: str = _keys.FUSED,
    graph_key: str = _keys.SPATIAL_CONNECTIVITIES,
    covariance: str = "tied",
    beta: float | str = "auto",
    n_domains_range: tuple[int, int] = AUTO_N_DOMAINS_RANGE,
    reference_key: str | None = None,
    n_init: int = 5,
    init: str = "gmm",
    n_runs: int | str = "auto",
    best_fraction: float = BEST_FRACTION,
    seed: int | None = None,
    key_added: str = _keys.DOMAIN,
    copy: bool = False,
) -> AnnData | None:
    """Cluster spots into spatial domains with a spatially smoothed Gaussian mixture.

    Runs :func:`sf.cluster.hmrf_gmm`: a Gaussian mixture whose labels follow a Potts
    prior on the spatial graph (neighbouring spots tend to share a domain), fitted by
    mean-field EM. ``beta="auto"`` estimates the smoothing strength from the data by
    maximum pseudo-likelihood; ``beta=0`` is a plain Gaussian mixture.

    Parameters
    ----------
    adata
        Reads ``obsm[use_rep]`` and ``obsp[graph_key]``.
    n_domains
        Number of domains; when ``None``, the most stable ``K`` in ``n_domains_range``: the
        ``n_runs`` runs agree best with each other there (mean pairwise ARI; ties go to the
        larger ``K``; :func:`sf.cluster.select_n_domains`).
    use_rep
        ``obsm`` representation to cluster (``X_fused`` from :func:`sf.tl.fuse`, or
        ``X_pca`` from :func:`sf.pp.preprocess`).
    graph_key
        ``obsp`` spatial graph (:func:`sf.gr.spatial_graph`).
    covariance
        ``"tied"`` (mclust EEE), ``"full"`` (VVV), ``"diag"`` (VVI) or ``"spherical"`` (VII).
    beta
        Smoothing strength ``>= 0``, or ``"auto"``.
    n_domains_range
        Inclusive range searched when ``n_domains`` is ``None``.
    reference_key
        ``obs`` column to align the labels to (see :func:`align_domains`); labels are
        ``"0" .. "K-1"`` otherwise.
    n_init
        Starts of the initialisation.
    init
        ``"gmm"`` (a plain Gaussian mixture) or ``"kmeans"`` (the best k-means partition):
        where the HMRF EM starts, see :func:`sf.cluster.hmrf_gmm`.
    n_runs
        HMRF fits with seeds ``seed * n_runs`` onwards (``seed`` alone when ``1``); the
        domains are the argmax of the runs' posteriors (those ``best_fraction`` selects)
        averaged after matching their domains (:func:`sf.cluster.consensus_hmrf`).
        Choosing ``K`` automatically needs at least 2. ``"auto"``: a fixed budget of
        spot-fits spread over the runs, between 4 (a 4,000-spot slide) and 64 (small slides,
        where single runs vary most and runs are cheap).
    best_fraction
        Share of the runs, those of highest log-likelihood (at least two), whose posteriors
        are averaged; 1 averages every run.
    seed
        Random seed (``sf.settings.seed`` when ``None``); the result is deterministic for it.
    key_added
        Name of the result.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` or the copy. Writes ``obs[key_added]`` (categorical domains),
    ``obsm[key_added + '_proba']`` (posterior probabilities, columns in category order),
    ``obs[key_added + '_confidence']`` (largest posterior) and ``uns[key_added]`` with
    ``params``, ``n_domains``, ``beta``, ``beta_trace``, ``log_likelihood`` (per EM
    iteration), ``bic``, ``n_iter``, ``converged`` (those of the run agreeing most with the
    others), ``runs`` (seeds, pairwise ARI, kept run, stability; when ``n_runs > 1``) and,
    when ``K`` was chosen automatically, ``n_domains_scores``
    (``{'criterion': 'stability', 'n_domains': [...], 'stability': [...]}``).
    """
    n_runs = resolve_n_runs(n_runs, adata.n_obs)
    if n_domains is None and n_runs < 2:
        raise ParameterError(
            "n_domains=None chooses K by the agreement of several runs: pass n_runs >= 2, or "
            "give n_domains."
        )
    check_n_domains(adata.n_obs, n_domains)
    low, high = n_domains_range
    if n_domains is None:
        check_n_domains(adata.n_obs, low)
        high = min(high, adata.n_obs // 2)
    X = _representation(adata, use_rep)
    graph = _graph(adata, graph_key)
    if graph.shape != (adata.n_obs, adata.n_obs):
        raise InputError(
            f"adata.obsp[{graph_key!r}] has shape {graph.shape}, not ({adata.n_obs}, "
            f"{adata.n_obs}): it belongs to other spots. Rebuild it with "
            "sf.gr.spatial_graph(adata)."
        )
    adata = adata.copy() if copy else adata
    seed = resolve_seed(seed)

    seeds = [seed] if n_runs == 1 else [seed * n_runs + r for r in range(n_runs)]
    options: dict[str, Any] = {
        "covariance": covariance,
        "beta": beta,
        "n_init": n_init,
        "init": init,
        "best_fraction": best_fraction,
    }
    record: dict[str, Any] = {}
    if n_domains is None:
        n_domains, scores, consensus = select_n_domains(X, graph, (low, high), seeds, **options)
        record["n_domains_scores"] = {
            "criterion": "stability",
            "n_domains": np.array(list(scores), dtype=int),
            "stability": np.array(list(scores.values())),
        }
        info(
            "chose %d domains (the most stable over %d runs per K, %d..%d)",
            n_domains,
            n_runs,
            low,
            high,
        )
    else:
        consensus = consensus_hmrf(X, graph, n_domains, seeds, **options)
    consensus = consensus.with_every_domain()
    result = consensus.runs[consensus.kept]
    if n_runs > 1:
        record["runs"] = {
            "seeds": seeds,
            "agreement_ari": consensus.agreement.round(4),
            "kept": consensus.kept,
            "averaged": consensus.averaged,
            "stability": consensus.stability,
        }

    adata.obs[key_added] = pd.Categorical.from_codes(
        consensus.labels, categories=[str(k) for k in range(n_domains)]
    )
    adata.obsm[key_added + _keys.DOMAIN_PROBA_SUFFIX] = consensus.proba.astype(np.float32)
    adata.obs[key_added + _keys.DOMAIN_CONFIDENCE_SUFFIX] = consensus.proba.max(axis=1)
    if reference_key is not None:
        align_domains(adata, key_added, reference_key)
    adata.uns[key_added] = {
        "params": {
            "n_domains": int(n_domains),
            "use_rep": use_rep,
            "graph_key": graph_key,
            "covariance": covariance,
            "beta": str(beta),
            "n_domains_range": np.array([low, high]),
            "reference_key": reference_key,
            "n_init": n_init,
            "init": init,
            "n_runs": n_runs,
            "best_fraction": best_fraction,
            "seed": seed,
        },
        "n_domains": int(n_domains),
        "categories": np.array(adata.obs[key_added].cat.categories, dtype=str),
        "beta": result.beta,
        "beta_trace": np.array(result.beta_trace),
        "log_likelihood": np.array(result.log_likelihood),
        "bic": float(result.bic),
        "n_iter": result.n_iter,
        "converged": result.converged,
        **record,
    }
    if reference_key is None:
        del adata.uns[key_added]["params"]["reference_key"]
    info(
        "added %r (%d domains, beta=%.2f; adata.obs), %r, %r (adata.obsm/obs) and uns[%r]",
        key_added,
        n_domains,
        result.beta,
        key_added + _keys.DOMAIN_PROBA_SUFFIX,
        key_added + _keys.DOMAIN_CONFIDENCE_SUFFIX,
        key_added,
    )
    return adata if copy else None


def _log_normalised(adata: AnnData) -> AnnData:
    """``adata`` when ``X`` is log-normalised (``uns['log1p']``), else a log-normalised copy."""
    if "log1p" in adata.uns:
        return adata
    counts = adata.layers.get(_keys.COUNTS_LAYER, adata.X)
    data = AnnData(X=counts.copy(), obs=adata.obs.copy(), var=adata.var.copy())
    sc.pp.normalize_total(data, target_sum=1e4)
    sc.pp.log1p(data)
    info("adata.X is not log-normalised (no uns['log1p']); ranking genes on a normalised copy")
    return data


def domain_markers(
    adata: AnnData,
    *,
    groupby: str = _keys.DOMAIN,
    n_genes: int = 10,
    gene_symbols: str | None = None,
    key_added: str = MARKERS,
) -> pd.DataFrame:
    """Rank the marker genes of each domain (Wilcoxon test, one domain against the rest).

    Runs :func:`scanpy.tl.rank_genes_groups` on log-normalised expression (``X`` after
    :func:`sf.pp.preprocess`; raw counts are normalised on a copy).

    Parameters
    ----------
    adata
        Reads ``obs[groupby]`` and ``X`` (or ``layers['counts']``).
    groupby
        Domain column.
    n_genes
        Markers kept per domain.
    gene_symbols
        ``var`` column with readable gene names to report instead of ``var_names``.
    key_added
        ``uns`` key of the scanpy result.

    Returns
    -------
    Tidy table with columns ``domain``, ``gene``, ``score``, ``logfoldchange``, ``pval_adj``,
    ``n_genes`` rows per domain. Writes ``uns[key_added]`` (scanpy's rank_genes_groups layout).
    """
    if groupby not in adata.obs:
        raise InputError(
            f"adata.obs[{groupby!r}] is missing: run sf.tl.cluster_domains(adata) first, or pass "
            "groupby= naming an existing domain column."
        )
    if gene_symbols is not None and gene_symbols not in adata.var:
        raise InputError(
            f"adata.var[{gene_symbols!r}] is missing (var has {list(adata.var.columns)}); pass "
            "gene_symbols=None to report var_names."
        )
    sizes = adata.obs[groupby].value_counts()
    if (sizes < 2).any() or len(sizes) < 2:
        raise InputError(
            f"obs[{groupby!r}] needs at least two domains of at least two spots each to rank "
            f"markers (sizes: {sizes.to_dict()}). Cluster into fewer domains."
        )
    data = _log_normalised(adata)
    data.obs[groupby] = data.obs[groupby].astype(str).astype("category")
    sc.tl.rank_genes_groups(
        data, groupby, method="wilcoxon", n_genes=n_genes, use_raw=False, key_added=key_added
    )
    if data is not adata:
        adata.uns[key_added] = data.uns[key_added]
    table = sc.get.rank_genes_groups_df(data, group=None, key=key_added)
    if "group" not in table:  # scanpy omits the column when there is a single group
        table.insert(0, "group", data.obs[groupby].cat.categories[0])
    if gene_symbols is not None:
        table["names"] = adata.var[gene_symbols].reindex(table["names"]).to_numpy()
    table = table.rename(
        columns={
            "group": "domain",
            "names": "gene",
            "scores": "score",
            "logfoldchanges": "logfoldchange",
            "pvals_adj": "pval_adj",
        }
    )[["domain", "gene", "score", "logfoldchange", "pval_adj"]]
    info("added %r (Wilcoxon markers of %r, adata.uns)", key_added, groupby)
    return table.reset_index(drop=True)
