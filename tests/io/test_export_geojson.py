"""GeoJSON export: valid domain polygons that cover their spots and do not overlap."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import shapely
from matplotlib.colors import to_rgb
from shapely.geometry import shape

import spatialfuse as sf

KEY = "spatialfuse_domain"


@pytest.fixture
def annotated():
    adata = sf.datasets.demo()
    adata.obs[KEY] = adata.obs["layer"].astype("category")
    adata.obs[KEY + "_confidence"] = np.linspace(0.2, 1.0, adata.n_obs)
    return adata


def _hex_lattice(n_rows: int, n_cols: int, spacing: float, angle: float) -> np.ndarray:
    """Centres of a hexagonal grid (rows offset by half a spacing), rotated by ``angle``."""
    rows, cols = np.mgrid[:n_rows, :n_cols]
    x = (cols + 0.5 * (rows % 2)) * spacing
    y = rows * spacing * np.sqrt(3) / 2
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.c_[x.ravel(), y.ravel()] @ rotation.T + 5000


def test_polygons_are_valid_cover_their_spots_and_do_not_overlap(annotated, tmp_path):
    path = sf.io.export_geojson(annotated, tmp_path / "domains.geojson")
    collection = json.loads(path.read_text())
    assert collection["type"] == "FeatureCollection"
    labels = annotated.obs[KEY]
    shapes = {}
    for feature in collection["features"]:
        props = feature["properties"]
        assert props["objectType"] == "annotation"
        name = props["classification"]["name"]
        color = annotated.uns[KEY + "_colors"][list(labels.cat.categories).index(name)]
        assert props["classification"]["color"] == [round(255 * c) for c in to_rgb(color)]
        shapes[name] = shape(feature["geometry"])
    assert sorted(shapes) == sorted(labels.cat.categories)  # NaN spots are left out
    x, y = annotated.obsm["spatial"].T
    for name, geometry in shapes.items():
        assert geometry.is_valid
        inside = shapely.contains_xy(geometry, x, y)
        assert np.array_equal(inside, (labels == name).to_numpy())
    names = sorted(shapes)
    total = sum(g.area for g in shapes.values())
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert shapes[a].intersection(shapes[b]).area < 1e-6 * total
    # the hexagons tile: about one hexagon of side spacing / sqrt(3) per labelled spot
    spacing = 137.0  # centre-to-centre distance of the DLPFC spots in full-res pixels
    hexagon_area = np.sqrt(3) / 2 * spacing**2
    assert total / labels.notna().sum() == pytest.approx(hexagon_area, rel=0.05)


@pytest.mark.parametrize("angle", [0.0, np.pi / 2, 0.3])
def test_regular_grid_merges_into_gapless_domains_at_any_orientation(tmp_path, angle):
    coords = _hex_lattice(12, 14, spacing=100.0, angle=angle)
    left = ((coords - coords.mean(0)) @ [np.cos(angle), np.sin(angle)]) < 0
    adata = ad.AnnData(
        obs=pd.DataFrame(
            {KEY: pd.Categorical(np.where(left, "left", "right"))},
            index=[f"spot{i}" for i in range(len(coords))],
        ),
        obsm={"spatial": coords},
    )
    path = sf.io.export_geojson(adata, tmp_path / "grid.geojson")
    for feature in json.loads(path.read_text())["features"]:
        geometry = shape(feature["geometry"])
        assert geometry.geom_type == "Polygon" and not geometry.interiors  # no gaps
        n_spots = (adata.obs[KEY] == feature["properties"]["name"]).sum()
        hexagon_area = np.sqrt(3) / 2 * 100.0**2
        assert geometry.area == pytest.approx(n_spots * hexagon_area, rel=0.03)


def test_points_one_per_spot(annotated, tmp_path):
    path = sf.io.export_geojson(annotated, tmp_path / "spots.geojson", kind="points")
    features = json.loads(path.read_text())["features"]
    assert len(features) == annotated.n_obs
    coords = np.array([f["geometry"]["coordinates"] for f in features])
    assert np.allclose(coords, annotated.obsm["spatial"])
    props = pd.DataFrame([f["properties"] for f in features]).set_index("barcode")
    assert props.index.tolist() == annotated.obs_names.tolist()
    expected = annotated.obs[KEY].astype(object).where(annotated.obs[KEY].notna(), None)
    assert props["domain"].tolist() == expected.tolist()
    assert np.allclose(props["confidence"], annotated.obs[KEY + "_confidence"])


def test_unknown_kind_is_refused(annotated, tmp_path):
    with pytest.raises(sf.InputError, match="'polygons' or 'points'"):
        sf.io.export_geojson(annotated, tmp_path / "x.geojson", kind="hexagons")
    assert list(tmp_path.iterdir()) == []
