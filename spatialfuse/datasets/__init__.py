"""Example data: the bundled demo slide and the spatialLIBD DLPFC sections (downloaded once)."""

from ._demo import demo
from ._dlpfc import dlpfc

__all__ = ["demo", "dlpfc"]
