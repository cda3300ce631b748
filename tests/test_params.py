"""Parameter constraints declared per public function, checked by one decorator."""

from __future__ import annotations

import inspect
from numbers import Integral, Real

import numpy as np
import pytest

import spatialfuse as sf
from spatialfuse._errors import ParameterError
from spatialfuse._params import Interval, Options, check_param, validate_params

DECLARED = [
    sf.pp.preprocess,
    sf.gr.spatial_graph,
    sf.im.tile_quality,
    sf.im.encode,
    sf.tl.fuse,
    sf.tl.cluster_domains,
    sf.tl.spatial_domains,
    sf.tl.joint_domains,
    sf.tl.umap,
    sf.tl.weigh_image,
    sf.cohort.run_many,
]


@pytest.mark.parametrize("func", DECLARED, ids=lambda f: f.__name__)
def test_every_parameter_is_declared(func):
    declared = set(func.parameter_constraints)
    assert declared == set(inspect.signature(func).parameters)


def test_intervals_refuse_bools_floats_for_integers_and_nan():
    positive = Interval(Integral, 1, None, closed="left")
    assert positive(3) and positive(np.int64(3))
    assert not positive(True) and not positive(2.0) and not positive(0)
    fraction = Interval(Real, 0, 1, closed="left")
    assert fraction(0.0) and fraction(np.float32(0.5)) and not fraction(1.0)
    assert not fraction(float("nan")) and not fraction("0.5")
    assert not Interval(Real, None, None)(float("nan"))
    assert str(fraction) == "a number in [0, 1)"
    assert str(positive) == "a whole number >= 1"


def test_options_match_values_not_truthiness():
    auto = Options(("auto",))
    assert auto("auto") and not auto("Auto") and not auto(1) and not auto(None)
    numbers = Options((0, 1))
    assert numbers(1) and not numbers(True)


def test_error_names_function_parameter_value_and_fix():
    with pytest.raises(ParameterError) as err:
        check_param("n", -1, [Interval(Integral, 0, None, closed="left"), None], "sf.tl.x")
    assert str(err.value) == "sf.tl.x: n=-1 is not valid; give a whole number >= 0 or None."


def test_declaring_an_unknown_parameter_fails_at_import():
    with pytest.raises(TypeError, match="no parameter"):

        @validate_params({"missing": [int]})
        def func(present: int) -> int:
            return present


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda a: sf.tl.fuse(a, epochs=0), r"sf\.tl\.fuse: epochs=0 is not valid"),
        (lambda a: sf.tl.fuse(a, method="mean"), r"sf\.tl\.fuse: method='mean'"),
        (lambda a: sf.tl.fuse(a, image_weight=1), r"image_weight=1 is not valid"),
        (lambda a: sf.tl.fuse(a, n_pcs=True), r"n_pcs=True is not valid"),
        (lambda a: sf.tl.cluster_domains(a, 2.5), r"n_domains=2.5 is not valid"),
        (lambda a: sf.tl.cluster_domains(a, 3, beta=-1), r"beta=-1 is not valid"),
        (lambda a: sf.tl.cluster_domains(a, 3, n_runs="many"), r"n_runs='many'"),
        (lambda a: sf.tl.cluster_domains(a, n_domains_range=(5, 3)), r"n_domains_range"),
        (lambda a: sf.tl.spatial_domains(a, 3, seed=-2), r"spatial_domains: seed=-2"),
        (lambda a: sf.pp.preprocess(a, n_comps=0), r"sf\.pp\.preprocess: n_comps=0"),
        (lambda a: sf.gr.spatial_graph(a, n_rings=0), r"sf\.gr\.spatial_graph: n_rings=0"),
        (lambda a: sf.im.encode(a, encoder="resnet"), r"sf\.im\.encode: encoder='resnet'"),
        (lambda a: sf.im.tile_quality(a, tile_px=4), r"sf\.im\.tile_quality: tile_px=4"),
        (lambda a: sf.tl.umap(a, copy="yes"), r"sf\.tl\.umap: copy='yes'"),
        (lambda a: sf.tl.spatial_domains([a], 3), r"adata=\[AnnData"),
    ],
)
def test_bad_values_raise_before_any_work(call, message):
    adata = sf.datasets.synthetic(n_spots=120, n_genes=40, seed=0)
    before = set(adata.obsm) | set(adata.obsp) | set(adata.uns)
    with pytest.raises(ParameterError, match=message):
        call(adata)
    assert set(adata.obsm) | set(adata.obsp) | set(adata.uns) == before
