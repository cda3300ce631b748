"""Tests of the step cache: content hashes, step deltas and the on-disk store."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from spatialfuse._cache import (
    Snapshot,
    StepCache,
    apply_delta,
    data_fingerprint,
    hash_arrays,
)


def _slide(seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    adata = ad.AnnData(
        X=sp.random(20, 8, density=0.5, format="csr", dtype=np.float32, random_state=seed),
        obs=pd.DataFrame(index=[f"b{i}" for i in range(20)]),
    )
    adata.obsm["spatial"] = rng.uniform(0, 100, (20, 2))
    adata.uns["spatial"] = {
        "lib": {
            "images": {"lowres": rng.integers(0, 255, (10, 10, 3), dtype=np.uint8)},
            "scalefactors": {"spot_diameter_fullres": 10.0, "tissue_lowres_scalef": 0.1},
        }
    }
    return adata


def test_hash_changes_with_content_and_matches_equal_content():
    x = sp.random(50, 30, density=0.1, format="csr", random_state=0)
    assert hash_arrays(x) == hash_arrays(x.copy())
    assert hash_arrays(x) == hash_arrays(x.tocsc())  # same matrix, other sparse format
    y = x.copy()
    y.data[0] += 1
    assert hash_arrays(x) != hash_arrays(y)
    assert hash_arrays(np.zeros((2, 3))) != hash_arrays(np.zeros((3, 2)))


def test_fingerprint_sees_counts_positions_image_and_scalefactors():
    base = data_fingerprint(_slide(), "lib")
    assert data_fingerprint(_slide(), "lib") == base
    changes = [
        lambda a: a.X.data.__setitem__(0, a.X.data[0] + 1),
        lambda a: a.obsm["spatial"].__setitem__((0, 0), -1.0),
        lambda a: a.uns["spatial"]["lib"]["images"]["lowres"].__setitem__((0, 0, 0), 7),
        lambda a: a.uns["spatial"]["lib"]["scalefactors"].update(tissue_lowres_scalef=0.2),
    ]
    for change in changes:
        adata = _slide()
        change(adata)
        assert data_fingerprint(adata, "lib") != base


def _fake_step(adata: ad.AnnData) -> None:
    adata.X = adata.X * 2
    adata.var["flag"] = True
    adata.obs["label"] = pd.Categorical(["a", "b"] * 10)
    adata.obsm["X_emb"] = np.arange(40.0).reshape(20, 2)
    adata.obsp["graph"] = sp.identity(20, format="csr")
    adata.uns["params"] = {"k": 3}


def test_delta_holds_exactly_what_a_step_wrote_and_restores_it(tmp_path):
    adata = _slide()
    adata.obsm["untouched"] = np.ones((20, 1))
    snapshot = Snapshot.of(adata)
    _fake_step(adata)
    delta = snapshot.delta(adata)
    assert list(delta["obs"].columns) == ["label"]
    assert set(delta["obsm"]) == {"X_emb"}
    assert set(delta["obsp"]) == {"graph"}
    assert set(delta["uns"]) == {"params"}
    cache = StepCache(tmp_path)
    cache.save("k1", delta)

    restored = _slide()
    apply_delta(restored, cache.load("k1"))
    assert (restored.X != adata.X).nnz == 0
    assert restored.var["flag"].all()
    assert isinstance(restored.obs["label"].dtype, pd.CategoricalDtype)
    assert restored.obs["label"].tolist() == adata.obs["label"].tolist()
    np.testing.assert_array_equal(restored.obsm["X_emb"], adata.obsm["X_emb"])
    assert restored.uns["params"] == {"k": 3}


def test_unchanged_step_has_empty_delta():
    adata = _slide()
    snapshot = Snapshot.of(adata)
    delta = snapshot.delta(adata)
    assert "X" not in delta
    assert delta["obs"].shape[1] == 0
    assert not any(delta[name] for name in ("obsm", "obsp", "layers", "uns"))


def test_keys_depend_on_parameters_and_upstream_steps(tmp_path):
    cache = StepCache(tmp_path)
    key = cache.key("fuse", data="d", params={"epochs": 10}, after={"encode": "e1"})
    assert key == cache.key("fuse", data="d", params={"epochs": 10}, after={"encode": "e1"})
    assert key != cache.key("fuse", data="d", params={"epochs": 11}, after={"encode": "e1"})
    assert key != cache.key("fuse", data="d", params={"epochs": 10}, after={"encode": "e2"})
    assert key != cache.key("encode", data="d", params={"epochs": 10}, after={"encode": "e1"})


def test_missing_or_damaged_entry_is_a_miss(tmp_path):
    cache = StepCache(tmp_path)
    assert cache.load("absent") is None
    path = cache.save("k", {"obs": pd.DataFrame()})
    path.write_bytes(path.read_bytes()[:5])  # truncated by a crash outside atomic_path
    assert cache.load("k") is None
    assert not list(path.parent.glob("*.part"))
