"""Tests of sf.datasets.dlpfc against a local HTTP mirror built from the real DLPFC files."""

from __future__ import annotations

import functools
import hashlib
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import tifffile

import spatialfuse as sf
from spatialfuse._errors import DownloadError, ParameterError
from spatialfuse._validation import available_images
from spatialfuse.datasets import _dlpfc

SAMPLE = "151673"
N_GENES = 200
HUMANPILOT = Path("LieberInstitute/HumanPilot/master/10X")


def write_10x_h5(adata: ad.AnnData, path: Path) -> None:
    """Write ``adata`` (raw counts) in the 10x feature-barcode HDF5 layout (CSC genes x spots)."""
    counts = sp.csr_matrix(adata.X).astype(np.int32)  # CSR spots x genes == CSC genes x spots
    with h5py.File(path, "w") as f:
        f.attrs["library_ids"] = np.array([SAMPLE.encode()])
        matrix = f.create_group("matrix")
        matrix["barcodes"] = adata.obs_names.to_numpy().astype("S")
        matrix["data"] = counts.data
        matrix["indices"] = counts.indices.astype(np.int64)
        matrix["indptr"] = counts.indptr.astype(np.int64)
        matrix["shape"] = np.array([adata.n_vars, adata.n_obs], dtype=np.int32)
        features = matrix.create_group("features")
        features["id"] = adata.var["gene_ids"].to_numpy().astype("S")
        features["name"] = adata.var["symbol"].to_numpy().astype("S")
        features["feature_type"] = np.full(adata.n_vars, b"Gene Expression")
        features["genome"] = np.full(adata.n_vars, b"GRCh38")


@pytest.fixture(scope="module")
def reference(dlpfc_151673_path: Path) -> ad.AnnData:
    """The real 151673 slide, cut to the 200 genes with the most counts."""
    full = ad.read_h5ad(dlpfc_151673_path)
    top = np.argsort(-np.asarray(full.X.sum(axis=0)).ravel())[:N_GENES]
    return full[:, np.sort(top)].copy()


@pytest.fixture(scope="module")
def mirror(tmp_path_factory, shared_data: Path, reference: ad.AnnData) -> Path:
    """A folder laid out like the real URLs' paths, holding the real 151673 files."""
    root = tmp_path_factory.mktemp("mirror")
    (root / "h5").mkdir()
    write_10x_h5(reference, root / "h5" / f"{SAMPLE}_filtered_feature_bc_matrix.h5")
    section = root / HUMANPILOT / SAMPLE
    section.mkdir(parents=True)
    spatial = shared_data / "dlpfc" / SAMPLE / "spatial"
    shutil.copyfile(spatial / "tissue_positions_list.csv", section / "tissue_positions_list.txt")
    for name in ("scalefactors_json.json", "tissue_lowres_image.png"):
        shutil.copyfile(spatial / name, section / name)
    shutil.copyfile(
        shared_data / "dlpfc" / "layer_labels" / "barcode_level_layer_map.tsv",
        root / HUMANPILOT / "barcode_level_layer_map.tsv",
    )
    return root


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 serving a folder and recording the requested paths."""

    def __init__(self, folder: Path):
        self.requests: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        handler = functools.partial(Handler, directory=str(folder))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def serve() -> Iterator:
    servers = []

    def start(folder: Path) -> _Server:
        servers.append(_Server(folder))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_verify_then_cache(mirror, serve, tmp_path, reference):
    server = serve(mirror)
    adata = sf.datasets.dlpfc(SAMPLE, base_url=server.url, data_dir=tmp_path)
    assert len(server.requests) == 5  # counts, positions, scale factors, lowres, layer map
    assert adata.shape == (reference.n_obs, N_GENES)
    assert (adata.X != reference[adata.obs_names].X).nnz == 0
    np.testing.assert_array_equal(adata.obsm["spatial"], reference[adata.obs_names].obsm["spatial"])
    expected_layers = reference.obs["layer"].reindex(adata.obs_names).astype(object)
    pd.testing.assert_series_equal(
        adata.obs["layer"].astype(object), expected_layers, check_names=False
    )
    assert list(adata.uns["spatial"][SAMPLE]["images"]) == ["lowres"]
    cached = tmp_path / "dlpfc" / SAMPLE / "spatial" / "tissue_positions_list.csv"
    assert _sha256(cached) == _dlpfc.SHA256[f"{SAMPLE}/tissue_positions_list.txt"]

    again = sf.datasets.dlpfc(SAMPLE, base_url=server.url, data_dir=tmp_path)
    assert len(server.requests) == 5  # served from the cache, no new request
    assert (again.X != adata.X).nnz == 0


def test_base_url_and_data_dir_from_environment(mirror, serve, tmp_path, monkeypatch):
    server = serve(mirror)
    monkeypatch.setenv("SPATIALFUSE_BASE_URL", server.url)
    monkeypatch.setattr(sf.settings, "data_dir", tmp_path)
    adata = sf.datasets.dlpfc(int(SAMPLE))
    assert adata.n_obs > 3000
    assert any(path.startswith("/h5/") for path in server.requests)
    assert (tmp_path / "dlpfc" / SAMPLE / "filtered_feature_bc_matrix.h5").is_file()


def test_corrupted_file_is_rejected_and_removed(mirror, serve, tmp_path):
    broken = tmp_path / "broken_mirror"
    shutil.copytree(mirror, broken)
    positions = broken / HUMANPILOT / SAMPLE / "tissue_positions_list.txt"
    positions.write_bytes(positions.read_bytes().replace(b",1,", b",0,", 1))
    server = serve(broken)
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="corrupted.*removed. Re-run"):
        sf.datasets.dlpfc(SAMPLE, base_url=server.url, data_dir=cache)
    assert not (cache / "dlpfc" / SAMPLE / "spatial" / "tissue_positions_list.csv").exists()


def test_unreachable_server(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(DownloadError, match=f"could not download {url}/h5/.*mirror"):
        sf.datasets.dlpfc(SAMPLE, base_url=url, data_dir=tmp_path)


def test_missing_file_on_server(mirror, serve, tmp_path):
    server = serve(mirror)
    with pytest.raises(DownloadError, match="151674_filtered_feature_bc_matrix.h5"):
        sf.datasets.dlpfc("151674", base_url=server.url, data_dir=tmp_path)


def test_hires_and_fullres_images(mirror, serve, tmp_path):
    images = tmp_path / "mirror_images"
    shutil.copytree(mirror, images)
    from PIL import Image

    Image.fromarray(np.zeros((2000, 2000, 3), dtype=np.uint8)).save(
        images / HUMANPILOT / SAMPLE / "tissue_hires_image.png"
    )
    (images / "images").mkdir()
    tile = np.zeros((1024, 1024), dtype=np.uint8)
    tifffile.imwrite(  # a 12,000 px square, zlib-compressed blank TIFF of ~100 kB
        images / "images" / f"{SAMPLE}_full_image.tif",
        (tile for _ in range(12 * 12)),
        shape=(12000, 12000),
        dtype=np.uint8,
        tile=(1024, 1024),
        compression="zlib",
    )
    server = serve(images)
    hires = sf.datasets.dlpfc(SAMPLE, image="hires", base_url=server.url, data_dir=tmp_path)
    assert available_images(hires, SAMPLE) == ["hires", "lowres"]
    full = sf.datasets.dlpfc(SAMPLE, image="fullres", base_url=server.url, data_dir=tmp_path)
    assert available_images(full, SAMPLE) == ["fullres", "lowres"]
    source = Path(full.uns["spatial"][SAMPLE]["metadata"]["source_image_path"])
    assert source.parent == tmp_path / "dlpfc" / SAMPLE


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"sample_id": "123"}, "151507"), ({"sample_id": SAMPLE, "image": "x"}, "image=")],
)
def test_bad_arguments(kwargs, match, tmp_path):
    with pytest.raises(ParameterError, match=match):
        sf.datasets.dlpfc(**kwargs, data_dir=tmp_path)


def test_real_urls_without_mirror():
    files = {remote.path: remote.url(None) for remote in _dlpfc.section_files(SAMPLE, "hires")}
    assert files[f"h5/{SAMPLE}_filtered_feature_bc_matrix.h5"] == (
        f"https://spatial-dlpfc.s3.us-east-2.amazonaws.com/h5/{SAMPLE}_filtered_feature_bc_matrix.h5"
    )
    base = f"https://raw.githubusercontent.com/{HUMANPILOT}/{SAMPLE}/"
    assert set(files.values()) >= {
        base + "tissue_positions_list.txt",
        base + "scalefactors_json.json",
        base + "tissue_lowres_image.png",
        base + "tissue_hires_image.png",
    }
    assert _dlpfc.fullres_file(SAMPLE).url(None) == (
        f"https://spatial-dlpfc.s3.us-east-2.amazonaws.com/images/{SAMPLE}_full_image.tif"
    )
