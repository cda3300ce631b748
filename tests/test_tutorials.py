"""The tutorial notebooks are stored without outputs (pytest --nbmake executes them itself)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).resolve().parents[1] / "tutorials").glob("*.ipynb"))


def test_there_are_tutorials():
    assert len(TUTORIALS) >= 3


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda path: path.name)
def test_notebook_is_stored_without_outputs(path: Path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code, "a tutorial without code"
    with_outputs = [i for i, cell in enumerate(code) if cell["outputs"]]
    executed = [i for i, cell in enumerate(code) if cell["execution_count"] is not None]
    assert not with_outputs and not executed, (
        f"{path.name}: code cells {sorted(set(with_outputs + executed))} hold outputs or "
        "execution counts; clear them (Jupyter: Edit > Clear Outputs of All Cells) and save."
    )
    assert "widgets" not in notebook["metadata"], f"{path.name}: saved widget state"
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
