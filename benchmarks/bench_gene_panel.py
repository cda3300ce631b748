"""Gene-panel sensitivity: ways to build the gene representation, on every labelled slide.

``sf.tl.spatial_domains`` scores 0.39 on 151673 with its 2,000 most variable genes (scanpy
``seurat`` flavour, as the bundled demo) against 0.62 with the 5,000-gene file. The 2,000
genes that flavour ranks first are mostly weakly expressed (median log-expression 0.10
against 0.15 for the next 1,000), so scaling each to unit variance lets noise lead the PCA.
Each variant below replaces only the PCA that ``sf.pp.preprocess`` writes; the spatial graph
and the clustering are the package defaults at the annotated number of domains, seeds 0-4:

- ``base``: ``sf.pp.preprocess`` (3,000 ``seurat`` HVGs, scaled, 30 PCs);
- ``noscale``: the same without scaling;
- ``pearson``: analytic Pearson residuals (scanpy ``experimental``), 3,000 HVGs by residual
  variance, no scaling;
- ``minfracP``: genes detected in fewer than P % of spots dropped before the HVGs;
- ``shrinkQ``: each gene divided by ``sqrt(var + c)``, ``c`` the Q-th percentile of the
  genes' variances (between scaling, ``c = 0``, and not scaling);
- ``moranw`` / ``moransqrt`` / ``moransel10``: scaled genes weighted by their Moran's I on the
  spatial graph (``I``, ``sqrt(I)``), or only genes with ``I >= 0.1``;
- ``smoothpcaN``: the 30 components with the most *spatially coherent* variance: the ``N``
  leading PCs of the scaled HVGs averaged over 1-hop neighbourhoods, then their 30 leading
  PCs (the default averages after choosing the 30 PCs; these runs pass ``n_hops=0``).
- ``selfwA``: ``sf.pp.preprocess``'s PCs, each spot given weight ``A`` % against the mean of
  its neighbours (the default's 1-hop average gives a spot the weight of each neighbour:
  1/7 on a Visium grid, 1/9 on a legacy-ST grid); these runs pass ``n_hops=0``.
- ``regdepth``: the log-normalised HVGs with the linear effect of the spot's log library size
  removed (least squares, gene by gene) before scaling; ``regdepthpc``: the same removed from
  ``sf.pp.preprocess``'s PCs instead. On 151673's 2,000-gene panel the default splits layers
  3-5 into two domains whose spots differ by 0.3-0.6 in mean log depth.
- ``clipC``: ``sf.pp.preprocess``'s scaled genes clipped at ``C`` standard deviations instead
  of 10 (a sparse gene's rare detections reach 5-10 when scaled).
- ``reliab`` / ``reliab1``: scaled genes weighted by ``sqrt(r)`` / ``r``, ``r`` each gene's
  split-half reliability (counts split binomially in two halves, the correlation of their
  log-normalised values over spots, Spearman-Brown corrected to full depth): sampling noise
  of sparse genes down-weighted.
- ``exclhighF``: size factors without the genes above ``F`` % of any spot's counts
  (``normalize_total(exclude_highly_expressed=True)``); on 151673's 2,000-gene panel 41 genes
  above 5 % hold 38 % of the counts (10 genes, 4 % in the 5,000-gene file).
- ``tmedian`` / ``thalfmedian``: spots normalised to the slide's median (half the median)
  total count instead of 10,000; the failing inputs are the ones whose median total is
  smallest against 10,000 (151673: 1,193 counts; its 2,000-gene panel 367; thinned 595;
  her2st and MOB 1,400-9,800), where ``log1p`` bends a single count most.
- ``glmpca``: a count model instead of log-normalised genes: Poisson GLM-PCA (Townes et al.
  2019, Genome Biol 20:295) with the log library size as offset, 30 factors fitted by Adam
  (400 full-batch steps, a small ridge) on the 3,000 ``seurat`` HVGs' raw counts; the
  factors' principal axes replace the PCs.
- ``ensemble3``: one consensus of HMRF runs spread over three representations (``base``,
  ``clip3``, ``tmedian``), the same total number of runs (at least 2 each).

Slides: the eight of ``_slides.SLIDES`` plus 151673 and 151674 restricted to their 2,000 and
3,000 ``seurat`` HVGs, and with their counts binomially thinned to 50 % (seed 0, as
``bench_generalisation.py``). Writes ``results/gene_panel.json`` and ``results/gene_panel.md``.
Each (slide, panel, variant) is cached in ``benchmarks/.cache/gene_panel/`` (JSON lines).

Run: ``.venv/bin/python benchmarks/bench_gene_panel.py [VARIANT ...]`` (about 4 min per
variant on 2 cores); ``--report`` only rewrites the tables from the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from multiprocessing import get_context
from pathlib import Path

import numpy as np

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, mean_sd, write_results  # noqa: E402

CACHE = REPO / "benchmarks" / ".cache" / "gene_panel" / "runs.jsonl"
VARIANTS = (
    "base",
    "noscale",
    "pearson",
    "minfrac1",
    "minfrac5",
    "shrink10",
    "shrink50",
    "moranw",
    "moransqrt",
    "moransel10",
    "smoothpca50",
    "smoothpca100",
    "selfw30",
    "selfw50",
    "regdepth",
    "regdepthpc",
    "clip3",
    "clip5",
    "reliab",
    "reliab1",
    "exclhigh5",
    "exclhigh10",
    "tmedian",
    "thalfmedian",
    "ensemble3",
    "glmpca",
)
SEEDS = range(5)
N_TOP = 3000
N_COMPS = 30


Panel = int | str | None  # a number of genes, "depth0.5" (binomially thinned counts) or None


def _datasets() -> list[tuple[str, Panel]]:
    from _slides import SLIDES

    out: list[tuple[str, Panel]] = [(name, None) for name in SLIDES]
    for name in ("151673", "151674"):
        out += [(name, 2000), (name, 3000), (name, "depth0.5")]
    return out


def _column(name: str, panel: Panel) -> str:
    if panel is None:
        return name
    return f"{name} ({panel} genes)" if isinstance(panel, int) else f"{name} ({panel})"


def _load(name: str, n_genes: Panel):
    import scanpy as sc
    import scipy.sparse as sp
    from _slides import SLIDES, load

    full = load(SLIDES[name])
    if n_genes is None:
        return full
    if isinstance(n_genes, str):  # the thinning of bench_generalisation.py (same seed)
        counts = sp.csr_matrix(full.X)
        depth = float(n_genes[len("depth") :])
        data = np.random.default_rng(0).binomial(counts.data.astype(np.int64), depth)
        full.X = sp.csr_matrix(
            (data.astype(np.float32), counts.indices, counts.indptr), counts.shape
        )
        return full[np.asarray(full.X.sum(axis=1)).ravel() > 0].copy()
    lognorm = full.copy()
    sc.pp.normalize_total(lognorm, target_sum=1e4)
    sc.pp.log1p(lognorm)
    hvg = sc.pp.highly_variable_genes(lognorm, n_top_genes=n_genes, flavor="seurat", inplace=False)[
        "highly_variable"
    ].to_numpy()
    return full[:, hvg].copy()


def _split_reliability(adata, genes) -> np.ndarray:
    """Each gene's split-half reliability at full depth (count splitting, Spearman-Brown)."""
    import scipy.sparse as sp

    counts = sp.csr_matrix(adata.X)
    rng = np.random.default_rng(0)
    half = counts.copy()
    half.data = rng.binomial(counts.data.astype(np.int64), 0.5).astype(np.float64)
    other = counts - half
    columns = adata.var_names.get_indexer(genes)
    logs = []
    for part in (half, other):
        total = np.maximum(np.asarray(part.sum(axis=1)).ravel(), 1)
        logs.append(np.log1p(part[:, columns].toarray() * (1e4 / total)[:, None]))
    a, b = (x - x.mean(axis=0) for x in logs)
    r = (a * b).sum(axis=0) / np.maximum(np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0)), 1e-12)
    return 2 * r / (1 + np.abs(r))


def _representation(adata, variant: str) -> np.ndarray:
    """The matrix the variant runs PCA on (spots x genes)."""
    import scanpy as sc
    import scipy.sparse as sp

    a = adata.copy()
    if variant == "pearson":
        if N_TOP < a.n_vars:
            sc.experimental.pp.highly_variable_genes(
                a, n_top_genes=N_TOP, flavor="pearson_residuals"
            )
            a = a[:, a.var["highly_variable"].to_numpy()].copy()
        sc.experimental.pp.normalize_pearson_residuals(a)
        return np.asarray(a.X, dtype=np.float32)
    detected = np.asarray((a.X > 0).mean(axis=0)).ravel()
    if variant.startswith("exclhigh"):
        fraction = float(variant[len("exclhigh") :]) / 100
        sc.pp.normalize_total(
            a, target_sum=1e4, exclude_highly_expressed=True, max_fraction=fraction
        )
    else:
        sc.pp.normalize_total(a, target_sum=1e4)
    sc.pp.log1p(a)
    if variant.startswith("minfrac"):
        a = a[:, detected >= float(variant[len("minfrac") :]) / 100].copy()
    if N_TOP < a.n_vars:
        sc.pp.highly_variable_genes(a, n_top_genes=N_TOP, flavor="seurat")
        a = a[:, a.var["highly_variable"].to_numpy()].copy()
    X = a.X.toarray() if sp.issparse(a.X) else np.asarray(a.X)
    if variant == "regdepth":
        X = X - X.mean(axis=0)
        depth = np.log(np.asarray(adata.X.sum(axis=1)).ravel())
        depth = (depth - depth.mean())[:, None]
        X = X - depth @ ((depth.T @ X) / float((depth * depth).sum()))
    if variant == "noscale":
        return X.astype(np.float32)
    if variant.startswith("reliab"):
        r = _split_reliability(adata, a.var_names)
        power = 1.0 if variant == "reliab1" else 0.5
        return (sc.pp.scale(X, max_value=10) * np.maximum(r, 0) ** power).astype(np.float32)
    if variant.startswith("shrink"):
        X = X - X.mean(axis=0)
        var = X.var(axis=0)
        floor = np.quantile(var, float(variant[len("shrink") :]) / 100)
        return np.clip(X / np.sqrt(var + floor), -10, 10).astype(np.float32)
    clip = float(variant[len("clip") :]) if variant.startswith("clip") else 10
    X = sc.pp.scale(X, max_value=clip).astype(np.float32)
    if variant.startswith("smoothpca"):
        from spatialfuse.cluster import neighbourhood_mean

        n_comps = min(int(variant[len("smoothpca") :]), X.shape[1] - 1)
        pcs = sc.pp.pca(X, n_comps=n_comps, random_state=0)
        return neighbourhood_mean(pcs, adata.obsp["spatial_connectivities"], 1)
    if variant.startswith("moran"):
        W = sp.csr_matrix(adata.obsp["spatial_connectivities"])
        W = sp.diags(1 / np.maximum(np.asarray(W.sum(axis=1)).ravel(), 1e-12)) @ W
        moran = np.maximum((X * (W @ X)).sum(axis=0) / np.maximum((X * X).sum(axis=0), 1e-12), 0)
        if variant == "moranw":
            return X * moran
        if variant == "moransqrt":
            return X * np.sqrt(moran)
        return X[:, moran >= float(variant[len("moransel") :]) / 100]
    return X


ENSEMBLE = ("base", "clip3", "tmedian")


def _glmpca(counts: np.ndarray, n_factors: int = N_COMPS, steps: int = 400) -> np.ndarray:
    """Poisson GLM-PCA with the log library size as offset; the factors' principal axes."""
    import torch

    torch.manual_seed(0)
    Y = torch.as_tensor(counts, dtype=torch.float32)
    offset = torch.log(Y.sum(dim=1, keepdim=True))
    gene = torch.log(Y.sum(dim=0) / torch.exp(offset).sum()).requires_grad_()
    U = (0.01 * torch.randn(Y.shape[0], n_factors)).requires_grad_()
    V = (0.01 * torch.randn(Y.shape[1], n_factors)).requires_grad_()
    optimiser = torch.optim.Adam([U, V, gene], lr=0.05)
    for _ in range(steps):
        optimiser.zero_grad()
        eta = offset + gene + U @ V.T
        ridge = (U * U).sum() + (V * V).sum() * Y.shape[0] / Y.shape[1]
        loss = (torch.exp(eta) - Y * eta).sum() / Y.shape[0] + 1e-3 * ridge
        loss.backward()
        optimiser.step()
    M = (U @ V.T).detach().double().numpy()
    u, singular, _ = np.linalg.svd(M - M.mean(axis=0), full_matrices=False)
    return (u[:, :n_factors] * singular[:n_factors]).astype(np.float32)


def _ensemble(adata, k: int, seed: int) -> np.ndarray:
    """Consensus of HMRF runs spread over the representations of ``ENSEMBLE``."""
    import scanpy as sc

    import spatialfuse as sf
    from spatialfuse._validation import resolve_n_runs
    from spatialfuse.cluster import (
        hmrf_gmm,
        mean_aligned_posterior,
        most_agreeing,
        neighbourhood_mean,
    )

    graph = adata.obsp["spatial_connectivities"]
    views = []
    for variant in ENSEMBLE:
        a = adata.copy()
        if variant == "base":
            sf.pp.preprocess(a, seed=0)
            pcs = a.obsm[sf._keys.PCA]
        elif variant == "tmedian":
            sf.pp.preprocess(a, seed=0, target_sum=float(np.median(np.asarray(a.X.sum(axis=1)))))
            pcs = a.obsm[sf._keys.PCA]
        else:
            pcs = sc.pp.pca(_representation(a, variant), n_comps=N_COMPS, random_state=0)
        views.append(neighbourhood_mean(np.asarray(pcs, dtype=np.float64), graph, 1))
    per_view = max(2, -(-resolve_n_runs("auto", adata.n_obs) // len(views)))
    runs = [
        hmrf_gmm(X, graph, k, seed=(seed * per_view + r) * len(views) + v, show_progress=False)
        for v, X in enumerate(views)
        for r in range(per_view)
    ]
    kept, _ = most_agreeing([run.labels for run in runs])
    labels = mean_aligned_posterior([run.proba for run in runs], kept).argmax(axis=1)
    if np.bincount(labels, minlength=k).min() == 0:
        labels = runs[kept].labels
    return labels


def _task(job: tuple[str, int | None, str]) -> list[dict]:
    import scanpy as sc
    import scipy.sparse as sp
    from _slides import SLIDES, n_domains

    import spatialfuse as sf

    name, n_genes, variant = job
    sf.settings.progress = False
    sf.settings.verbosity = "WARNING"
    base = _load(name, n_genes)
    sf.gr.spatial_graph(base)
    if variant == "base":
        sf.pp.preprocess(base, seed=0)
    elif variant.startswith("ensemble"):
        pass
    elif variant in ("tmedian", "thalfmedian"):
        median = float(np.median(np.asarray(base.X.sum(axis=1)).ravel()))
        sf.pp.preprocess(base, seed=0, target_sum=median / (2 if variant == "thalfmedian" else 1))
    elif variant == "regdepthpc":
        sf.pp.preprocess(base, seed=0)
        X = base.obsm[sf._keys.PCA].astype(np.float64)
        depth = np.log(np.asarray(base.layers[sf._keys.COUNTS_LAYER].sum(axis=1)).ravel())
        depth = (depth - depth.mean())[:, None]
        X = X - depth @ ((depth.T @ X) / float((depth * depth).sum()))
        base.obsm[sf._keys.PCA] = X.astype(np.float32)
    elif variant == "glmpca":
        genes = np.ones(base.n_vars, dtype=bool)
        if N_TOP < base.n_vars:
            lognorm = base.copy()
            sc.pp.normalize_total(lognorm, target_sum=1e4)
            sc.pp.log1p(lognorm)
            genes = sc.pp.highly_variable_genes(
                lognorm, n_top_genes=N_TOP, flavor="seurat", inplace=False
            )["highly_variable"].to_numpy()
        counts = base.X[:, genes]
        counts = counts.toarray() if sp.issparse(counts) else np.asarray(counts)
        base.obsm[sf._keys.PCA] = _glmpca(counts)
        base.layers[sf._keys.COUNTS_LAYER] = base.X.copy()
    elif variant.startswith("selfw"):
        sf.pp.preprocess(base, seed=0)
        share = float(variant[len("selfw") :]) / 100
        X = base.obsm[sf._keys.PCA]
        W = sp.csr_matrix(base.obsp["spatial_connectivities"], dtype=bool).astype(np.float64)
        W.setdiag(0)
        W = sp.diags(1 / np.maximum(np.asarray(W.sum(axis=1)).ravel(), 1)) @ W
        base.obsm[sf._keys.PCA] = share * X + (1 - share) * (W @ X)
    else:
        X = _representation(base, variant)
        base.obsm[sf._keys.PCA] = sc.pp.pca(X, n_comps=N_COMPS, random_state=0)
        base.layers[sf._keys.COUNTS_LAYER] = base.X.copy()
    truth = base.obs[SLIDES[name].truth].to_numpy(dtype=object)
    if variant.startswith("ensemble"):
        return [
            {
                "slide": name,
                "genes": n_genes,
                "variant": variant,
                "seed": seed,
                "ari": sf.metrics.ari(truth, _ensemble(base, n_domains(SLIDES[name]), seed)),
            }
            for seed in SEEDS
        ]
    # these components are already neighbourhood averages
    averaged = variant.startswith(("smoothpca", "selfw"))
    options = {"fuse": {"n_hops": 0}} if averaged else None
    out = []
    for seed in SEEDS:
        adata = base.copy()
        k = n_domains(SLIDES[name])
        sf.tl.spatial_domains(adata, k, seed=seed, use_image=False, step_options=options)
        labels = adata.obs[sf._keys.DOMAIN].to_numpy()
        out.append(
            {
                "slide": name,
                "genes": n_genes,
                "variant": variant,
                "seed": seed,
                "ari": sf.metrics.ari(truth, labels),
            }
        )
    return out


def _cached() -> list[dict]:
    if not CACHE.exists():
        return []
    return [json.loads(line) for line in CACHE.read_text().splitlines() if line]


def _run(variants: list[str]) -> None:
    done = {(r["slide"], r["genes"], r["variant"]) for r in _cached()}
    jobs = [(n, g, v) for v in variants for n, g in _datasets() if (n, g, v) not in done]
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with get_context("spawn").Pool(2) as pool:
        for records in pool.imap_unordered(_task, jobs):
            with CACHE.open("a") as file:
                file.writelines(json.dumps(r) + "\n" for r in records)


def _report() -> None:
    records = _cached()
    columns = [_column(n, g) for n, g in _datasets()]
    slides = [n for n, g in _datasets() if g is None]
    table: dict[str, dict[str, list[float]]] = {}
    for r in records:
        column = _column(r["slide"], r["genes"])
        table.setdefault(r["variant"], {}).setdefault(column, []).append(r["ari"])
    lines = [
        "# Gene-panel sensitivity",
        "",
        "Generated by `benchmarks/bench_gene_panel.py` (its docstring describes each variant). "
        "ARI, mean ± sd over seeds 0-4, annotated K; *mean (8 slides)* is over the eight "
        "labelled slides, *panel spread* is the largest minus the smallest mean ARI of 151673 "
        "at 2,000 / 3,000 / 5,000 genes (target <= 0.05). `base`, `smoothpca*`, `clip*`, "
        "`reliab*`, `exclhigh*`, `*median` and `ensemble3` were measured with the current "
        "consensus (up to 64 runs on the small slides, all averaged); `glmpca` while the "
        "consensus averaged the best three quarters of the runs by likelihood (`base` with "
        "it: mean 0.463, 151673 at 2,000 genes 0.388, at 50 % depth 0.550); the other rows "
        "with the earlier bound of 16 runs (`base` then: mean 0.460, A1 0.760, C1 0.406, MOB "
        "0.411).",
        "",
        "| variant | " + " | ".join(columns) + " | mean (8 slides) | panel spread |",
        "|---" * (len(columns) + 3) + "|",
    ]
    summary = {}
    for variant in [v for v in VARIANTS if v in table]:
        row = table[variant]
        if not all(c in row for c in slides):
            continue
        mean = float(np.mean([np.mean(row[s]) for s in slides]))
        panel = [np.mean(row[c]) for c in ("151673 (2000 genes)", "151673 (3000 genes)", "151673")]
        spread = float(max(panel) - min(panel))
        summary[variant] = {"mean": mean, "panel_spread_151673": spread}
        cells = " | ".join(mean_sd(row[c]) if c in row else "–" for c in columns)
        lines.append(f"| `{variant}` | {cells} | {mean:.3f} | {spread:.3f} |")
    write_results("gene_panel", {"records": records, "summary": summary}, "\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", help=f"any of {', '.join(VARIANTS)} (all)")
    parser.add_argument("--report", action="store_true", help="only rewrite the tables")
    args = parser.parse_args()
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}")
    if not args.report:
        _run(args.variants or list(VARIANTS))
    _report()


if __name__ == "__main__":
    main()
