"""Tests of sf.io.read_visium / read_h5ad on a real Space Ranger folder, intact and broken."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.io
import scipy.sparse as sp
import tifffile

import spatialfuse as sf
from spatialfuse._errors import (
    BarcodeError,
    CountsError,
    ImageError,
    LayoutError,
    ScaleFactorError,
)

POSITIONS_V1 = "spatial/tissue_positions_list.csv"
POSITION_NAMES = ["barcode", "in_tissue", "array_row", "array_col", "pxl_row", "pxl_col"]


def _positions(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / POSITIONS_V1, header=None, names=POSITION_NAMES, index_col=0)


def _write_positions(folder: Path, positions: pd.DataFrame) -> None:
    positions.to_csv(folder / POSITIONS_V1, header=False)


def _counts(folder: Path) -> ad.AnnData:
    return sc.read_10x_h5(folder / "filtered_feature_bc_matrix.h5")


def test_reads_space_ranger_folder(heart):
    adata = sf.io.read_visium(heart)
    expected = _counts(heart)
    positions = _positions(heart).loc[adata.obs_names]
    assert adata.shape == (100, 100)
    assert (adata.X != expected[adata.obs_names].X).nnz == 0
    np.testing.assert_array_equal(adata.obsm["spatial"], positions[["pxl_col", "pxl_row"]])
    np.testing.assert_array_equal(adata.obs["array_row"], positions["array_row"])
    assert (adata.obs["in_tissue"] == 1).all()
    library = adata.uns["spatial"]["custom"]  # the library id stored in the .h5
    assert library["images"]["lowres"].shape == (600, 600, 3)
    assert library["images"]["hires"].shape[:2] == (2000, 2000)
    assert library["scalefactors"] == json.loads(
        (heart / "spatial/scalefactors_json.json").read_text()
    )
    assert library["metadata"]["software_version"] == "spaceranger-1.0.0"


def test_library_id_argument(heart):
    assert list(sf.io.read_visium(heart, library_id="heart1").uns["spatial"]) == ["heart1"]


def test_positions_v2_with_header(heart):
    v1 = sf.io.read_visium(heart)
    positions = _positions(heart)
    positions.columns = [
        "in_tissue",
        "array_row",
        "array_col",
        "pxl_row_in_fullres",
        "pxl_col_in_fullres",
    ]
    positions.index.name = "barcode"
    positions.to_csv(heart / "spatial/tissue_positions.csv")
    (heart / POSITIONS_V1).unlink()
    v2 = sf.io.read_visium(heart)
    np.testing.assert_array_equal(v2.obsm["spatial"], v1.obsm["spatial"])
    pd.testing.assert_frame_equal(v2.obs, v1.obs)


def test_mtx_folder(heart):
    expected = _counts(heart)
    mtx = heart / "filtered_feature_bc_matrix"
    mtx.mkdir()
    with gzip.open(mtx / "matrix.mtx.gz", "wb") as fh:
        scipy.io.mmwrite(fh, sp.csr_matrix(expected.X).T.astype(np.int64))
    pd.Series(expected.obs_names).to_csv(mtx / "barcodes.tsv.gz", index=False, header=False)
    features = pd.DataFrame(
        {"id": expected.var["gene_ids"], "name": expected.var_names, "type": "Gene Expression"}
    )
    features.to_csv(mtx / "features.tsv.gz", sep="\t", index=False, header=False)
    (heart / "filtered_feature_bc_matrix.h5").unlink()
    adata = sf.io.read_visium(heart, library_id="heart")
    assert adata.shape == expected.shape
    assert (adata.X != expected[adata.obs_names].X).nnz == 0
    assert list(adata.var_names) == list(expected.var_names)


def test_missing_hires_is_simply_absent(heart):
    (heart / "spatial/tissue_hires_image.png").unlink()
    adata = sf.io.read_visium(heart)
    assert list(adata.uns["spatial"]["custom"]["images"]) == ["lowres"]


def test_load_images_false(heart):
    adata = sf.io.read_visium(heart, load_images=False)
    assert adata.uns["spatial"]["custom"]["images"] == {}
    assert "tissue_lowres_scalef" in adata.uns["spatial"]["custom"]["scalefactors"]


def test_only_in_tissue_spots_are_kept(heart):
    positions = _positions(heart)
    out = _counts(heart).obs_names[:10]
    positions.loc[out, "in_tissue"] = 0
    _write_positions(heart, positions)
    adata = sf.io.read_visium(heart)
    assert adata.n_obs == 90
    assert not adata.obs_names.isin(out).any()


def test_fullres_image_path_is_recorded(heart, tmp_path):
    tiff = tmp_path / "full.tif"
    tifffile.imwrite(tiff, shape=(14000, 14000, 3), dtype=np.uint8)  # sparse, no pixels
    adata = sf.io.read_visium(heart, fullres_image=tiff)
    library = adata.uns["spatial"]["custom"]
    assert library["metadata"]["source_image_path"] == str(tiff.resolve())
    assert "fullres" not in library["images"]  # not loaded
    assert sf._validation.available_images(adata, "custom") == ["fullres", "hires", "lowres"]


def test_fullres_image_missing(heart, tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        sf.io.read_visium(heart, fullres_image=tmp_path / "nope.tif")


def test_not_a_folder(tmp_path):
    with pytest.raises(LayoutError, match="is not a folder"):
        sf.io.read_visium(tmp_path / "nowhere")


def test_not_a_space_ranger_folder(tmp_path):
    with pytest.raises(LayoutError, match="filtered_feature_bc_matrix.h5 or filtered_feature_bc"):
        sf.io.read_visium(tmp_path)


def test_counts_file_missing(heart):
    with pytest.raises(LayoutError, match="raw_feature_bc_matrix.h5 is missing"):
        sf.io.read_visium(heart, counts_file="raw_feature_bc_matrix.h5")


def test_positions_missing(heart):
    (heart / POSITIONS_V1).unlink()
    with pytest.raises(LayoutError, match="tissue_positions_list.csv"):
        sf.io.read_visium(heart)


def test_positions_malformed(heart):
    positions = _positions(heart)
    positions["pxl_row"] = positions["pxl_row"].astype(str)
    positions.iloc[3, positions.columns.get_loc("pxl_row")] = "twelve"
    _write_positions(heart, positions)
    with pytest.raises(LayoutError, match="cannot read the tissue positions"):
        sf.io.read_visium(heart)


def test_positions_wrong_column_count(heart):
    _write_positions(heart, _positions(heart).iloc[:, :3])
    with pytest.raises(LayoutError, match="4 columns instead of 6"):
        sf.io.read_visium(heart)


def test_positions_duplicated_barcode(heart):
    positions = _positions(heart)
    _write_positions(heart, pd.concat([positions, positions.iloc[:1]]))
    with pytest.raises(BarcodeError, match="1 barcodes appear twice"):
        sf.io.read_visium(heart)


def test_positions_from_another_run(heart):
    positions = _positions(heart)
    positions.index = positions.index.str.replace("-1", "-2")
    _write_positions(heart, positions)
    with pytest.raises(BarcodeError, match="100 of the 100 barcodes of the count matrix"):
        sf.io.read_visium(heart)


def test_scalefactors_missing(heart):
    (heart / "spatial/scalefactors_json.json").unlink()
    with pytest.raises(ScaleFactorError, match="scalefactors_json.json is missing"):
        sf.io.read_visium(heart)


def test_scalefactors_malformed_json(heart):
    (heart / "spatial/scalefactors_json.json").write_text('{"spot_diameter_fullres": 89.4,')
    with pytest.raises(ScaleFactorError, match="not valid JSON"):
        sf.io.read_visium(heart)


def test_scalefactors_not_an_object(heart):
    (heart / "spatial/scalefactors_json.json").write_text("[0.045]")
    with pytest.raises(ScaleFactorError, match="not a JSON object"):
        sf.io.read_visium(heart)


def test_scalefactor_negative(heart):
    path = heart / "spatial/scalefactors_json.json"
    scalefactors = json.loads(path.read_text())
    scalefactors["tissue_hires_scalef"] = -0.15
    path.write_text(json.dumps(scalefactors))
    with pytest.raises(ScaleFactorError, match="positive number"):
        sf.io.read_visium(heart)


def test_scalefactor_wrong_puts_spots_outside_image(heart):
    (heart / "spatial/tissue_hires_image.png").unlink()
    path = heart / "spatial/scalefactors_json.json"
    scalefactors = json.loads(path.read_text())
    scalefactors["tissue_lowres_scalef"] = scalefactors["tissue_hires_scalef"]
    path.write_text(json.dumps(scalefactors))
    with pytest.raises(ScaleFactorError, match="fall inside the lowres image"):
        sf.io.read_visium(heart)


def test_truncated_h5(heart):
    h5 = heart / "filtered_feature_bc_matrix.h5"
    h5.write_bytes(h5.read_bytes()[:5000])
    with pytest.raises(LayoutError, match="truncated, corrupt"):
        sf.io.read_visium(heart)


def test_corrupt_png(heart):
    png = heart / "spatial/tissue_lowres_image.png"
    png.write_bytes(png.read_bytes()[:2000])
    with pytest.raises(ImageError, match="cannot read the lowres image"):
        sf.io.read_visium(heart)


def test_no_spot_in_tissue(heart):
    positions = _positions(heart)
    positions["in_tissue"] = 0
    _write_positions(heart, positions)
    with pytest.raises(CountsError, match="no spots"):
        sf.io.read_visium(heart)


def test_read_h5ad_roundtrip(heart, tmp_path):
    adata = sf.io.read_visium(heart)
    adata.write_h5ad(tmp_path / "heart.h5ad")
    back = sf.io.read_h5ad(tmp_path / "heart.h5ad")
    assert (back.X != adata.X).nnz == 0
    np.testing.assert_array_equal(back.obsm["spatial"], adata.obsm["spatial"])


def test_read_h5ad_missing(tmp_path):
    with pytest.raises(LayoutError, match="does not exist"):
        sf.io.read_h5ad(tmp_path / "missing.h5ad")


def test_read_h5ad_truncated(heart, tmp_path):
    sf.io.read_visium(heart).write_h5ad(tmp_path / "heart.h5ad")
    data = (tmp_path / "heart.h5ad").read_bytes()
    (tmp_path / "cut.h5ad").write_bytes(data[: len(data) // 2])
    with pytest.raises(LayoutError, match="truncated, corrupt"):
        sf.io.read_h5ad(tmp_path / "cut.h5ad")


def test_read_h5ad_not_visium(tmp_path):
    ad.AnnData(np.ones((4, 3), dtype=np.float32)).write_h5ad(tmp_path / "plain.h5ad")
    with pytest.raises(LayoutError, match=r"obsm\['spatial'\]"):
        sf.io.read_h5ad(tmp_path / "plain.h5ad")


def test_validate_is_exported(heart):
    assert sf.io.validate(sf.io.read_visium(heart)) == "custom"
