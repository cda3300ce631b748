"""The 12 spatialLIBD DLPFC Visium sections (Maynard et al., Nat Neurosci 2021), downloaded once.

Counts and the full-resolution image come from the spatialLIBD S3 bucket, the spatial files and
the manual layer labels from the LieberInstitute/HumanPilot GitHub repository. Each section is
cached under ``settings.data_dir / "dlpfc" / <id>`` laid out as a Space Ranger folder, and read
with :func:`spatialfuse.io.read_visium`. Files whose SHA256 is known are verified on download.

A mirror (``base_url=`` or the ``SPATIALFUSE_BASE_URL`` environment variable) serves every file
at the path it has on its real host, e.g. ``<mirror>/h5/151673_filtered_feature_bc_matrix.h5``
and ``<mirror>/LieberInstitute/HumanPilot/master/10X/151673/tissue_positions_list.txt``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Literal

import pandas as pd
import pooch
from anndata import AnnData

from .. import _keys
from .._errors import DownloadError, ParameterError
from .._logging import info, warning
from .._settings import settings
from ..io import read_visium
from ._demo import LAYER_KEY

SAMPLE_IDS = (
    "151507",
    "151508",
    "151509",
    "151510",
    "151669",
    "151670",
    "151671",
    "151672",
    "151673",
    "151674",
    "151675",
    "151676",
)
IMAGES = ("lowres", "hires", "fullres")
BASE_URL_ENV = "SPATIALFUSE_BASE_URL"
S3_HOST = "https://spatial-dlpfc.s3.us-east-2.amazonaws.com/"
GITHUB_HOST = "https://raw.githubusercontent.com/"
HUMANPILOT_10X = "LieberInstitute/HumanPilot/master/10X/"

# SHA256 of HumanPilot files ("<id>/<name>"), computed on byte-identical copies. Files not
# listed are not verified: the count matrices, hires/full-res images, 151675-6, the layer map.
SHA256: dict[str, str] = json.loads(
    (files(__package__) / "data" / "dlpfc_sha256.json").read_text(encoding="utf-8")
)


@dataclass(frozen=True)
class RemoteFile:
    """A file on a real host, and where it goes in the local cache."""

    host: str  # real host, used unless a mirror is given
    path: str  # path on the host, and in a mirror
    target: str  # path inside the cache folder
    sha256: str | None = None

    def url(self, base_url: str | None) -> str:
        """The file's URL on its real host, or in the mirror ``base_url``."""
        return (base_url.rstrip("/") + "/" if base_url else self.host) + self.path


def section_files(sample_id: str, image: str) -> list[RemoteFile]:
    """The files of one section, laid out as a Space Ranger folder (paths relative to it)."""

    def humanpilot(name: str, target: str) -> RemoteFile:
        key = f"{sample_id}/{name}"
        return RemoteFile(GITHUB_HOST, HUMANPILOT_10X + key, target, SHA256.get(key))

    remotes = [
        RemoteFile(
            S3_HOST,
            f"h5/{sample_id}_filtered_feature_bc_matrix.h5",
            "filtered_feature_bc_matrix.h5",
        ),
        humanpilot("tissue_positions_list.txt", "spatial/tissue_positions_list.csv"),
        humanpilot("scalefactors_json.json", "spatial/scalefactors_json.json"),
        humanpilot("tissue_lowres_image.png", "spatial/tissue_lowres_image.png"),
    ]
    if image == "hires":
        remotes.append(humanpilot("tissue_hires_image.png", "spatial/tissue_hires_image.png"))
    return remotes


def fullres_file(sample_id: str) -> RemoteFile:
    """The full-resolution H&E TIFF of one section (not read into memory)."""
    return RemoteFile(S3_HOST, f"images/{sample_id}_full_image.tif", f"{sample_id}_full_image.tif")


LAYER_MAP = RemoteFile(
    GITHUB_HOST, HUMANPILOT_10X + "barcode_level_layer_map.tsv", "barcode_level_layer_map.tsv"
)


def dlpfc(
    sample_id: str | int,
    *,
    image: Literal["lowres", "hires", "fullres"] = "lowres",
    base_url: str | None = None,
    data_dir: str | os.PathLike | None = None,
) -> AnnData:
    """One of the 12 spatialLIBD DLPFC sections, with its manual cortical layers.

    Downloads the section on first use (tqdm progress bars when ``settings.progress``), checks
    the SHA256 of the files whose checksum is known, and reads the cache afterwards.

    Parameters
    ----------
    sample_id
        Section id: 151507-151510 or 151669-151676.
    image
        Tissue image to provide: ``"lowres"`` (600 px, always fetched), ``"hires"`` (2,000 px)
        or ``"fullres"`` (the full-resolution TIFF, a large download; left on disk).
    base_url
        Mirror serving the files at their real paths; defaults to ``SPATIALFUSE_BASE_URL``, then
        the real hosts.
    data_dir
        Cache folder; defaults to ``settings.data_dir`` (``SPATIALFUSE_DATA_DIR``).

    Returns
    -------
    The section in the Visium layout (see :func:`spatialfuse.io.read_visium`), library id
    ``sample_id``, with the manual layer (``L1``-``L6``, ``WM``; NaN where unlabelled) in
    ``obs['layer']``.

    Raises
    ------
    DownloadError
        A file could not be downloaded, or failed its checksum (the bad copy is removed).
    """
    sample_id = str(sample_id)
    if sample_id not in SAMPLE_IDS:
        raise ParameterError(
            f"sample_id={sample_id!r} is not a spatialLIBD DLPFC section; choose one of "
            f"{', '.join(SAMPLE_IDS)}."
        )
    if image not in IMAGES:
        raise ParameterError(f"image={image!r}; choose one of {IMAGES}.")
    base_url = base_url or os.environ.get(BASE_URL_ENV) or None
    cache = Path(data_dir if data_dir is not None else settings.data_dir).expanduser() / "dlpfc"
    folder = cache / sample_id
    for remote in section_files(sample_id, image):
        fetch(remote, folder, base_url)
    fullres = fetch(fullres_file(sample_id), folder, base_url) if image == "fullres" else None
    layer_map = fetch(LAYER_MAP, cache, base_url)
    adata = read_visium(folder, library_id=sample_id, fullres_image=fullres)
    if image != "hires":  # a hires PNG cached by an earlier call is not part of this result
        adata.uns[_keys.SPATIAL][sample_id]["images"].pop("hires", None)
    adata.obs[LAYER_KEY] = read_layers(layer_map, sample_id).reindex(adata.obs_names)
    info("added %r (manual cortical layer) to obs", LAYER_KEY)
    return adata


def fetch(remote: RemoteFile, folder: Path, base_url: str | None) -> Path:
    """Download ``remote`` into ``folder`` unless a verified copy is cached; return its path.

    pooch writes to a temporary file and renames it only once the checksum matches.
    """
    url = remote.url(base_url)
    target = folder / remote.target
    pooch_logger = pooch.get_logger()
    pooch_level = pooch_logger.level
    pooch_logger.setLevel("WARNING")  # no "use this value as known_hash" lines for users
    try:
        return Path(
            pooch.retrieve(
                url,
                known_hash=remote.sha256,
                fname=target.name,
                path=target.parent,
                progressbar=settings.progress,
            )
        )
    except ValueError as err:  # pooch: checksum mismatch; the download was deleted
        raise DownloadError(
            f"the file downloaded from {url} is corrupted: its SHA256 does not match the known "
            f"checksum ({err}), so it was removed. Re-run to download it again; if it fails "
            "again, the server's copy changed or a proxy alters it."
        ) from None
    except OSError as err:  # requests' exceptions derive from OSError
        raise DownloadError(
            f"could not download {url} ({type(err).__name__}: {err}). Check the internet "
            f"connection and re-run; or download the file by hand to {target}; or point "
            f"base_url= / {BASE_URL_ENV} at a mirror holding it."
        ) from None
    finally:
        pooch_logger.setLevel(pooch_level)


def read_layers(layer_map: Path, sample_id: str) -> pd.Series:
    """The manual layer of each barcode of ``sample_id`` in the HumanPilot layer map."""
    table = pd.read_csv(
        layer_map, sep="\t", header=None, names=["barcode", "sample_id", "layer"], dtype=str
    )
    layers = table.loc[table["sample_id"] == sample_id].set_index("barcode")["layer"]
    if layers.empty:
        warning("the layer map %s has no labels for section %s", layer_map, sample_id)
    return layers.astype(pd.CategoricalDtype(sorted(table["layer"].dropna().unique())))
