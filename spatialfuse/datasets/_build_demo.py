"""Build the bundled demo slide from the DLPFC 151673 h5ad (a development tool, run by hand).

``python -m spatialfuse.datasets._build_demo [SOURCE]`` rewrites
``spatialfuse/datasets/data/dlpfc_151673_demo.h5ad`` from ``SOURCE`` (by default
``../shared/data/dlpfc/h5ad/151673_hvg5000.h5ad`` next to the repository). The package never
imports this module: :func:`spatialfuse.datasets.demo` only reads the file it wrote.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anndata as ad
import scanpy as sc
from anndata import AnnData

from .. import _keys
from .._atomic import atomic_path
from ._demo import DEMO_FILE, DEMO_LIBRARY, LAYER_KEY

N_GENES = 2000
OBS_COLUMNS = ["in_tissue", "array_row", "array_col", LAYER_KEY]
DEFAULT_SOURCE = Path(__file__).resolve().parents[3] / "shared/data/dlpfc/h5ad/151673_hvg5000.h5ad"
TARGET = Path(__file__).resolve().parent / "data" / DEMO_FILE
CITATION = (
    "spatialLIBD DLPFC section 151673 (Maynard, Collado-Torres et al., Nat Neurosci 24:425, "
    "2021); counts from prabhakarlab/Banksy, image, positions and layers from "
    "LieberInstitute/HumanPilot"
)


def build_demo(source: str | Path = DEFAULT_SOURCE) -> AnnData:
    """The demo slide: the ``N_GENES`` most variable genes of ``source``, raw counts in ``X``.

    Genes are ranked by :func:`scanpy.pp.highly_variable_genes` (``flavor="seurat"``) on
    log-normalised counts; ``X`` keeps the raw counts. ``var_names`` are gene symbols (as
    :func:`scanpy.read_10x_h5` gives) with the Ensembl ids in ``var['gene_ids']``; ``obs``
    keeps ``in_tissue``, ``array_row``, ``array_col`` and the manual layer ``layer``;
    ``uns['spatial']['151673']`` the lowres H&E and the scale factors.
    """
    full = ad.read_h5ad(source)
    lognorm = full.copy()
    sc.pp.normalize_total(lognorm, target_sum=1e4)
    sc.pp.log1p(lognorm)
    sc.pp.highly_variable_genes(lognorm, n_top_genes=N_GENES, flavor="seurat")
    demo = full[:, lognorm.var["highly_variable"].to_numpy()].copy()
    demo.obs = demo.obs[OBS_COLUMNS].copy()
    demo.var = demo.var[["gene_ids"]].copy()
    demo.var_names = full.var.loc[demo.var_names, "symbol"].astype(str).to_numpy()
    demo.var_names_make_unique()
    library = full.uns[_keys.SPATIAL][DEMO_LIBRARY]
    demo.uns[_keys.SPATIAL] = {
        DEMO_LIBRARY: {
            "images": {"lowres": library["images"]["lowres"]},
            "scalefactors": dict(library["scalefactors"]),
            "metadata": {"source": CITATION},
        }
    }
    return demo


def write_demo(source: str | Path = DEFAULT_SOURCE, target: str | Path = TARGET) -> Path:
    """Build the demo from ``source`` and write it, gzip-compressed, to ``target``."""
    with atomic_path(target) as tmp:
        build_demo(source).write_h5ad(tmp, compression="gzip")
    return Path(target)


if __name__ == "__main__":
    written = write_demo(*sys.argv[1:2])
    print(f"wrote {written} ({written.stat().st_size:,} bytes)")
