"""Reading Visium data, checking its layout, and exporting results.

``read_visium`` reads a Space Ranger output folder, ``read_st`` a legacy ST section as
published, ``read_h5ad`` an AnnData file, and
``validate`` checks an AnnData is in the scanpy/squidpy Visium layout. The ``export_*``
functions write results for other tools (each file written atomically): CSV tables,
10x Loupe Browser categories, GeoJSON for QuPath/napari, h5ad, SpatialData, and a
self-contained interactive HTML map.
"""

from .._validation import validate_visium as validate
from ._export import (
    export_all,
    export_domains_csv,
    export_h5ad,
    export_loupe_csv,
    export_spatialdata,
    write_json,
)
from ._geojson import export_geojson
from ._html import export_html
from ._read import read, read_h5ad, read_visium
from ._read_st import read_st

__all__ = [
    "export_all",
    "export_domains_csv",
    "export_geojson",
    "export_h5ad",
    "export_html",
    "export_loupe_csv",
    "export_spatialdata",
    "read",
    "read_h5ad",
    "read_st",
    "read_visium",
    "validate",
    "write_json",
]
