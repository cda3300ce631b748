"""On-disk cache of pipeline step outputs, keyed by a hash of their inputs and parameters.

Each step's outputs (the ``X``/``var``/``obs``/``obsm``/``obsp``/``layers``/``uns`` entries
it added or changed) are stored as one pickle per step under ``<cache_dir>/steps/<key>.pkl``,
written atomically. The key hashes the data fingerprint, the step's parameters and the keys
of the steps it depends on, so changing a parameter invalidates only the steps downstream
of it. The cache folder is trusted local storage (pickle): never point it at foreign files.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from . import _keys
from ._atomic import atomic_path
from ._settings import settings

STEPS_FOLDER = "steps"
FORMAT_VERSION = 1  # bump when the stored layout changes: old entries are then ignored
MAPPINGS = ("obsm", "obsp", "layers", "uns")


def default_cache_dir() -> Path:
    """The package-wide step cache, ``settings.data_dir / "cache"``."""
    return Path(settings.data_dir) / "cache"


def _update_with_array(digest: Any, array: Any) -> None:
    if sp.issparse(array):
        array = sp.csr_matrix(array)
        for part in (array.data, array.indices, array.indptr):
            _update_with_array(digest, part)
        digest.update(repr(array.shape).encode())
        return
    array = np.ascontiguousarray(np.asarray(array))
    digest.update(f"{array.dtype}{array.shape}".encode())
    if array.dtype == object:
        digest.update("\x1f".join(map(str, array.ravel())).encode())
    else:
        digest.update(array.tobytes())


def hash_arrays(*arrays: Any) -> str:
    """Fast content hash (BLAKE2b, 16 hex digits) of dense or sparse arrays."""
    digest = hashlib.blake2b(digest_size=8)
    for array in arrays:
        _update_with_array(digest, array)
    return digest.hexdigest()


def data_fingerprint(adata: AnnData, library_id: str | Sequence[str]) -> str:
    """Hash of what every step reads from the raw slide(s): counts, barcodes, genes,
    positions, and the images and scale factors of ``library_id`` (each of several)."""
    libraries = [library_id] if isinstance(library_id, str) else list(library_id)
    per_library = {}
    for lib in libraries:
        library = adata.uns[_keys.SPATIAL][lib]
        images = library.get("images") or {}
        per_library[lib] = {
            "images": {name: hash_arrays(img) for name, img in sorted(images.items())},
            "scalefactors": library.get("scalefactors"),
            "metadata": library.get("metadata"),
        }
    fingerprint: dict[str, Any] = {
        "counts": hash_arrays(adata.X),
        "barcodes": hash_arrays(adata.obs_names.to_numpy(dtype=str)),
        "genes": hash_arrays(adata.var_names.to_numpy(dtype=str)),
        "spatial": hash_arrays(adata.obsm[_keys.SPATIAL]),
    }
    if isinstance(library_id, str):  # one slide: the keys of the single-slide cache
        fingerprint.update(per_library[library_id])
    else:
        fingerprint["libraries"] = per_library
    return hash_parameters(fingerprint)


def hash_parameters(params: Any) -> str:
    """Hash (BLAKE2b, 16 hex digits) of JSON-serialisable parameters."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@dataclass
class Snapshot:
    """What an AnnData held before a step, to find what the step wrote."""

    x_hash: str
    var: pd.DataFrame
    obs: pd.DataFrame
    ids: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, adata: AnnData) -> Snapshot:
        return cls(
            x_hash=hash_arrays(adata.X),
            var=adata.var.copy(),
            obs=adata.obs.copy(),
            ids={name: {k: id(v) for k, v in getattr(adata, name).items()} for name in MAPPINGS},
        )

    def delta(self, adata: AnnData) -> dict[str, Any]:
        """Entries of ``adata`` added or replaced since the snapshot."""
        out: dict[str, Any] = {}
        if hash_arrays(adata.X) != self.x_hash or not adata.var.equals(self.var):
            out["X"], out["var"] = adata.X, adata.var.copy()
        changed = [
            col
            for col in adata.obs.columns
            if col not in self.obs.columns or not adata.obs[col].equals(self.obs[col])
        ]
        out["obs"] = adata.obs[changed].copy()
        for name in MAPPINGS:
            before = self.ids[name]
            out[name] = {
                key: value
                for key, value in getattr(adata, name).items()
                if before.get(key) != id(value)
            }
        return out


def apply_delta(adata: AnnData, delta: dict[str, Any]) -> None:
    """Write the entries of ``delta`` (from :meth:`Snapshot.delta`) into ``adata``."""
    if "X" in delta:
        adata.X = delta["X"]
        adata.var = delta["var"]
    for col in delta["obs"].columns:
        adata.obs[col] = delta["obs"][col].values  # Categorical stays categorical
    for name in MAPPINGS:
        mapping = getattr(adata, name)
        for key, value in delta[name].items():
            mapping[key] = value


class StepCache:
    """Pickled step outputs in ``folder / "steps"``, one file per key.

    Parameters
    ----------
    folder
        Cache folder (created on first write).
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def key(self, step: str, **inputs: Any) -> str:
        """Key of ``step`` given everything its result depends on."""
        return hash_parameters({"step": step, "format": FORMAT_VERSION, **inputs})

    def path(self, key: str) -> Path:
        return self.folder / STEPS_FOLDER / f"{key}.pkl"

    def load(self, key: str) -> dict[str, Any] | None:
        """The stored delta of ``key``, or ``None`` when absent or unreadable."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with path.open("rb") as fh:
                return pickle.load(fh)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            return None  # damaged or from an incompatible version: recompute

    def save(self, key: str, delta: dict[str, Any]) -> Path:
        """Store ``delta`` under ``key`` atomically."""
        path = self.path(key)
        with atomic_path(path) as tmp, tmp.open("wb") as fh:
            pickle.dump(delta, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return path
