"""Tests of the ``spatialfuse`` command line (run in-process through ``cli.main``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from spatialfuse import cli
from spatialfuse.datasets._synthetic import synthetic
from spatialfuse.workflow import RunOptions

OUTPUTS = (
    "adata.h5ad",
    "domains.csv",
    "domains_loupe.csv",
    "domains.geojson",
    "map.html",
    "domain_map.png",
    "report.json",
    "spatialfuse.log",
)
FAST = [
    "--fusion",
    "gated",
    "--encoder",
    "handcrafted",
    "--epochs",
    "8",
    "--n-top-genes",
    "100",
    "--n-comps",
    "10",
    "--n-runs",
    "1",
]
STEPS = ["preprocess", "spatial_graph", "tile_quality", "encode", "fuse", "cluster_domains"]


@pytest.fixture(scope="module")
def slide_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("input") / "slide.h5ad"
    synthetic(n_spots=300, n_domains=4, n_genes=100, seed=2).write_h5ad(path)
    return path


@pytest.fixture(scope="module")
def finished(slide_file, tmp_path_factory) -> Path:
    """Output folder of one complete run."""
    out = tmp_path_factory.mktemp("runs") / "out"
    argv = ["run", str(slide_file), "--out", str(out), "--n-domains", "4", "--seed", "3"]
    assert cli.main([*argv, "--truth", "domain_truth", "--quiet", *FAST]) == cli.EXIT_OK
    return out


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def test_run_writes_every_output(finished):
    for name in OUTPUTS:
        assert (finished / name).is_file() and (finished / name).stat().st_size > 0, name
    assert not list(finished.rglob("*.part"))
    table = pd.read_csv(finished / "domains.csv")
    assert list(table.columns) == ["barcode", "domain", "confidence"]
    assert len(table) == 300 and table["domain"].nunique() == 4
    assert table["confidence"].between(0, 1).all()
    geojson = json.loads((finished / "domains.geojson").read_text())
    assert geojson["type"] == "FeatureCollection"


def test_report_has_parameters_versions_timings_and_scores(finished):
    report = _report(finished)
    assert report["params"]["seed"] == 3 and report["params"]["n_domains"] == 4
    assert report["options"]["epochs"] == 8
    assert report["params"]["step_options"]["fuse"]["epochs"] == 8
    assert report["options"]["encoder"] == "handcrafted"
    assert {"python", "spatialfuse", "torch", "scanpy"} <= set(report["versions"])
    assert list(report["steps"]) == STEPS
    assert all(
        step["seconds"] >= 0 and step["peak_rss_mb"] > 0 for step in report["steps"].values()
    )
    assert report["peak_rss_mb"] >= max(s["peak_rss_mb"] for s in report["steps"].values())
    assert {"ari", "nmi", "ami", "pas", "chaos"} <= set(report["scores"])
    assert -1 <= report["scores"]["ari"] <= 1 and report["scores"]["n_scored"] == 300
    assert report["resumed_steps"] == []


def test_log_file_records_checkpoints(finished):
    log = (finished / "spatialfuse.log").read_text()
    for step in STEPS:
        assert f"{step}: checkpointed result" in log


@pytest.fixture
def copied(finished, tmp_path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    return out


def _rerun(slide_file: Path, out: Path, *extra: str) -> int:
    argv = ["run", str(slide_file), "--out", str(out), "--n-domains", "4", "--seed", "3"]
    return cli.main([*argv, "--resume", *FAST, *extra])


def test_resume_reuses_every_step_and_reproduces_the_domains(slide_file, copied, finished, capfd):
    assert _rerun(slide_file, copied, "--quiet") == cli.EXIT_OK
    assert _report(copied)["resumed_steps"] == STEPS
    assert (copied / "domains.csv").read_text() == (finished / "domains.csv").read_text()
    assert "encode: reused cached result" in (copied / "spatialfuse.log").read_text()
    assert "reused cached result" not in capfd.readouterr().err  # --quiet: only in the log


def test_changed_epochs_rerun_only_fuse_and_clustering(slide_file, copied):
    assert _rerun(slide_file, copied, "--epochs", "9") == cli.EXIT_OK
    report = _report(copied)
    assert report["resumed_steps"] == STEPS[:4]
    assert report["steps"]["fuse"]["source"] == "computed"


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(command in out for command in ("run", "demo", "info"))


def test_run_help_lists_the_options(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    out = capsys.readouterr().out
    for option in ("--out", "--n-domains", "--resume", "--config", "--no-image", "--epochs"):
        assert option in out


def test_info_prints_versions_device_and_cache(capsys):
    assert cli.main(["info"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "torch" in out and "device" in out and "cache folder" in out


def _options(*argv: str) -> dict:
    args = cli.build_parser().parse_args(["run", "x", "--out", "o", *argv])
    return RunOptions.from_config(args.config, **cli._given(args)).pipeline_kwargs() | {
        "epochs": args.epochs
    }


@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_config_file_sets_options_and_command_line_wins(tmp_path, suffix):
    config = tmp_path / f"options{suffix}"
    if suffix == ".toml":
        text = 'n-domains = 5\nencoder = "handcrafted"\nno_image = true\n'
        text += "[step_options.fuse]\nlr = 0.01\n"
    else:
        text = "n-domains: 5\nencoder: handcrafted\nno_image: true\n"
        text += "step_options:\n  fuse:\n    lr: 0.01\n"
    config.write_text(text)
    options = _options("--config", str(config), "--n-domains", "6", "--epochs", "3")
    assert options["n_domains"] == 6  # the command line overrides the file
    assert options["encoder"] == "handcrafted" and options["use_image"] is False
    assert options["step_options"] == {"fuse": {"lr": 0.01, "epochs": 3}}
    assert _options()["n_domains"] == RunOptions().n_domains


def test_auto_number_of_domains_is_left_to_the_pipeline():
    assert _options("--n-domains", "auto")["n_domains"] is None
    with pytest.raises(SystemExit):
        _options("--n-domains", "many")


def test_number_of_runs_defaults_to_the_api_and_is_checked():
    from spatialfuse._errors import ParameterError

    assert _options()["n_runs"] == "auto"
    assert _options("--n-runs", "2")["n_runs"] == 2
    assert _options("--n-runs", "auto")["n_runs"] == "auto"
    with pytest.raises(ParameterError, match="n_runs"):
        _options("--n-runs", "0")
    with pytest.raises(SystemExit):
        _options("--n-runs", "many")


@pytest.mark.parametrize(
    ("n_obs", "runs"), [(200, 64), (300, 53), (1000, 16), (2000, 8), (3639, 4), (1e5, 4)]
)
def test_auto_number_of_runs_spreads_a_budget_over_the_spots(n_obs, runs):
    from spatialfuse._validation import resolve_n_runs

    assert resolve_n_runs("auto", int(n_obs)) == runs
    assert resolve_n_runs(3, int(n_obs)) == 3
