"""Example data: the bundled demo slide and the spatialLIBD DLPFC sections (downloaded once),
and seeded synthetic slides with known domains."""

from ._demo import demo
from ._dlpfc import dlpfc
from ._synthetic import synthetic

__all__ = ["demo", "dlpfc", "synthetic"]
