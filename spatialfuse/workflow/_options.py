"""The options of one run, declared once: the CLI flags, config keys and manifest columns."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .._errors import ParameterError
from .._validation import check_positive_int, resolve_n_runs
from ..im._encode import ENCODERS
from ..tl._fuse import ALL_METHODS
from ..tl._genes import FLAVORS
from ..tl._pipeline import STEPS

AUTO = "auto"
NO_IMAGE = "no_image"  # the config/manifest spelling of the CLI's --no-image


def _option(default: Any, kind: str, help: str) -> Any:
    """A field of :class:`RunOptions`; ``kind`` (int, text, flag, table) says how a manifest
    cell or config value is read."""
    if isinstance(default, dict):
        return field(default_factory=dict, metadata={"kind": kind, "help": help})
    return field(default=default, metadata={"kind": kind, "help": help})


@dataclass(frozen=True)
class RunOptions:
    """Options of one slide's run, validated when the object is made.

    The same names are the long options of ``spatialfuse run`` (with dashes), the keys of its
    TOML/YAML config files and the columns of a ``run-many`` manifest. Build it directly,
    :meth:`from_mapping`, :meth:`from_config` or :meth:`from_manifest_row`.
    """

    n_domains: int | None = _option(None, "int", "number of domains; None/'auto' = most stable")
    library_id: str | None = _option(None, "text", "slide to analyse when the input holds several")
    layer: str | None = _option(None, "text", "adata.layers key of the raw counts (X by default)")
    use_image: bool = _option(True, "flag", "use the H&E image when the slide has one")
    encoder: str = _option("handcrafted", "text", "image encoder")
    fusion: str = _option("smoothed", "text", "fusion method")
    n_top_genes: int = _option(3000, "int", "highly variable genes")
    flavor: str = _option("auto", "text", "ranking of the variable genes (sf.pp.preprocess)")
    n_comps: int = _option(30, "int", "principal components")
    n_rings: int = _option(1, "int", "rings of grid neighbours in the spatial graph")
    n_runs: int | str = _option("auto", "int", "clustering runs combined; 'auto' by spot count")
    seed: int = _option(0, "int", "random seed")
    truth: str | None = _option(None, "text", "obs column with ground truth (scores in the report)")
    epochs: int | None = _option(None, "int", "fusion training epochs (sf.tl.fuse's by default)")
    step_options: dict[str, dict[str, Any]] = _option({}, "table", "per-step keyword arguments")

    def __post_init__(self) -> None:
        if self.n_domains is not None and check_positive_int(self.n_domains, "n_domains") < 2:
            raise ParameterError(f"n_domains={self.n_domains!r}; ask for at least 2 domains.")
        for name in ("n_top_genes", "n_comps", "n_rings"):
            check_positive_int(getattr(self, name), name)
        resolve_n_runs(self.n_runs, 1)
        check_positive_int(self.seed, "seed", minimum=0)
        if self.epochs is not None:
            check_positive_int(self.epochs, "epochs")
        if not isinstance(self.use_image, bool):
            raise ParameterError(f"use_image={self.use_image!r}; give true or false.")
        for name, allowed in (
            ("encoder", ENCODERS),
            ("fusion", ALL_METHODS),
            ("flavor", FLAVORS),
        ):
            if getattr(self, name) not in allowed:
                raise ParameterError(
                    f"{name}={getattr(self, name)!r}; choose one of {list(allowed)}."
                )
        for name in ("library_id", "layer", "truth"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ParameterError(f"{name}={value!r}; give a name (text).")
        steps = self.step_options
        tables = isinstance(steps, Mapping) and all(isinstance(v, Mapping) for v in steps.values())
        if not tables:
            raise ParameterError(
                "step_options must be a table of per-step options, e.g. [step_options.fuse] "
                "epochs = 200."
            )
        unknown = sorted(set(steps) - set(STEPS))
        if unknown:
            raise ParameterError(
                f"step_options names unknown steps {unknown}; the steps are {list(STEPS)}."
            )

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, where: str = "options") -> RunOptions:
        """Options from a mapping of names (dashes or underscores; ``no_image``;
        ``n_domains="auto"``); unknown names are refused."""
        values = {str(key).replace("-", "_"): value for key, value in values.items()}
        if NO_IMAGE in values:
            flag = values.pop(NO_IMAGE)
            if not isinstance(flag, bool):
                raise ParameterError(f"{where}: no_image={flag!r}; give true or false.")
            values["use_image"] = not flag
        if isinstance(values.get("n_domains"), str) and values["n_domains"].lower() == AUTO:
            values["n_domains"] = None
        if isinstance(values.get("n_runs"), str):
            values["n_runs"] = values["n_runs"].lower()
        unknown = sorted(set(values) - set(OPTION_NAMES))
        if unknown:
            raise ParameterError(
                f"{where} has unknown options {unknown}. Known options: {sorted(OPTION_NAMES)}."
            )
        try:
            return cls(**values)
        except ParameterError as err:
            raise ParameterError(f"{where}: {err}") from None

    @classmethod
    def from_config(cls, config: str | Path | None = None, **given: Any) -> RunOptions:
        """The defaults, overridden by the ``config`` file, overridden by ``given`` (options
        that are ``None`` in ``given`` are not given)."""
        values = read_config(config) if config is not None else {}
        values.update({k.replace("-", "_"): v for k, v in given.items() if v is not None})
        where = f"the config file {str(config)!r}" if config is not None else "options"
        return cls.from_mapping(values, where=where)

    @classmethod
    def from_manifest_row(
        cls, options: Mapping[str, Any], config: str | Path | None = None
    ) -> RunOptions:
        """Options of one manifest row (cells already read by :func:`read_manifest`) over
        its config file (the row's own, else the cohort's)."""
        return cls.from_config(config, **dict(options))

    # ------------------------------------------------------------------ use

    def pipeline_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`sf.tl.spatial_domains` (``epochs`` goes to ``fuse``)."""
        step_options = {step: dict(opts) for step, opts in self.step_options.items()}
        if self.epochs is not None:
            step_options.setdefault("fuse", {})["epochs"] = self.epochs
        kwargs = {name: getattr(self, name) for name in PIPELINE_OPTIONS}
        return {**kwargs, "step_options": step_options}

    def to_dict(self) -> dict[str, Any]:
        """Every option by name (JSON-ready)."""
        return asdict(self)


OPTION_NAMES = tuple(f.name for f in fields(RunOptions))
OPTION_KINDS = {f.name: f.metadata["kind"] for f in fields(RunOptions)}
# options that are arguments of sf.tl.spatial_domains under the same name
PIPELINE_OPTIONS = tuple(n for n in OPTION_NAMES if n not in ("truth", "epochs", "step_options"))


def read_config(path: str | Path) -> dict[str, Any]:
    """Read run options from a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file.

    Keys are the names of :class:`RunOptions` (dashes or underscores) and ``no_image``;
    ``step_options`` is a table of per-step keyword arguments.
    """
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"the config file {str(path)!r} does not exist. Check the path.")
    try:
        if path.suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            config = tomllib.loads(path.read_text())
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            config = yaml.safe_load(path.read_text()) or {}
        else:
            raise ParameterError(f"the config file {str(path)!r} must end in .toml, .yaml or .yml.")
    except ParameterError:
        raise
    except Exception as err:  # tomllib and yaml raise their own parse errors
        raise ParameterError(
            f"cannot parse the config file {str(path)!r} ({type(err).__name__}: {err}). Fix its "
            "syntax."
        ) from None
    if not isinstance(config, dict):
        raise ParameterError(f"the config file {str(path)!r} must hold a table of options.")
    return {str(key).replace("-", "_"): value for key, value in config.items()}
