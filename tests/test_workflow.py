"""The run options are declared once (sf.workflow.RunOptions); the library never imports the CLI."""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path

import pandas as pd
import pytest

import spatialfuse as sf
from spatialfuse import cli
from spatialfuse._errors import ParameterError
from spatialfuse.cohort._manifest import OPTION_COLUMNS
from spatialfuse.datasets._synthetic import synthetic
from spatialfuse.workflow import OPTION_NAMES, RunOptions, read_config
from spatialfuse.workflow._options import PIPELINE_OPTIONS

PACKAGE = Path(sf.__file__).parent
DOCS = Path(__file__).resolve().parents[1] / "docs"
FLAG_OPTIONS = tuple(n for n in OPTION_NAMES if n != "step_options")


def _imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names.update(f"{module}.{alias.name}".lstrip(".") for alias in node.names)
            names.add(module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_library_module_imports_the_cli():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name in ("cli.py", "__main__.py"):
            continue
        if any(re.search(r"(^|\.)cli($|\.)", name) for name in _imports_of(path)):
            offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []


def test_cli_flags_are_the_run_options():
    parser = cli.build_parser()
    run = next(
        action.choices["run"]
        for action in parser._actions
        if getattr(action, "choices", None) and "run" in action.choices
    )
    dests = {a.dest for a in run._actions} - {"help", "input", "out", "config", "cache_dir"}
    dests -= {"overwrite", "resume", "quiet"}
    assert dests == set(FLAG_OPTIONS)


def test_manifest_columns_are_the_run_options():
    assert set(OPTION_COLUMNS) == {*FLAG_OPTIONS, "no_image"}


def test_every_option_is_a_config_key(tmp_path):
    config = tmp_path / "all.toml"
    config.write_text(
        "n_domains = 3\nlibrary_id = 'synthetic'\nlayer = 'counts'\nuse_image = false\n"
        "encoder = 'handcrafted'\n"
        "fusion = 'smoothed'\nn_top_genes = 40\nflavor = 'spatial'\nn_comps = 8\n"
        "n_rings = 1\nn_runs = 2\n"
        "seed = 1\ntruth = 'domain_truth'\nepochs = 3\n[step_options.cluster_domains]\n"
        "n_init = 2\n"
    )
    assert set(read_config(config)) == set(OPTION_NAMES)
    options = RunOptions.from_config(config)
    assert options.n_runs == 2 and options.use_image is False and options.flavor == "spatial"
    assert options.pipeline_kwargs()["step_options"]["fuse"] == {"epochs": 3}


def test_pipeline_defaults_are_the_api_defaults():
    """The CLI runs what ``sf.tl.spatial_domains`` runs by default (seed aside: 0 vs None)."""
    api = inspect.signature(sf.tl.spatial_domains).parameters
    defaults = RunOptions()
    for name in PIPELINE_OPTIONS:
        if name != "seed":
            assert getattr(defaults, name) == api[name].default, name


def test_documented_manifest_columns_run(tmp_path):
    """A manifest with every column docs/cli.md documents runs (one small slide)."""
    text = (DOCS / "cli.md").read_text()
    paragraph = text[text.index("Optional columns:") : text.index("An empty cell")]
    documented = set(re.findall(r"`([a-z_]+)`", paragraph)) - {"true", "false", "auto", "run"}
    assert documented == {"sample_id", "config", *FLAG_OPTIONS, "no_image"} - {"use_image"}
    slide = synthetic(n_spots=80, n_domains=3, n_genes=40, seed=1)
    slide.layers["counts"] = slide.X.copy()
    slide.write_h5ad(tmp_path / "s.h5ad")
    (tmp_path / "c.toml").write_text("[step_options.cluster_domains]\nn_init = 1\n")
    values = {
        "input": "s.h5ad",
        "sample_id": "s",
        "config": "c.toml",
        "n_domains": "3",
        "seed": "2",
        "truth": "domain_truth",
        "fusion": "smoothed",
        "encoder": "handcrafted",
        "epochs": "2",
        "n_top_genes": "30",
        "flavor": "spatial",
        "n_comps": "6",
        "n_rings": "1",
        "n_runs": "1",
        "library_id": "synthetic",
        "layer": "counts",
        "no_image": "true",
    }
    assert set(values) - {"input"} == documented
    pd.DataFrame([values]).to_csv(tmp_path / "m.csv", index=False)
    table = sf.cohort.run_many(tmp_path / "m.csv", tmp_path / "out", n_workers=0)
    assert table["status"].tolist() == ["done"], table["error"].tolist()
    assert table["n_domains"].tolist() == [3]


def test_report_records_the_gene_choice(tmp_path):
    slide = synthetic(n_spots=120, n_domains=3, n_genes=60, seed=1)
    options = RunOptions(n_domains=3, n_top_genes=20, n_comps=6, n_runs=1, use_image=False)
    report = sf.workflow.run_adata(slide, tmp_path / "out", options)
    genes = report["genes"]
    assert set(genes["neighbour_agreement"]) == {"seurat", "spatial"}
    assert genes["flavor"] in {"seurat", "spatial"} and isinstance(genes["near_tie"], bool)
    written = json.loads((tmp_path / "out" / sf.workflow.REPORT_FILE).read_text())
    assert written["genes"] == genes


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"n_runs": True}, "n_runs=True"),
        ({"n_runs": 0}, "n_runs=0"),
        ({"n_domains": 1}, "at least 2 domains"),
        ({"seed": -1}, "seed=-1"),
        ({"fusion": "magic"}, "fusion='magic'"),
        ({"use_image": "yes"}, "use_image='yes'"),
        ({"step_options": {"nope": {}}}, "unknown steps"),
        ({"colour": "red"}, "unknown options"),
    ],
)
def test_bad_option_is_a_parameter_error(values, fragment):
    with pytest.raises(ParameterError, match=re.escape(fragment)):
        RunOptions.from_mapping(values)


def test_options_are_frozen():
    options = RunOptions()
    with pytest.raises(AttributeError):
        options.n_runs = 2  # type: ignore[misc]


def test_auto_and_no_image_spellings():
    options = RunOptions.from_mapping({"n-domains": "auto", "no_image": True})
    assert options.n_domains is None and options.use_image is False
