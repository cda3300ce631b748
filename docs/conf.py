"""Sphinx configuration of the spatialfuse documentation."""

from importlib.metadata import version as _version

project = "spatialfuse"
author = "spatialfuse developers"
release = _version("spatialfuse")
extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]
autosummary_generate = True
autodoc_typehints = "description"
autodoc_mock_imports: list[str] = []
napoleon_numpy_docstring = True
napoleon_google_docstring = False
# The tutorials (docs/tutorials -> ../tutorials) are rendered as stored, without outputs:
# `make test` executes them (pytest --nbmake), so the docs build does not run them again.
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
html_theme = "furo"
html_title = "spatialfuse"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["mystnb.unknown_mime_type"]
