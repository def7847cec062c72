"""check_jvp: a JVP against finite differences (element by element, through the contracted
objective), and against a VJP by the adjoint identity, exact to rounding."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

import gradcheck as gc

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import _forward_zoo as Z  # noqa: E402

DTYPES = [np.float64, np.float32]
SEEDS = range(10)


def _run(case, dtype, seed, **kw):
    return gc.check_jvp(case.fn, case.jvp, case.inputs(np.random.default_rng(seed), dtype),
                        seed=seed, **kw)  # fmt: skip


def _failed(result, suffix=""):
    return [n for n, r in result.inputs.items() if not r.passed and n.endswith(suffix)]


# ---- correct JVPs pass, with and without their VJP -------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("case", Z.JVP_CASES, ids=lambda c: c.name)
def test_correct_jvps_pass_over_ten_seeds(case, dtype):
    for seed in SEEDS:
        result = _run(case, dtype, seed, vjp=case.vjp)
        assert result.passed, f"seed {seed}\n{result}"
        names = [n for n in result.inputs if n.endswith(" (adjoint)")]
        assert names
        assert len(names) * 2 == len(result.inputs)
        assert result.options["check"] == "jvp"


@pytest.mark.parametrize("method", ["richardson", "complex"])
@pytest.mark.parametrize("case", [Z.JVP_CASES[0], Z.JVP_CASES[2], Z.JVP_CASES[3]],
                         ids=lambda c: c.name)  # fmt: skip
def test_every_method_checks_the_jvp(case, method):
    ok = _run(case, np.float64, 0, method=method)
    assert ok.passed, str(ok)
    assert ok.method == method
    bad = gc.check_jvp(case.fn, Z.Scaled(case.jvp, 1e-3), case.inputs(np.random.default_rng(0),
                       np.float64), method=method)  # fmt: skip
    assert not bad.passed


@pytest.mark.parametrize("mode", ["sample", "directional", "auto"])
def test_every_mode_checks_the_jvp(mode):
    case = Z.JVP_CASES[3]  # the LSTM: 108 elements
    opts = {"mode": mode, "budget": 100} if mode == "auto" else {"mode": mode}
    ok = _run(case, np.float64, 1, **opts)
    assert ok.passed, str(ok)
    assert (
        ok.mode_used == {"sample": "sample", "directional": "directional", "auto": "screen"}[mode]
    )
    bad = gc.check_jvp(case.fn, Z.Scaled(case.jvp, 0.05, 0), case.inputs(
        np.random.default_rng(1), np.float64), **opts)  # fmt: skip
    assert not bad.passed


def test_the_cost_is_one_jvp_per_element_and_one_vjp():
    case = Z.JVP_CASES[1]  # softmax: 15 elements
    counted = {"jvp": 0, "vjp": 0}

    def jvp(u, x):
        counted["jvp"] += 1
        return case.jvp(u, x)

    def vjp(v, x):
        counted["vjp"] += 1
        return case.vjp(v, x)

    inputs = case.inputs(np.random.default_rng(0), np.float64)
    result = gc.check_jvp(case.fn, jvp, inputs, vjp=vjp, mode="full")
    assert result.passed
    assert counted["jvp"] % 15 == 0
    assert counted["jvp"] >= 15
    assert counted["vjp"] == 1
    assert result.backward_calls == counted["jvp"] + counted["vjp"]
    assert "check_jvp, method central" in str(result)
    assert f"+ {result.backward_calls} of jvp (and vjp)" in str(result)


def test_complex_inputs_cost_two_jvps_per_element():
    case = Z.JVP_CASES[6]  # |z|^2 Re(z): 6 complex elements
    counted = []

    def jvp(u, z):
        counted.append(u.copy())
        return case.jvp(u, z)

    inputs = case.inputs(np.random.default_rng(0), np.float64)
    gc.check_jvp(case.fn, jvp, inputs, mode="full")
    units = [complex(u.reshape(-1)[np.flatnonzero(u)[0]]) for u in counted[:12]]
    assert units == [1, 1j] * 6


# ---- planted bugs are caught --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("case", Z.JVP_CASES[:5], ids=lambda c: c.name)
def test_a_jvp_off_by_a_factor_is_caught_with_its_ratio(case, dtype):
    inputs = case.inputs(np.random.default_rng(0), dtype)
    result = gc.check_jvp(case.fn, Z.Scaled(case.jvp, 0.01), inputs, vjp=case.vjp)
    assert not result.passed
    # every element of every input is wrong by the same ratio, in both parts of the check
    assert set(_failed(result)) == set(result.inputs)
    kinds = {f.kind for f in result.findings}
    assert gc.FindingKind.CONSTANT_RATIO in kinds, str(result)


@pytest.mark.parametrize("case", Z.JVP_CASES[:4], ids=lambda c: c.name)
def test_a_jvp_wrong_along_one_tangent_is_located(case):
    inputs = case.inputs(np.random.default_rng(0), np.float64)
    first = next(iter(inputs))
    row = gc.check_jvp(case.fn, case.jvp, inputs).inputs[first].analytic
    j = Z.nearest_to_fiftieth(row)
    bug = Z.ScaledColumn(case.jvp, 0, j, 1e-5)
    result = gc.check_jvp(case.fn, bug, inputs, vjp=case.vjp)
    where = np.unravel_index(j, inputs[first].shape)
    for name in (first, f"{first} (adjoint)"):
        r = result.inputs[name]
        assert r.mismatch_indices() == [tuple(int(i) for i in where)], str(result)
    assert _failed(result) == [first, f"{first} (adjoint)"]


def test_a_transposed_jvp_is_named():
    case = Z.JVP_CASES[0]

    def jvp_transposed(t, x, w, b):
        dx, dw, db = t
        return case.jvp((dx, dw.T, db), x, w, b)

    inputs = case.inputs(np.random.default_rng(0), np.float64)
    result = gc.check_jvp(case.fn, jvp_transposed, inputs)
    assert _failed(result) == ["w"]
    assert result.findings[0].kind == gc.FindingKind.TRANSPOSED


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("case", Z.JVP_CASES[:5], ids=lambda c: c.name)
def test_a_wrong_vjp_fails_the_adjoint_identity_alone(case, dtype):
    """The JVP is right (the finite differences pass); the VJP is off by 1e-3 in one element:
    only the adjoint identity sees it, and at that element."""
    inputs = case.inputs(np.random.default_rng(2), dtype)

    def vjp(*args):
        out = case.vjp(*args)
        out = list(out) if isinstance(out, tuple) else [out]
        g = out[0].copy()
        g.reshape(-1)[1] *= 1.001
        out[0] = g
        return tuple(out) if len(out) > 1 else out[0]

    result = gc.check_jvp(case.fn, case.jvp, inputs, vjp=vjp)
    first = next(iter(inputs))
    # a complex element scaled moves both its parts
    parts = [f"{first}.real", f"{first}.imag"] if inputs[first].dtype.kind == "c" else [first]
    assert _failed(result) == [f"{p} (adjoint)" for p in parts], str(result)
    for p in parts:
        assert result.inputs[f"{p} (adjoint)"].mismatch_indices() == [
            tuple(int(i) for i in np.unravel_index(1, inputs[first].shape))
        ]


def test_rtol_and_atol_bound_the_identity_too():
    case = Z.JVP_CASES[0]
    inputs = case.inputs(np.random.default_rng(0), np.float64)
    vjp = Z.Scaled(case.vjp, 1e-6)
    assert _failed(gc.check_jvp(case.fn, case.jvp, inputs, vjp=vjp)) == [
        "x (adjoint)",
        "w (adjoint)",
        "b (adjoint)",
    ]
    loose = gc.check_jvp(case.fn, case.jvp, inputs, vjp=vjp, rtol=1e-4, atol=1e-9)
    assert loose.passed, str(loose)


# ---- the call contract --------------------------------------------------------------------------


def test_tangents_are_structured_like_the_inputs():
    seen = []

    def fn(x, w, labels):
        return x * w[labels]

    def jvp(t, x, w, labels):
        seen.append(tuple(None if a is None else a.copy() for a in t))
        dx, dw, dl = t
        return dx * w[labels] + x * dw[labels]

    inputs = {"x": np.ones(3), "w": np.array([1.0, 2.0]), "labels": np.array([0, 1, 1])}
    assert gc.check_jvp(fn, jvp, inputs, wrt=["x"]).passed
    dx, dw, dl = seen[0]
    assert dl is None  # not a floating array
    assert not np.any(dw)
    assert dw.dtype == np.float64
    assert np.count_nonzero(dx) == 1
    single = []
    gc.check_jvp(np.sin, lambda u, x: single.append(u) or u * np.cos(x), {"x": np.ones(2)})
    assert isinstance(single[0], np.ndarray)  # one input: a bare array


def test_a_jvp_may_return_its_tangent():
    assert gc.check_jvp(lambda x: x.copy(), lambda u, x: u, {"x": X}, vjp=lambda v, x: v).passed
    bad = gc.check_jvp(lambda x: 2 * x, lambda u, x: u, {"x": X}, vjp=lambda v, x: 2 * v)
    assert set(_failed(bad)) == {"x", "x (adjoint)"}


def test_outputs_in_a_tuple_are_matched():
    def fn(x):
        return np.sin(x), np.cos(x).sum(keepdims=True)

    def jvp(u, x):
        return np.cos(x) * u, (-np.sin(x) * u).sum(keepdims=True)

    def vjp(v, x):
        return v[0] * np.cos(x) - v[1] * np.sin(x)

    assert gc.check_jvp(fn, jvp, {"x": np.linspace(0, 1, 4)}, vjp=vjp).passed
    cot = (np.ones(4), np.array([2.0]))
    assert gc.check_jvp(fn, jvp, {"x": np.linspace(0, 1, 4)}, cotangents=cot).passed


def _sin(x):
    return np.sin(x)


def _jvp(u, x):
    return u * np.cos(x)


def _mutating_jvp(u, x):
    u += 1.0
    return u * np.cos(x)


def _input_mutating_jvp(u, x):
    x[0] = 5.0
    return u * np.cos(x)


X = np.linspace(0.1, 1.0, 4)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: gc.check_jvp(_sin, None, {"x": X}), gc.InvalidArgumentError, "for jvp"),
        (lambda: gc.check_jvp(_sin, _jvp, {"x": X}, vjp=3), gc.InvalidArgumentError, "for vjp"),
        (
            lambda: gc.check_jvp(_sin, lambda u, x: u[:2], {"x": X}),
            gc.InvalidOutputError,
            r"jvp must return one array per output of fn, of shapes \[\(4,\)\]",
        ),
        (
            lambda: gc.check_jvp(_sin, lambda u, x: u + 0j, {"x": X}),
            gc.InvalidOutputError,
            "output 0 of jvp is complex .* output 0 of fn is real",
        ),
        (
            lambda: gc.check_jvp(_sin, lambda u, x: np.full_like(u, np.nan), {"x": X}),
            gc.NonFiniteError,
            r"output 0 of jvp is not finite along the tangent x\[0\]",
        ),
        (
            lambda: gc.check_jvp(_sin, lambda u, x: 1 / 0, {"x": X}),
            gc.UserCodeError,
            "jvp raised ZeroDivisionError",
        ),
        (
            lambda: gc.check_jvp(_sin, _mutating_jvp, {"x": X}),
            gc.InputMutationError,
            "jvp changed its tangent in place",
        ),
        (
            lambda: gc.check_jvp(_sin, _input_mutating_jvp, {"x": X}),
            gc.InputMutationError,
            r"jvp changed its input\(s\) \['x'\]",
        ),
        (
            lambda: gc.check_jvp(_sin, _jvp, {"x": X}, vjp=lambda v, x: v[:2]),
            gc.InvalidGradientError,
            "the gradient vjp returned for 'x' must be an array of shape",
        ),
        (
            lambda: gc.check_jvp(_sin, _jvp, {"x": X}, vjp=lambda v, x: v.astype(np.float32)),
            gc.InvalidGradientError,
            "dtype float64, got an array of shape .* and dtype float32",
        ),
        (
            lambda: gc.check_jvp(_sin, _jvp, {"x": X}, vjp=lambda v, x: (v, v)),
            gc.InvalidGradientError,
            r"vjp returned 2 gradient\(s\) but there are 1 inputs",
        ),
    ],
    ids=[
        "jvp-not-callable",
        "vjp-not-callable",
        "jvp-wrong-shape",
        "jvp-complex-for-real",
        "jvp-not-finite",
        "jvp-raises",
        "jvp-mutates-tangent",
        "jvp-mutates-input",
        "vjp-wrong-shape",
        "vjp-wrong-dtype",
        "vjp-wrong-count",
    ],
)
def test_mistakes_raise_typed_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_the_callers_arrays_are_unchanged():
    case = Z.JVP_CASES[0]
    inputs = case.inputs(np.random.default_rng(0), np.float64)
    before = {k: v.copy() for k, v in inputs.items()}
    gc.check_jvp(case.fn, Z.Scaled(case.jvp, 0.1), inputs, vjp=case.vjp)
    for k, v in inputs.items():
        assert np.array_equal(v, before[k])


def test_an_executor_gives_the_serial_verdict():
    case = Z.JVP_CASES[0]
    inputs = case.inputs(np.random.default_rng(0), np.float64)
    serial = gc.check_jvp(case.fn, case.jvp, inputs, vjp=case.vjp, seed=3)
    with ThreadPoolExecutor(2) as pool:
        sharded = gc.check_jvp(case.fn, case.jvp, inputs, vjp=case.vjp, seed=3, executor=pool)
    assert sharded.passed == serial.passed
    for name, r in serial.inputs.items():
        np.testing.assert_array_equal(r.numeric, sharded.inputs[name].numeric)


def test_reports_name_the_check():
    case = Z.JVP_CASES[0]
    inputs = case.inputs(np.random.default_rng(0), np.float64)
    result = gc.check_jvp(case.fn, Z.Scaled(case.jvp, 0.01), inputs, vjp=case.vjp)
    schema = json.loads(files("gradcheck").joinpath("schema/report.schema.json").read_text())
    data = json.loads(gc.report(result, "json"))
    import jsonschema

    jsonschema.validate(data, schema)
    assert data["options"]["check"] == "jvp"
    assert [e["name"] for e in data["inputs"]] == ["x", "w", "b", "x (adjoint)", "w (adjoint)",
                                                   "b (adjoint)"]  # fmt: skip
    assert "check_jvp, method central" in gc.report(result, "markdown").replace("\\_", "_")
    html = gc.report(result, "html")
    assert "check_jvp" in html
    assert "x (adjoint)" in html
