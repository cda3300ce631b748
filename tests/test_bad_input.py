"""Malformed inputs, end to end through the command line (and the API where it decides).

Each refused input exits with code 2 and a one-paragraph message naming the problem and the
fix, without a traceback and without leaving results in the output folder. Odd but valid
inputs (grey, RGBA and 16-bit images, no image, empty spots) must work.
"""

from __future__ import annotations

import errno
import json
import logging
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from PIL import Image

import spatialfuse as sf
from spatialfuse import cli
from spatialfuse._logging import logger
from spatialfuse.datasets._synthetic import synthetic

POSITIONS = "spatial/tissue_positions_list.csv"
SCALEFACTORS = "spatial/scalefactors_json.json"
LOWRES = "spatial/tissue_lowres_image.png"
HIRES = "spatial/tissue_hires_image.png"
FAST = [
    "--encoder",
    "handcrafted",
    "--epochs",
    "4",
    "--n-top-genes",
    "50",
    "--n-comps",
    "8",
    "--n-runs",
    "4",
]


@pytest.fixture(scope="module")
def base_slide() -> ad.AnnData:
    return synthetic(n_spots=60, n_domains=3, n_genes=50, seed=4)


def run_cli(input_path: Path, out: Path, *extra: str) -> int:
    return cli.main(["run", str(input_path), "--out", str(out), "--quiet", *extra])


def assert_refused(code: int, capsys, out: Path, *fragments: str) -> str:
    """Exit code 2, one clean paragraph naming the problem, no results in ``out``."""
    err = capsys.readouterr().err.strip()
    assert code == cli.EXIT_BAD_INPUT, err
    assert err.startswith("spatialfuse: error: ")
    assert "Traceback" not in err and "\n" not in err, err
    for fragment in fragments:
        assert fragment.lower() in err.lower(), err
    assert not (out / "report.json").exists() and not (out / "adata.h5ad").exists()
    return err


# --- an .h5ad input with one defect ---------------------------------------------------------


def _set_first_count(value: float) -> Callable[[ad.AnnData], ad.AnnData]:
    def change(adata: ad.AnnData) -> ad.AnnData:
        adata.X.data[0] = value
        return adata

    return change


def _zero_counts(adata):
    adata.X.data[:] = 0
    return adata


def _duplicate_barcodes(adata):
    adata.obs_names = ["same"] * 2 + list(adata.obs_names[2:])
    return adata


def _nan_coordinates(adata):
    adata.obsm["spatial"][0, 0] = np.nan
    return adata


def _no_spatial_library(adata):
    del adata.uns["spatial"]
    return adata


def _spots_outside_image(adata):
    library = next(iter(adata.uns["spatial"].values()))
    library["scalefactors"]["tissue_lowres_scalef"] *= 20  # e.g. a hires factor on lowres
    return adata


def _no_spot_diameter(adata):
    library = next(iter(adata.uns["spatial"].values()))
    del library["scalefactors"]["spot_diameter_fullres"]
    return adata


def _negative_scalefactor(adata):
    library = next(iter(adata.uns["spatial"].values()))
    library["scalefactors"]["tissue_lowres_scalef"] = -0.05
    return adata


H5AD_DEFECTS = {
    "nan_counts": (_set_first_count(np.nan), ["NaN or infinite"]),
    "infinite_counts": (_set_first_count(np.inf), ["NaN or infinite"]),
    "negative_counts": (_set_first_count(-3.0), ["negative", "raw"]),
    "all_zero_counts": (_zero_counts, ["zero counts"]),
    "duplicated_barcodes": (_duplicate_barcodes, ["duplicated", "obs_names_make_unique"]),
    "nan_coordinates": (_nan_coordinates, ["NaN or infinite coordinates"]),
    "no_spatial_library": (_no_spatial_library, ["uns['spatial']", "read_visium"]),
    "spots_outside_image": (_spots_outside_image, ["fall inside", "scalefactors_json.json"]),
    "no_spot_diameter": (_no_spot_diameter, ["spot_diameter_fullres"]),
    "negative_scalefactor": (_negative_scalefactor, ["positive number"]),
    "single_spot": (lambda adata: adata[:1].copy(), ["1 spots are too few"]),
}


@pytest.mark.parametrize("defect", list(H5AD_DEFECTS))
def test_defective_h5ad_is_refused(defect, base_slide, tmp_path, capsys):
    change, fragments = H5AD_DEFECTS[defect]
    path = tmp_path / "slide.h5ad"
    change(base_slide.copy()).write_h5ad(path)
    assert_refused(run_cli(path, tmp_path / "out", *FAST), capsys, tmp_path / "out", *fragments)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(None, "truncated"), (b"barcode,x\nAAAC,1\n", "not an AnnData")],
    ids=["truncated_h5ad", "text_file_named_h5ad"],
)
def test_unreadable_h5ad_is_refused(content, fragment, base_slide, tmp_path, capsys):
    path = tmp_path / "slide.h5ad"
    base_slide.write_h5ad(path)
    path.write_bytes(path.read_bytes()[:2000] if content is None else content)
    assert_refused(run_cli(path, tmp_path / "out"), capsys, tmp_path / "out", fragment)


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["--n-domains", "40"], ["too few for 40 domains", "fewer domains"]),
        (["--n-domains", "1"], ["at least 2 domains"]),
        (["--epochs", "0"], ["epochs=0"]),
        (["--truth", "cell_type"], ["--truth 'cell_type'", "domain_truth"]),
    ],
    ids=["more_domains_than_spots_allow", "one_domain", "zero_epochs", "missing_truth_column"],
)
def test_bad_parameter_is_refused(argv, fragments, base_slide, tmp_path, capsys):
    path = tmp_path / "slide.h5ad"
    base_slide.write_h5ad(path)
    out = tmp_path / "out"
    assert_refused(run_cli(path, out, *argv), capsys, out, *fragments)
    assert not out.exists()  # refused before the output folder was made


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("n_domains = 5\nlearning_rate = 0.1\n", ["unknown options ['learning_rate']"]),
        ("n_domains = = 5\n", ["cannot parse the config file"]),
        ('step_options = "fast"\n', ["step_options", "table"]),
        ('fusion = "magic"\n', ["fusion='magic'", "gated"]),
    ],
    ids=["unknown_option", "syntax_error", "step_options_not_a_table", "unknown_fusion"],
)
def test_bad_config_file_is_refused(text, fragments, base_slide, tmp_path, capsys):
    path = tmp_path / "slide.h5ad"
    base_slide.write_h5ad(path)
    config = tmp_path / "options.toml"
    config.write_text(text)
    out = tmp_path / "out"
    assert_refused(run_cli(path, out, "--config", str(config)), capsys, out, *fragments)


def test_missing_input_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    assert_refused(run_cli(tmp_path / "nope.h5ad", out), capsys, out, "does not exist")


def test_input_of_unknown_type_is_refused(tmp_path, capsys):
    table = tmp_path / "counts.csv"
    table.write_text("a,b\n1,2\n")
    out = tmp_path / "out"
    assert_refused(run_cli(table, out), capsys, out, "neither a Space Ranger output folder")


# --- a Space Ranger folder with one defect ---------------------------------------------------


def _positions(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / POSITIONS, header=None, index_col=0)


def _rename_positions(folder):
    positions = _positions(folder)
    positions.index = [f"X{barcode}" for barcode in positions.index]
    positions.to_csv(folder / POSITIONS, header=False)


def _duplicate_positions(folder):
    positions = _positions(folder)
    pd.concat([positions, positions.iloc[:3]]).to_csv(folder / POSITIONS, header=False)


def _text_coordinates(folder):
    positions = _positions(folder)
    positions[4] = positions[4].astype(object)
    positions.iloc[0, 3] = "left"
    positions.to_csv(folder / POSITIONS, header=False)


def _truncate(name: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        path = folder / name
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])

    return change


def _write(name: str, text: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_text(text)


FOLDER_DEFECTS = {
    "not_space_ranger": (
        lambda folder: (folder / "filtered_feature_bc_matrix.h5").unlink(),
        ["not a Space Ranger output folder"],
    ),
    "truncated_h5": (_truncate("filtered_feature_bc_matrix.h5"), ["truncated, corrupt"]),
    "positions_do_not_match": (_rename_positions, ["different Space Ranger runs"]),
    "duplicated_positions": (_duplicate_positions, ["appear twice"]),
    "non_numeric_coordinates": (_text_coordinates, ["tissue positions", "copy the file again"]),
    "no_positions": (lambda folder: (folder / POSITIONS).unlink(), ["tissue_positions"]),
    "no_scalefactors": (lambda folder: (folder / SCALEFACTORS).unlink(), ["is missing"]),
    "malformed_scalefactors": (_write(SCALEFACTORS, '{"spot_diameter_fullres": '), ["JSON"]),
    "scalefactor_not_a_number": (
        _write(SCALEFACTORS, '{"spot_diameter_fullres": "big", "tissue_lowres_scalef": 0.05}'),
        ["not a number"],
    ),
    "truncated_image": (_truncate(LOWRES), ["cannot read the lowres image"]),
}


@pytest.mark.parametrize("defect", list(FOLDER_DEFECTS))
def test_defective_space_ranger_folder_is_refused(defect, heart, tmp_path, capsys):
    change, fragments = FOLDER_DEFECTS[defect]
    change(heart)
    out = tmp_path / "out"
    assert_refused(run_cli(heart, out), capsys, out, *fragments)


def test_empty_folder_is_not_space_ranger(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    assert_refused(run_cli(tmp_path / "empty", out), capsys, out, "not a Space Ranger output")


# --- the output folder ------------------------------------------------------------------------


def test_non_empty_output_folder_is_kept_without_overwrite(base_slide, tmp_path, capsys):
    path = tmp_path / "slide.h5ad"
    base_slide.write_h5ad(path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert_refused(run_cli(path, out, *FAST), capsys, out, "not empty", "--overwrite")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_output_path_that_is_a_file_is_refused(base_slide, tmp_path, capsys):
    path = tmp_path / "slide.h5ad"
    base_slide.write_h5ad(path)
    out = tmp_path / "out"
    out.write_text("x")
    assert_refused(run_cli(path, out, *FAST), capsys, out, "is a file")


def test_full_disk_leaves_no_partial_file(base_slide, tmp_path, capsys, monkeypatch):
    """The first checkpoint write hits ENOSPC half-way: clear message, nothing half-written."""
    import spatialfuse._cache as cache_module

    def half_then_full(obj, fh, protocol=None):
        fh.write(b"\x80\x05partial")
        raise OSError(errno.ENOSPC, "No space left on device", fh.name)

    monkeypatch.setattr(cache_module.pickle, "dump", half_then_full)
    path = tmp_path / "slide.h5ad"
    base_slide.write_h5ad(path)
    out = tmp_path / "out"
    assert_refused(run_cli(path, out, "--no-image", *FAST), capsys, out, "no space left", "free")
    assert not list(out.rglob("*.part")) and not list(out.rglob("*.pkl"))


# --- odd inputs that must work ----------------------------------------------------------------


def _convert_image(mode: str) -> Callable[[Image.Image], Image.Image]:
    if mode == "I;16":
        return lambda img: Image.fromarray(
            (np.asarray(img.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
        )
    return lambda img: img.convert(mode)


@pytest.fixture(scope="module")
def rgb_tissue_fraction(shared_data: Path) -> np.ndarray:
    adata = sf.io.read_visium(shared_data / "visium_heart_tiny")
    sf.im.tile_quality(adata, image="lowres")
    return adata.obs["tile_tissue_fraction"].to_numpy()


IMAGE_MODES = [
    pytest.param("L", id="grey"),
    pytest.param("RGBA", id="rgba"),
    pytest.param("I;16", id="16_bit"),
]


def _read_converted(heart: Path, mode: str) -> ad.AnnData:
    (heart / HIRES).unlink()
    with Image.open(heart / LOWRES) as img:
        converted = _convert_image(mode)(img)
    converted.save(heart / LOWRES)
    return sf.io.read_visium(heart)


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16"], ids=["grey", "rgba", "16_bit"])
def test_grey_rgba_and_16_bit_images_are_read_and_tiled(mode, heart):
    adata = _read_converted(heart, mode)
    image = adata.uns["spatial"]["custom"]["images"]["lowres"]
    assert image.ndim == (3 if mode == "RGBA" else 2)
    assert image.dtype == (np.uint16 if mode == "I;16" else np.uint8)
    sf.im.tile_quality(adata, image="lowres")
    assert np.isfinite(adata.obs["tile_tissue_fraction"]).all()
    assert np.isfinite(adata.obs["tile_sharpness"]).all()


@pytest.mark.parametrize("mode", IMAGE_MODES)
def test_grey_rgba_and_16_bit_images_find_the_same_tissue(mode, heart, rgb_tissue_fraction):
    adata = _read_converted(heart, mode)
    sf.im.tile_quality(adata, image="lowres")
    fraction = adata.obs["tile_tissue_fraction"].to_numpy()
    assert fraction.max() > 0
    assert np.corrcoef(fraction, rgb_tissue_fraction)[0, 1] > 0.8


def test_missing_image_runs_expression_only(heart, tmp_path):
    (heart / HIRES).unlink()
    (heart / LOWRES).unlink()
    out = tmp_path / "out"
    assert run_cli(heart, out, "--n-domains", "3", *FAST) == cli.EXIT_OK
    report = json.loads((out / "report.json").read_text())
    assert report["params"]["use_image"] is False and "encode" not in report["steps"]
    assert "running expression-only" in (out / "spatialfuse.log").read_text()
    assert len(pd.read_csv(out / "domains.csv")) == 100


def test_empty_spots_and_genes_are_dropped_with_a_log_line(base_slide):
    adata = base_slide.copy()
    counts = adata.X.tolil()
    counts[[0, 5], :] = 0
    counts[:, 7] = 0
    adata.X = counts.tocsr()
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())
    logger.addHandler(handler)
    try:
        kept = sf.pp.drop_empty(adata)
    finally:
        logger.removeHandler(handler)
    assert kept.shape == (base_slide.n_obs - 2, base_slide.n_vars - 1)
    assert not kept.obs_names.isin(adata.obs_names[[0, 5]]).any()
    assert f"dropped 2 of {adata.n_obs} spots with zero counts" in lines
    assert f"dropped 1 of {adata.n_vars} genes with zero counts" in lines


# --- the input mistakes users make most (exit 2, message naming the fix, nothing written) ---


def _log_normalised(adata):
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    return adata


def _duplicated_genes(adata):
    adata.var_names = ["GENE"] * 2 + list(adata.var_names[2:])
    return adata


@pytest.mark.parametrize(
    ("change", "argv", "fragments"),
    [
        (_log_normalised, [], ["non-integer", "raw", "--layer"]),
        (_duplicated_genes, [], ["gene names are duplicated", "var_names_make_unique"]),
        (lambda a: a, ["--library-id", "other"], ["library_id 'other'", "synthetic"]),
        (lambda a: a, ["--layer", "raw"], ["layer='raw'", "adata.layers"]),
        (lambda a: a[:5].copy(), ["--n-domains", "3"], ["5 spots are too few for 3 domains"]),
    ],
    ids=["log_normalised_counts", "duplicated_genes", "unknown_library", "unknown_layer", "few"],
)
def test_common_input_mistake_is_refused(change, argv, fragments, base_slide, tmp_path, capsys):
    path = tmp_path / "slide.h5ad"
    change(base_slide.copy()).write_h5ad(path)
    out = tmp_path / "out"
    assert_refused(run_cli(path, out, *FAST, *argv), capsys, out, *fragments)
    assert not out.exists()


def test_counts_in_a_layer_are_used_with_layer(base_slide, tmp_path, capsys):
    """The fix the log-normalised error names works: raw counts in a layer, ``--layer``."""
    adata = base_slide.copy()
    adata.layers["counts"] = adata.X.copy()
    _log_normalised(adata).write_h5ad(tmp_path / "slide.h5ad")
    out = tmp_path / "out"
    code = run_cli(tmp_path / "slide.h5ad", out, *FAST, "--layer", "counts", "--n-domains", "3")
    assert code == cli.EXIT_OK, capsys.readouterr().err
    assert (out / "report.json").exists()


def test_scale_factors_putting_spots_on_glass_are_refused(heart, tmp_path, capsys):
    path = heart / "spatial/scalefactors_json.json"
    scalefactors = json.loads(path.read_text())
    scalefactors["tissue_lowres_scalef"] *= 0.2  # spots squeezed into the glass corner
    scalefactors["tissue_hires_scalef"] *= 0.2
    path.write_text(json.dumps(scalefactors))
    out = tmp_path / "out"
    fragments = ["off the tissue", "scalefactors_json.json"]
    assert_refused(run_cli(heart, out, *FAST), capsys, out, *fragments)
    assert not out.exists()
