"""sf.io exports: each file read back by an independent reader."""

from __future__ import annotations

import base64
import io
import json
import re

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from PIL import Image

import spatialfuse as sf
from spatialfuse._errors import OutputExistsError

KEY = "spatialfuse_domain"
DATA_SCRIPT = re.compile(
    r'<script type="application/json" id="spatialfuse-data">(.*?)</script>', re.S
)


@pytest.fixture
def annotated():
    """Demo slide with the manual layers as domains (NaN kept) and a fake confidence."""
    adata = sf.datasets.demo()
    adata.obs[KEY] = adata.obs["layer"].astype("category")
    adata.obs[KEY + "_confidence"] = np.linspace(0.2, 1.0, adata.n_obs)
    return adata


def _page_data(path) -> dict:
    return json.loads(DATA_SCRIPT.search(path.read_text(encoding="utf-8")).group(1))


def test_domains_csv(annotated, tmp_path):
    path = sf.io.export_domains_csv(annotated, tmp_path / "domains.csv")
    table = pd.read_csv(path)
    assert list(table.columns) == ["barcode", "domain", "confidence"]
    assert table["barcode"].tolist() == annotated.obs_names.tolist()
    assert np.allclose(table["confidence"], annotated.obs[KEY + "_confidence"])


def test_loupe_csv_is_barcode_then_category(annotated, tmp_path):
    path = sf.io.export_loupe_csv(annotated, tmp_path / "loupe.csv", name="layers")
    lines = path.read_text().splitlines()
    assert lines[0] == "Barcode,layers"
    table = pd.read_csv(path)
    labelled = annotated.obs[KEY].notna()
    assert len(table) == labelled.sum()  # unlabelled spots are left out: Loupe leaves them blank
    expected = annotated.obs.loc[labelled, KEY].astype(str)
    assert dict(zip(table["Barcode"], table["layers"], strict=True)) == expected.to_dict()


def test_h5ad_round_trip(annotated, tmp_path):
    path = sf.io.export_h5ad(annotated, tmp_path / "adata.h5ad")
    back = ad.read_h5ad(path)
    assert back.obs[KEY].astype(str).tolist() == annotated.obs[KEY].astype(str).tolist()
    assert np.array_equal(back.obsm["spatial"], annotated.obsm["spatial"])


def test_spatialdata_store(annotated, tmp_path):
    spatialdata = pytest.importorskip("spatialdata")
    path = sf.io.export_spatialdata(annotated, tmp_path / "slide.zarr")
    sdata = spatialdata.read_zarr(path)
    spots = sdata.shapes["spots"]
    assert np.allclose(np.c_[spots.geometry.x, spots.geometry.y], annotated.obsm["spatial"])
    assert np.allclose(spots["radius"], 96.40082438014726 / 2)
    table = sdata.tables["table"]
    assert table.obs[KEY].astype(str).tolist() == annotated.obs[KEY].astype(str).tolist()
    image = sdata.images["151673_lowres"]
    assert image.shape == (3, 600, 600)
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        sf.io.export_spatialdata(annotated, path)
    sf.io.export_spatialdata(annotated[:100].copy(), path, overwrite=True)
    assert spatialdata.read_zarr(path).tables["table"].n_obs == 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slide.zarr"]


def test_html_is_one_self_contained_file(annotated, tmp_path):
    annotated.obs.loc[annotated.obs_names[:5], KEY + "_confidence"] = np.nan
    path = sf.io.export_html(annotated, tmp_path / "map.html")
    page = path.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "<link" not in page and "import(" not in page and "fetch(" not in page
    assert re.findall(r"<script[^>]*>", page) == [
        '<script type="application/json" id="spatialfuse-data">',
        "<script>",
    ]
    data = _page_data(path)
    scale = annotated.uns["spatial"]["151673"]["scalefactors"]["tissue_lowres_scalef"]
    assert np.allclose(np.c_[data["x"], data["y"]], annotated.obsm["spatial"] * scale, atol=0.01)
    assert data["barcodes"] == annotated.obs_names.tolist()
    assert data["confidence"][:6] == [None] * 5 + [pytest.approx(0.2 + 0.8 * 5 / 3638, 1e-3)]
    png = base64.b64decode(data["image"].removeprefix("data:image/png;base64,"))
    image = np.asarray(Image.open(io.BytesIO(png)))
    assert np.array_equal(image, annotated.uns["spatial"]["151673"]["images"]["lowres"])
    names = [d["name"] for d in data["domains"]]
    assert names == [*annotated.obs[KEY].cat.categories, "unlabelled"]
    labels = annotated.obs[KEY].astype(str).where(annotated.obs[KEY].notna(), "unlabelled")
    assert [names[c] for c in data["domain"]] == labels.tolist()
    assert [d["color"] for d in data["domains"][:-1]] == annotated.uns[KEY + "_colors"]


def test_html_without_image_draws_full_resolution_positions(annotated, tmp_path):
    data = _page_data(sf.io.export_html(annotated, tmp_path / "map.html", image=None))
    assert data["image"] is None
    xy = np.c_[data["x"], data["y"]]
    spots = annotated.obsm["spatial"]
    assert np.allclose(xy - xy[0], spots - spots[0], atol=0.01)  # shifted, not scaled
    assert (xy > 0).all() and (xy < [data["width"], data["height"]]).all()


def test_html_lists_each_spots_highest_expressed_genes(annotated, tmp_path):
    data = _page_data(sf.io.export_html(annotated, tmp_path / "map.html", top_genes=3))
    assert data["geneSource"] == "expression"
    for spot in (0, 1000, annotated.n_obs - 1):
        row = annotated.X[spot].toarray().ravel()
        shown = [data["genes"][g] for g in data["spotGenes"][spot]]
        assert np.all(row[annotated.var_names.get_indexer(shown)] >= np.sort(row)[-3])
        assert len(set(shown)) == 3


def test_html_lists_the_domain_markers(annotated, tmp_path):
    sc.pp.normalize_total(annotated)
    sc.pp.log1p(annotated)
    labelled = annotated[annotated.obs[KEY].notna()].copy()
    sc.tl.rank_genes_groups(labelled, KEY, method="t-test", key_added="spatialfuse_markers")
    data = _page_data(sf.io.export_html(labelled, tmp_path / "map.html", top_genes=2))
    assert data["geneSource"] == "markers"
    markers = labelled.uns["spatialfuse_markers"]["names"]
    for domain, genes in zip(data["domains"], data["domainGenes"], strict=True):
        assert [data["genes"][g] for g in genes] == list(markers[domain["name"]][:2])


def test_html_escapes_names_that_would_end_the_script(annotated, tmp_path):
    evil = '</script><script>alert("x")</script>'
    annotated.obs[KEY] = annotated.obs[KEY].cat.rename_categories({"L1": evil})
    path = sf.io.export_html(annotated, tmp_path / "map.html", title="<b>slide</b>")
    page = path.read_text(encoding="utf-8")
    assert page.count("</script>") == 2
    assert "<title>&lt;b&gt;slide&lt;/b&gt;</title>" in page
    assert evil in [d["name"] for d in _page_data(path)["domains"]]
