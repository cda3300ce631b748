"""Declared parameter constraints, checked by one decorator at the public boundary.

In the style of scikit-learn's ``_parameter_constraints``: each public function states, next
to its signature, what each parameter accepts, and :func:`validate_params` checks the call
before the body runs. A value that satisfies none of its parameter's constraints raises
:class:`~spatialfuse.ParameterError` naming the function, the parameter, the value and what
would be accepted.

Constraints (a list per parameter; the value must satisfy one of them):

- :class:`Interval`: a number in a range (``Integral`` refuses ``bool`` and floats);
- :class:`Options`: one of a fixed set of values (``"auto"``, method names ...);
- ``None``: the value ``None``;
- a type or tuple of types: ``isinstance`` (``bool`` here means a real boolean);
- :class:`Predicate`: any callable returning ``True`` for valid values, with a description.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal, ParamSpec, TypeVar

import numpy as np

from ._errors import ParameterError

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Interval:
    """Numbers of ``kind`` (``Integral`` or ``Real``) between ``left`` and ``right``
    (``None``: unbounded), ``closed`` on ``"both"``, ``"left"``, ``"right"`` or ``"neither"``
    side. ``bool`` is never a number here; ``Integral`` refuses ``2.0``; ``Real`` refuses NaN."""

    kind: type
    left: float | None
    right: float | None
    closed: Literal["both", "left", "right", "neither"] = "both"

    def __call__(self, candidate: Any) -> bool:
        if isinstance(candidate, (bool, np.bool_)) or not isinstance(candidate, self.kind):
            return False
        value: Any = candidate
        if value != value:  # NaN
            return False
        if self.left is not None:
            low_ok = value >= self.left if self.closed in ("both", "left") else value > self.left
            if not low_ok:
                return False
        if self.right is not None:
            if self.closed in ("both", "right"):
                return bool(value <= self.right)
            return bool(value < self.right)
        return True

    def __str__(self) -> str:
        noun = "a whole number" if self.kind is Integral else "a number"
        if self.left is not None and self.right is None:
            return f"{noun} {'>=' if self.closed in ('both', 'left') else '>'} {self.left:g}"
        if self.left is None and self.right is not None:
            return f"{noun} {'<=' if self.closed in ('both', 'right') else '<'} {self.right:g}"
        if self.left is None:
            return noun
        opening = "[" if self.closed in ("both", "left") else "("
        closing = "]" if self.closed in ("both", "right") else ")"
        return f"{noun} in {opening}{self.left:g}, {self.right:g}{closing}"


@dataclass(frozen=True)
class Options:
    """One of ``values`` (compared with ``==``; ``bool`` never matches a number)."""

    values: Sequence[Any]

    def __call__(self, value: Any) -> bool:
        try:
            return any(type(value) is type(v) and value == v for v in self.values) or (
                isinstance(value, str) and value in self.values
            )
        except (TypeError, ValueError):
            return False

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class Predicate:
    """Values for which ``check(value)`` is true, described by ``description``."""

    check: Callable[[Any], bool]
    description: str

    def __call__(self, value: Any) -> bool:
        return bool(self.check(value))

    def __str__(self) -> str:
        return self.description


Constraint = Interval | Options | Predicate | type | tuple[type, ...] | None


def satisfies(value: Any, constraint: Constraint) -> bool:
    """Whether ``value`` satisfies one constraint."""
    if constraint is None:
        return value is None
    if isinstance(constraint, (type, tuple)):
        if constraint is bool:
            return isinstance(value, (bool, np.bool_))
        return isinstance(value, constraint)
    return constraint(value)


def describe(constraint: Constraint) -> str:
    """A short phrase saying what ``constraint`` accepts."""
    if constraint is None:
        return "None"
    if isinstance(constraint, tuple):
        return " or ".join(describe(c) for c in constraint)
    if isinstance(constraint, type):
        return {bool: "True or False", str: "a string"}.get(constraint, f"a {constraint.__name__}")
    return str(constraint)


def check_param(name: str, value: Any, constraints: Sequence[Constraint], caller: str) -> None:
    """Raise :class:`ParameterError` unless ``value`` satisfies one of ``constraints``."""
    if any(satisfies(value, c) for c in constraints):
        return
    accepted = " or ".join(describe(c) for c in constraints)
    raise ParameterError(f"{caller}: {name}={value!r} is not valid; give {accepted}.")


def validate_params(
    constraints: Mapping[str, Sequence[Constraint]],
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a public function so every call is checked against ``constraints``.

    ``constraints`` maps parameter names of the function to their accepted values (see the
    module docstring). Parameters not named are not checked here. The error names the
    function as a user calls it (``sf.tl.fuse``), derived from its module.
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(func)
        unknown = set(constraints) - set(signature.parameters)
        if unknown:
            raise TypeError(f"{func.__qualname__} has no parameter(s) {sorted(unknown)}")
        caller = public_name(func)

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            for name, accepted in constraints.items():
                check_param(name, bound.arguments[name], accepted, caller)
            return func(*args, **kwargs)

        wrapper.__dict__["parameter_constraints"] = dict(constraints)
        return wrapper

    return decorate


def public_name(func: Callable[..., Any]) -> str:
    """``sf.<sub>.<name>`` for a function defined in ``spatialfuse.<sub>._<module>``."""
    parts = [p for p in func.__module__.split(".")[1:] if not p.startswith("_")]
    return ".".join(["sf", *parts, func.__name__])


POSITIVE_INT = Interval(Integral, 1, None, closed="left")
NON_NEGATIVE_INT = Interval(Integral, 0, None, closed="left")
POSITIVE_REAL = Interval(Real, 0, None, closed="neither")
NON_NEGATIVE_REAL = Interval(Real, 0, None, closed="left")
FRACTION = Interval(Real, 0, 1, closed="both")
POSITIVE_FRACTION = Interval(Real, 0, 1, closed="right")
SEED: list[Constraint] = [NON_NEGATIVE_INT, None]
N_DOMAINS: list[Constraint] = [Interval(Integral, 2, None, closed="left"), None]
N_RUNS: list[Constraint] = [POSITIVE_INT, Options(("auto",))]
KEY: list[Constraint] = [str]
FLAG: list[Constraint] = [bool]
