"""A demo slide annotated with fake spatialfuse results (layers as domains), for the plots."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

import spatialfuse as sf

matplotlib.use("Agg")


@pytest.fixture
def annotated():
    """Demo slide, labelled spots only; domains = manual layers, fake weights and history."""
    adata = sf.datasets.demo()
    adata = adata[adata.obs["layer"].notna()].copy()
    adata.obs["spatialfuse_domain"] = adata.obs["layer"].astype(str).astype("category")
    x = adata.obsm["spatial"][:, 0]
    adata.obs["fusion_weight_image"] = (x - x.min()) / (x.max() - x.min())
    adata.obs["fusion_weight_gene"] = 1 - adata.obs["fusion_weight_image"]
    onehot = pd.get_dummies(adata.obs["spatialfuse_domain"]).to_numpy(dtype=float)
    adata.obsm["X_fused"] = 3 * onehot + np.random.default_rng(0).normal(size=onehot.shape)
    epochs = np.arange(40)
    adata.uns["X_fused"] = {
        "history": {
            "loss": (2 * np.exp(-epochs / 10) + 1).tolist(),
            "gene/reconstruction": (np.exp(-epochs / 8) + 0.5).tolist(),
            "image/reconstruction": (np.exp(-epochs[:25] / 5) + 0.2).tolist(),
        }
    }
    return adata
