"""Cohort runs: manifest reading, Dask LocalCluster vs sequential, failures, retries, skipping."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import spatialfuse as sf
from spatialfuse import cli
from spatialfuse._errors import ParameterError
from spatialfuse.cohort import _run
from spatialfuse.datasets._synthetic import synthetic

FAST = {"epochs": "8", "n_top_genes": "100", "n_comps": "10", "n_runs": "4"}
GOOD = ("s0", "s1", "s2")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """Three small synthetic slides and one whose truth column does not exist (bad input)."""
    folder = tmp_path_factory.mktemp("cohort_inputs")
    rows = []
    for i, name in enumerate(GOOD):
        synthetic(n_spots=300, n_domains=4, n_genes=100, seed=i).write_h5ad(folder / f"{name}.h5ad")
        rows.append({"input": f"{name}.h5ad", "n_domains": "4", "seed": str(i), **FAST})
    rows.append({"input": "s0.h5ad", "sample_id": "bad", "truth": "no_such_column", **FAST})
    table = pd.DataFrame(rows).fillna("")
    table["truth"] = table["truth"].replace("", "domain_truth")
    table.to_csv(folder / "manifest.csv", index=False)
    return folder / "manifest.csv"


@pytest.fixture(scope="module")
def sequential(manifest, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sequential")
    sf.cohort.run_many(manifest, out, n_workers=0)
    return out


@pytest.fixture(scope="module")
def on_dask(manifest, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("dask")
    return out, sf.cohort.run_many(manifest, out, n_workers=2, retries=1)


def test_manifest_options_paths_and_ids(tmp_path):
    (tmp_path / "a.h5ad").touch()
    (tmp_path / "m.csv").write_text(
        "input,n-domains,seed,no_image,fusion\na.h5ad,auto,3,true,gated\na.h5ad,5,,,\n"
    )
    with pytest.raises(ParameterError, match="more than once"):
        sf.cohort.read_manifest(tmp_path / "m.csv")
    (tmp_path / "m.csv").write_text(
        "input,sample_id,n-domains,seed,no_image,fusion,n_runs\n"
        "a.h5ad,,auto,3,true,gated,2\na.h5ad,second,5,,,,\n"
    )
    first, second = sf.cohort.read_manifest(tmp_path / "m.csv")
    assert first.sample_id == "a" and first.input == tmp_path / "a.h5ad"
    assert first.options == {
        "n_domains": "auto",
        "seed": 3,
        "use_image": False,
        "fusion": "gated",
        "n_runs": 2,
    }
    assert second.sample_id == "second" and second.options == {"n_domains": 5}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("slide\nx\n", "no 'input' column"),
        ("input,colour\na.h5ad,red\n", "unknown columns"),
        ("input\nmissing.h5ad\n", "does not exist"),
        ("input,seed\na.h5ad,one\n", "not a whole number"),
        ("input,sample_id\na.h5ad,../up\n", "folder name"),
    ],
)
def test_bad_manifests_fail_before_anything_runs(tmp_path, text, message):
    (tmp_path / "a.h5ad").touch()
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(ParameterError, match=message):
        sf.cohort.run_many(tmp_path / "m.csv", tmp_path / "out", n_workers=0)
    assert not (tmp_path / "out").exists()


def test_bad_option_value_fails_before_anything_runs(tmp_path):
    (tmp_path / "a.h5ad").touch()
    (tmp_path / "m.csv").write_text("input,fusion\na.h5ad,magic\n")
    with pytest.raises(ParameterError, match="slide 'a'.*fusion='magic'"):
        sf.cohort.run_many(tmp_path / "m.csv", tmp_path / "out", n_workers=0)


def test_local_cluster_gives_the_sequential_domains(sequential, on_dask):
    out, table = on_dask
    status = dict(zip(table["sample_id"], table["status"]))
    assert status == {"s0": "done", "s1": "done", "s2": "done", "bad": "failed"}
    assert all(w.startswith("tcp://") for w in table.loc[table["status"] == "done", "worker"])
    for name in GOOD:
        assert (out / name / "domains.csv").read_bytes() == (
            sequential / name / "domains.csv"
        ).read_bytes()
        assert json.loads((out / name / "report.json").read_text())["scores"]["ari"] > 0.3


def test_failed_slide_is_reported_and_the_others_complete(on_dask):
    out, _ = on_dask
    summary = pd.read_csv(out / "summary.csv")
    bad = summary.set_index("sample_id").loc["bad"]
    assert bad["status"] == "failed" and bool(bad["bad_input"])
    assert "no_such_column" in bad["error"]
    assert not (out / "bad" / "report.json").exists()
    saved = json.loads((out / "summary.json").read_text())
    assert saved["status"] == {"done": 3, "failed": 1}


def test_rerun_skips_done_slides_and_runs_the_rest(manifest, on_dask, monkeypatch):
    out, _ = on_dask
    (out / "s1" / "report.json").unlink()
    ran = []
    real = _run.run_slide
    monkeypatch.setattr(_run, "run_slide", lambda *a, **k: ran.append(a[1].name) or real(*a, **k))
    table = sf.cohort.run_many(manifest, out, n_workers=0)
    status = dict(zip(table["sample_id"], table["status"]))
    assert status == {"s0": "skipped", "s1": "done", "s2": "skipped", "bad": "failed"}
    assert ran == ["s1", "bad"]
    steps = json.loads((out / "s1" / "report.json").read_text())["resumed_steps"]
    assert "preprocess" in steps  # the earlier run's step cache was reused


@pytest.mark.parametrize(("retries", "status"), [(1, "done"), (0, "failed")])
def test_an_internal_error_is_retried(manifest, tmp_path, monkeypatch, retries, status):
    calls = []
    real = _run.run_slide

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("transient failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(_run, "run_slide", flaky)
    one = pd.read_csv(manifest, dtype=str, keep_default_na=False).iloc[:1]
    one["input"] = [str(manifest.parent / one["input"].iloc[0])]
    row = sf.cohort.run_many(one, tmp_path, n_workers=0, retries=retries).iloc[0]
    assert row["status"] == status
    assert (row["error"] is None) == (status == "done")
    assert not row["bad_input"]


def test_cli_run_many_exit_codes(manifest, sequential, capsys):
    code = cli.main(["run-many", str(manifest), "--out", str(sequential), "--n-workers", "0"])
    assert code == cli.EXIT_BAD_INPUT  # only the bad-input slide failed
    captured = capsys.readouterr()
    assert "3 skipped" in captured.out and "slide bad" in captured.err
    pd.read_csv(manifest).iloc[:3].to_csv(manifest.parent / "good.csv", index=False)
    argv = ["run-many", str(manifest.parent / "good.csv"), "--out", str(sequential)]
    assert cli.main([*argv, "--n-workers", "0", "--quiet"]) == cli.EXIT_OK


def test_unreachable_scheduler_is_bad_input(monkeypatch):
    monkeypatch.setattr(_run, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(ParameterError, match="cannot reach the Dask scheduler"):
        with _run._client("tcp://127.0.0.1:9", 0):
            pass
