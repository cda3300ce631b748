"""A synthetic Visium slide with known domains, gene programs and an H&E-like image.

Domains are wavy layered bands (contiguous, like cortical layers). Each domain has a gene
class (which marker program is up) and an image class (nuclei density, size and orientation).
The scenario decides which modality tells which domains apart, so fusion methods can be
checked against a known answer.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from scipy import ndimage, signal

from .. import _keys
from .._errors import ParameterError

Scenario = Literal["basic", "complementary", "corrupted_image", "missing_tiles"]
SCENARIOS = ("basic", "complementary", "corrupted_image", "missing_tiles")
LIBRARY_ID = "synthetic"
SPOT_DISTANCE_FULLRES = 150.0  # centre to centre, full-res px (Visium: 100 um)
SPOT_DIAMETER_FULLRES = 82.5  # Visium: 55 um spots
IMAGE_SCALEFACTORS = {"lowres": 0.05, "hires": 0.15}  # spots ~4 px (lowres), ~12 px (hires)
EOSIN = np.array([0.93, 0.72, 0.82])
HEMATOXYLIN = np.array([0.30, 0.18, 0.50])
GLASS = np.array([0.96, 0.96, 0.96])
COUNT_BLOCK_VALUES = 2**22  # counts drawn per block of spots (32 MiB of float64 means)


def _classes(scenario: str, n_domains: int) -> tuple[np.ndarray, np.ndarray]:
    """Gene class and image class of each domain.

    ``complementary`` and ``missing_tiles``: domains ``2k`` and ``2k+1`` share a gene class and
    differ only in image texture, while domains of equal parity share an image class and differ
    only in expression; only both modalities together separate every domain.
    """
    domains = np.arange(n_domains)
    if scenario in ("complementary", "missing_tiles"):
        return domains // 2, domains % 2
    return domains, domains


def _hex_grid(n_spots: int) -> tuple[np.ndarray, np.ndarray]:
    """Visium array coordinates of about ``n_spots`` spots on a roughly square hex grid."""
    n_rows = max(2, int(round(np.sqrt(n_spots * np.sqrt(3) / 2))))
    n_cols = int(np.ceil(n_spots / n_rows))
    rows, cols = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    rows, cols = rows.ravel()[:n_spots], cols.ravel()[:n_spots]
    return rows, 2 * cols + rows % 2


def _band_coordinate(x: np.ndarray, y: np.ndarray, extent: float, phase: float) -> np.ndarray:
    """Position across the wavy diagonal bands of full-res positions ``x, y``."""
    return (0.75 * x + 0.25 * y) / extent + 0.06 * np.sin(3 * np.pi * y / extent + phase)


def _counts(
    gene_class: np.ndarray, n_genes: int, n_gene_classes: int, rng: np.random.Generator
) -> sp.csr_matrix:
    """Negative-binomial counts: each gene class raises its own block of marker genes.

    Drawn in blocks of spots straight into a sparse matrix, so a large slide never holds a
    dense ``(n_spots, n_genes)`` array; the draws are the same as in one call.
    """
    base = rng.lognormal(mean=0.0, sigma=1.0, size=n_genes)
    n_markers = max(2, n_genes // (4 * n_gene_classes))
    log_fc = np.zeros((n_gene_classes, n_genes))
    markers = rng.permutation(n_genes)[: n_markers * n_gene_classes]
    for k in range(n_gene_classes):
        log_fc[k, markers[k * n_markers : (k + 1) * n_markers]] = rng.uniform(0.4, 1.0, n_markers)
    size_factor = rng.lognormal(mean=0.0, sigma=0.3, size=gene_class.size)
    dispersion = 2.0  # NB size parameter
    block = max(1, COUNT_BLOCK_VALUES // n_genes)
    blocks = []
    for start in range(0, gene_class.size, block):
        rows = slice(start, start + block)
        mean = size_factor[rows, None] * base[None, :] * np.exp(log_fc[gene_class[rows]])
        draws = rng.negative_binomial(dispersion, dispersion / (dispersion + mean))
        blocks.append(sp.csr_matrix(draws.astype(np.float32)))
    return sp.vstack(blocks, format="csr")


def _texture(
    shape: tuple[int, int], density: float, sigma: tuple[float, float], angle: float, rng
) -> np.ndarray:
    """Nuclei map in [0, 1]: Poisson points blurred by an oriented anisotropic Gaussian."""
    points = (rng.random(shape) < density).astype(np.float32)
    radius = int(np.ceil(3 * max(sigma)))
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1].astype(np.float32)
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * xx + s * yy, -s * xx + c * yy
    kernel = np.exp(-0.5 * ((u / sigma[0]) ** 2 + (v / sigma[1]) ** 2))
    nuclei = signal.fftconvolve(points, kernel / kernel.max(), mode="same")
    return np.clip(nuclei, 0.0, 1.0)


def _image(
    domain_of_pixel: np.ndarray, image_class: np.ndarray, px_per_spot: float, rng
) -> np.ndarray:
    """H&E-like RGB image: eosin background, hematoxylin nuclei with a texture per image class.

    Nuclei density rises with the class index, odd classes have elongated nuclei, and the
    orientation turns by 45 degrees every two classes.
    """
    shape = domain_of_pixel.shape
    pixel_class = image_class[domain_of_pixel]
    nuclei = np.zeros(shape, dtype=np.float32)
    nucleus = max(0.6, px_per_spot / 12)  # nucleus radius in image px
    n_classes = int(image_class.max()) + 1
    for k in range(n_classes):
        density = (0.04 + 0.10 * k / max(n_classes - 1, 1)) / nucleus**2
        elongation = 1.0 if k % 2 == 0 else 2.0
        sigma = (nucleus * elongation, nucleus / np.sqrt(elongation))
        angle = np.pi / 4 * (k // 2 % 4)
        nuclei = np.where(pixel_class == k, _texture(shape, density, sigma, angle, rng), nuclei)
    stain = 0.85 * nuclei[..., None]
    rgb = (1 - stain) * EOSIN + stain * HEMATOXYLIN
    rgb += rng.normal(0.0, 0.02, size=rgb.shape)
    return rgb


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return (np.clip(rgb, 0.0, 1.0) * 255).round().astype(np.uint8)


def synthetic(
    n_spots: int = 3000,
    n_domains: int = 6,
    n_genes: int = 200,
    *,
    scenario: Scenario = "complementary",
    image: Literal["lowres", "hires"] = "lowres",
    corrupted_fraction: float = 0.35,
    missing_fraction: float = 0.25,
    seed: int = 0,
) -> AnnData:
    """Simulate a Visium slide whose spatial domains are known.

    Parameters
    ----------
    n_spots
        Number of spots on the hexagonal grid.
    n_domains
        Number of spatial domains (wavy bands).
    n_genes
        Number of genes.
    scenario
        ``"basic"``: both modalities separate every domain. ``"complementary"``: pairs of
        domains differ only in image texture, others only in expression.
        ``"corrupted_image"``: as basic, but the image is blank (left half) or blurred
        (right half) over a vertical strip covering ``corrupted_fraction`` of the slide.
        ``"missing_tiles"``: as complementary, with ``missing_fraction`` of the spots
        having no tile (blank pixels, ``obs['tile_usable'] = False``).
    image
        Resolution of the simulated image: ``"lowres"`` (~4 px spots, as on DLPFC) or
        ``"hires"`` (~12 px spots).
    corrupted_fraction, missing_fraction
        Share of the slide / of the spots affected in the two damaged scenarios.
    seed
        Random seed; the same seed gives the same slide.

    Returns
    -------
    AnnData with raw counts in ``X``; ``obs`` columns ``array_row``, ``array_col``,
    ``in_tissue``, ``domain_truth``, ``gene_class``, ``image_class``; ``obs['image_corrupted']``
    (corrupted_image), ``obs['tile_usable']`` (missing_tiles); ``obsm['spatial']`` (full-res
    x, y); ``uns['spatial']['synthetic']`` with the image and ``scalefactors``.
    """
    if scenario not in SCENARIOS:
        raise ParameterError(f"scenario={scenario!r}; choose one of {SCENARIOS}.")
    if image not in IMAGE_SCALEFACTORS:
        raise ParameterError(f"image={image!r}; choose 'lowres' or 'hires'.")
    if n_domains < 2 or n_spots < 4 * n_domains or n_genes < 4 * n_domains:
        raise ParameterError(
            f"n_spots={n_spots}, n_domains={n_domains}, n_genes={n_genes}: ask for at least 2 "
            "domains, 4 spots and 4 genes per domain."
        )
    rng = np.random.default_rng(seed)
    rows, cols = _hex_grid(n_spots)
    margin = 2 * SPOT_DISTANCE_FULLRES
    x = margin + cols * SPOT_DISTANCE_FULLRES / 2
    y = margin + rows * SPOT_DISTANCE_FULLRES * np.sqrt(3) / 2
    extent_x, extent_y = x.max() + margin, y.max() + margin
    phase = rng.uniform(0, 2 * np.pi)
    spot_t = _band_coordinate(x, y, x.max(), phase)
    cuts = np.quantile(spot_t, np.linspace(0, 1, n_domains + 1)[1:-1])  # equal-sized domains
    domain = np.searchsorted(cuts, spot_t)
    gene_class, image_class = _classes(scenario, n_domains)

    scale = IMAGE_SCALEFACTORS[image]
    height, width = int(np.ceil(extent_y * scale)), int(np.ceil(extent_x * scale))
    py, px = np.mgrid[0:height, 0:width].astype(np.float64) / scale
    pixel_domain = np.searchsorted(cuts, _band_coordinate(px, py, x.max(), phase))
    rgb = _image(pixel_domain, image_class, SPOT_DISTANCE_FULLRES * scale, rng)

    obs = pd.DataFrame(
        {
            "in_tissue": 1,
            "array_row": rows,
            "array_col": cols,
            "domain_truth": pd.Categorical([f"D{d}" for d in domain]),
            "gene_class": pd.Categorical(gene_class[domain]),
            "image_class": pd.Categorical(image_class[domain]),
        },
        index=[f"spot{i:06d}-1" for i in range(n_spots)],
    )
    if scenario == "corrupted_image":
        lo, hi = np.quantile(x, [0.5 - corrupted_fraction / 2, 0.5 + corrupted_fraction / 2])
        mid = (lo + hi) / 2
        blank_px, blur_px = (px >= lo) & (px < mid), (px >= mid) & (px < hi)
        blur = int(round(3 * scale * SPOT_DISTANCE_FULLRES))
        blurred = ndimage.uniform_filter(rgb, size=(blur, blur, 1))
        rgb = np.where(blur_px[..., None], blurred, rgb)
        rgb = np.where(blank_px[..., None], GLASS + rng.normal(0, 0.01, rgb.shape), rgb)
        obs["image_corrupted"] = (x >= lo) & (x < hi)
    if scenario == "missing_tiles":
        usable = rng.random(n_spots) >= missing_fraction
        radius = SPOT_DIAMETER_FULLRES * scale
        for cx, cy in zip(x[~usable] * scale, y[~usable] * scale):
            y0, y1 = max(0, int(cy - radius)), int(np.ceil(cy + radius)) + 1
            x0, x1 = max(0, int(cx - radius)), int(np.ceil(cx + radius)) + 1
            rgb[y0:y1, x0:x1] = GLASS
        obs[_keys.TILE_USABLE] = usable

    counts = _counts(gene_class[domain], n_genes, int(gene_class.max()) + 1, rng)
    adata = AnnData(X=counts, obs=obs)
    adata.var_names = [f"gene{g:04d}" for g in range(n_genes)]
    adata.obsm[_keys.SPATIAL] = np.column_stack([x, y])
    adata.uns[_keys.SPATIAL] = {
        LIBRARY_ID: {
            "images": {image: _to_uint8(rgb)},
            "scalefactors": {
                "spot_diameter_fullres": SPOT_DIAMETER_FULLRES,
                "fiducial_diameter_fullres": SPOT_DIAMETER_FULLRES * 1.5,
                "tissue_hires_scalef": IMAGE_SCALEFACTORS["hires"],
                "tissue_lowres_scalef": IMAGE_SCALEFACTORS["lowres"],
            },
        }
    }
    adata.uns["synthetic"] = {"scenario": scenario, "n_domains": n_domains, "seed": seed}
    return adata
