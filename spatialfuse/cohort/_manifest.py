"""The cohort manifest: a CSV with one slide per row and optional per-slide options."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .._errors import ParameterError
from ..workflow import AUTO, OPTION_KINDS
from ..workflow._options import NO_IMAGE

INPUT = "input"
SAMPLE_ID = "sample_id"
CONFIG = "config"
# every run option but the per-step table is a column, plus no_image (the CLI's --no-image)
COLUMN_KINDS = {name: kind for name, kind in OPTION_KINDS.items() if kind != "table"}
COLUMN_KINDS[NO_IMAGE] = "flag"
OPTION_COLUMNS = tuple(COLUMN_KINDS)
TRUE, FALSE = ("true", "yes", "1"), ("false", "no", "0")
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Slide:
    """One row of the manifest.

    Attributes
    ----------
    sample_id
        Name of the slide's output folder.
    input
        Space Ranger folder or ``.h5ad`` file.
    options
        Options of ``spatialfuse run`` given for this slide (names as in its config files).
    config
        Per-slide config file, or ``None``.
    """

    sample_id: str
    input: Path
    options: dict[str, Any] = field(default_factory=dict)
    config: Path | None = None


def _convert(column: str, text: str, where: str) -> Any:
    """A manifest cell as the value the ``run`` option takes."""
    kind = COLUMN_KINDS[column]
    if column in ("n_domains", "n_runs") and text.lower() == AUTO:
        return AUTO
    if kind == "int":
        try:
            return int(float(text)) if float(text).is_integer() else float(text)
        except ValueError:
            raise ParameterError(f"{where}: {column}={text!r} is not a whole number.") from None
    if kind == "flag":
        if text.lower() not in TRUE + FALSE:
            raise ParameterError(f"{where}: {column}={text!r}; write true or false.")
        return text.lower() in TRUE
    return text


def read_manifest(manifest: str | Path | pd.DataFrame) -> list[Slide]:
    """Read and check a cohort manifest.

    The manifest is a CSV (or a DataFrame) with a column ``input`` (a Space Ranger output
    folder or an ``.h5ad``; relative paths are relative to the CSV's folder) and optional
    columns ``sample_id`` (output folder name; the input's name without suffix by default),
    ``config`` (a per-slide TOML/YAML file of ``run`` options) and any option of
    :class:`sf.workflow.RunOptions` but ``step_options`` (``n_domains``, ``seed``,
    ``n_runs``, ``fusion`` ...; ``no_image`` too). An empty cell leaves the option at its
    default.

    Returns
    -------
    One :class:`Slide` per row, in order.

    Raises
    ------
    ParameterError
        The file is missing or unreadable, a column is unknown, ``input`` is missing or names a
        path that does not exist, a value has the wrong type, or sample ids are not unique and
        usable as folder names.
    """
    if isinstance(manifest, pd.DataFrame):
        table, base = manifest.astype(str).fillna(""), Path.cwd()
        table = table.replace({"nan": "", "None": ""})
    else:
        path = Path(manifest)
        if not path.is_file():
            raise ParameterError(f"the manifest {str(path)!r} does not exist. Check the path.")
        try:
            table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise ParameterError(
                f"cannot read the manifest {str(path)!r} as CSV ({err}). Write one slide per "
                "line with a header line naming the columns, e.g. 'input,sample_id,n_domains'."
            ) from None
        base = path.resolve().parent
    table.columns = [str(c).strip().replace("-", "_") for c in table.columns]
    if INPUT not in table.columns:
        raise ParameterError(
            f"the manifest has no {INPUT!r} column (columns: {list(table.columns)}). Name the "
            "column of Space Ranger folders / .h5ad files 'input'."
        )
    unknown = sorted(set(table.columns) - {INPUT, SAMPLE_ID, CONFIG, *OPTION_COLUMNS})
    if unknown:
        raise ParameterError(
            f"the manifest has unknown columns {unknown}. Known columns: "
            f"{[INPUT, SAMPLE_ID, CONFIG, *OPTION_COLUMNS]}."
        )
    if table.empty:
        raise ParameterError("the manifest lists no slide. Add one line per slide.")
    slides = []
    for number, row in enumerate(table.to_dict("records"), start=2):
        where = f"manifest line {number}"
        cells = {k: str(v).strip() for k, v in row.items() if str(v).strip()}
        if INPUT not in cells:
            raise ParameterError(f"{where}: the input cell is empty. Give a path per slide.")
        source = Path(cells.pop(INPUT)).expanduser()
        source = source if source.is_absolute() else base / source
        if not source.exists():
            raise ParameterError(f"{where}: input {str(source)!r} does not exist. Check the path.")
        sample_id = cells.pop(SAMPLE_ID, source.name.removesuffix(".h5ad"))
        if not SAFE_ID.match(sample_id):
            raise ParameterError(
                f"{where}: sample_id {sample_id!r} is not usable as a folder name. Use letters, "
                "digits, '.', '_' and '-', starting with a letter or digit."
            )
        config_cell = cells.pop(CONFIG, None)
        config = None
        if config_cell is not None:
            config = Path(config_cell).expanduser()
            config = config if config.is_absolute() else base / config
        options = {column: _convert(column, text, where) for column, text in cells.items()}
        if NO_IMAGE in options:
            options["use_image"] = not options.pop(NO_IMAGE)
        slides.append(Slide(sample_id, source, options, config))
    ids = pd.Series([s.sample_id for s in slides])
    if ids.duplicated().any():
        raise ParameterError(
            f"sample ids {sorted(ids[ids.duplicated()].unique())} appear more than once; each "
            "slide needs its own output folder. Add a unique sample_id column."
        )
    return slides
