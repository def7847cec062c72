"""Second order: check_hvp (an HVP against finite differences of its gradient, and the symmetry
of the Hessian) and check_gradgrad (the derivatives of a VJP)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import gradcheck as gc

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import _forward_zoo as Z  # noqa: E402

DTYPES = [np.float64, np.float32]
SEEDS = range(10)


def _hvp(case, dtype, seed, hvp=None, **kw):
    inputs = case.inputs(np.random.default_rng(seed), dtype)
    return gc.check_hvp(case.grad, hvp or case.hvp, inputs, seed=seed,
                        wrt=Z.HVP_WRT[case.name], **kw)  # fmt: skip


def _gradgrad(case, dtype, seed, vjp_jvp=None, vjp=None, **kw):
    inputs = case.inputs(np.random.default_rng(seed), dtype)
    return gc.check_gradgrad(case.fn, vjp or case.vjp, vjp_jvp or case.vjp_jvp, inputs,
                             seed=seed, **kw)  # fmt: skip


def _failed(result):
    return [n for n, r in result.inputs.items() if not r.passed]


# ---- HVPs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("case", Z.HVP_CASES, ids=lambda c: c.name)
def test_correct_hvps_pass_over_ten_seeds(case, dtype):
    for seed in SEEDS:
        result = _hvp(case, dtype, seed)
        assert result.passed, f"seed {seed}\n{result}"
        assert any(n.endswith(" (symmetry)") for n in result.inputs)
        assert result.options["check"] == "hvp"


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_a_transposed_hvp_fails_the_symmetry_and_the_differences(dtype):
    case = Z.HVP_CASES[1]  # softmax cross-entropy in a square weight
    for seed in SEEDS:
        result = _hvp(case, dtype, seed, hvp=Z.Transposed(case.hvp, 0, 1.0))
        assert _failed(result) == ["w", "w (symmetry)"], f"seed {seed}\n{result}"
    # the symmetry alone catches a small share of the transpose, with no finite difference
    e = 1e-6 if dtype == np.float64 else 1e-3
    result = _hvp(case, dtype, 0, hvp=Z.Transposed(case.hvp, 0, e))
    assert "w (symmetry)" in _failed(result), str(result)


def test_an_hvp_off_by_a_factor_has_its_ratio():
    case = Z.HVP_CASES[0]
    result = _hvp(case, np.float64, 0, hvp=Z.Scaled(case.hvp, 1.0))
    # twice the Hessian is still symmetric: only the finite differences see the factor
    assert _failed(result) == ["x", "a"]
    top = result.findings[0]
    assert (top.kind, top.evidence["factor"]) == (gc.FindingKind.CONSTANT_RATIO, "2")


def test_gradients_may_come_as_a_dict_or_a_bare_array():
    a = np.array([[2.0, 1.0], [0.0, 3.0]])

    def grad(x, w):
        return {"x": a.T @ np.exp(a @ x) * w[0], "w": np.array([np.exp(a @ x).sum(), 0.0])}

    def hvp(t, x, w):
        u, dw = t
        e = np.exp(a @ x)
        return {"x": a.T @ (e * (a @ u)) * w[0] + a.T @ e * dw[0],
                "w": np.array([e @ (a @ u), 0.0])}  # fmt: skip

    inputs = {"x": np.array([0.1, -0.2]), "w": np.array([1.5, 0.3])}
    assert gc.check_hvp(grad, hvp, inputs).passed
    assert gc.check_hvp(lambda x: np.exp(x), lambda u, x: u * np.exp(x), {"x": np.ones(3)}).passed
    with pytest.raises(gc.InvalidOutputError, match=r"the dict grad returned misses .*\['w'\]"):
        gc.check_hvp(lambda x, w: {"x": x}, hvp, inputs)
    with pytest.raises(gc.InvalidOutputError, match=r"hvp must return one array per input \(2"):
        gc.check_hvp(grad, lambda t, x, w: t[0], inputs)


def test_an_hvp_of_a_subset_of_the_inputs_is_its_block():
    case = Z.HVP_CASES[0]
    inputs = case.inputs(np.random.default_rng(0), np.float64)
    result = gc.check_hvp(case.grad, case.hvp, inputs, wrt=["a"])
    assert result.passed
    assert list(result.inputs) == ["a", "a (symmetry)"]


# ---- the derivatives of a VJP -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("case", Z.GRADGRAD_CASES, ids=lambda c: c.name)
def test_correct_second_order_terms_pass_over_ten_seeds(case, dtype):
    for seed in SEEDS:
        result = _gradgrad(case, dtype, seed)
        assert result.passed, f"seed {seed}\n{result}"
        names = list(result.inputs)
        assert names[0] == "cotangent"
        assert "cotangent (symmetry)" not in names
        assert result.options["check"] == "gradgrad"


@pytest.mark.parametrize("case", Z.GRADGRAD_CASES, ids=lambda c: c.name)
def test_a_wrong_second_order_term_is_caught(case):
    bug = Z.Scaled(case.vjp_jvp, 1e-3, 0)
    result = _gradgrad(case, np.float64, 0, vjp_jvp=bug)
    assert not result.passed
    first = next(iter(case.inputs(np.random.default_rng(0), np.float64)))
    assert first in _failed(result), str(result)


def test_a_vjp_not_linear_in_its_cotangent_fails_at_the_cotangent():
    case = Z.GRADGRAD_CASES[0]

    def vjp(d, x, w, b):  # |dout| where dout belongs: right at a positive cotangent only
        return case.vjp(np.abs(d), x, w, b)

    result = _gradgrad(case, np.float64, 0, vjp=vjp)
    assert "cotangent" in _failed(result), str(result)


def test_a_reverse_over_reverse_vjp_is_checked_with_check_vjp():
    """The README's recipe: the VJP as a function of (cotangent, inputs), its own VJP."""

    def vjp(v, x):
        return v * np.cos(x)

    def vjp_vjp(w, v, x):  # d<w, v cos x>/dv, d<w, v cos x>/dx
        return w * np.cos(x), -w * v * np.sin(x)

    inputs = {"v": np.array([0.5, -1.0, 2.0]), "x": np.linspace(0, 1, 3)}
    assert gc.check_vjp(vjp, vjp_vjp, inputs).passed
    assert not gc.check_vjp(vjp, lambda w, v, x: (w * np.cos(x), w * v * np.sin(x)), inputs).passed


def test_several_outputs_give_several_cotangents():
    def fn(x):
        return np.sin(x), np.exp(x)

    def vjp(v, x):
        return v[0] * np.cos(x) + v[1] * np.exp(x)

    def vjp_jvp(u, v, x):
        return (-v[0] * np.sin(x) + v[1] * np.exp(x)) * u

    result = gc.check_gradgrad(fn, vjp, vjp_jvp, {"x": np.linspace(0, 1, 3)})
    assert result.passed
    assert list(result.inputs)[:3] == ["cotangent0", "cotangent1", "x"]
    only = gc.check_gradgrad(fn, vjp, vjp_jvp, {"x": np.linspace(0, 1, 3)}, wrt=["x"])
    assert list(only.inputs) == ["x", "x (symmetry)"]


def test_the_cotangent_name_must_be_free():
    with pytest.raises(gc.InvalidArgumentError, match="'cotangent' is taken"):
        gc.check_gradgrad(np.sin, lambda v, x: v, lambda u, v, x: u, {"cotangent": np.ones(2)})


def test_a_given_cotangent_is_the_point_of_the_check():
    seen = []

    def vjp(v, x):
        seen.append(v.copy())
        return v * np.cos(x)

    v = np.array([1.0, -2.0, 0.5])
    result = gc.check_gradgrad(np.sin, vjp, lambda u, d, x: -d * np.sin(x) * u,
                               {"x": np.linspace(0, 1, 3)}, cotangents=v)  # fmt: skip
    assert result.passed
    assert any(np.array_equal(s, v) for s in seen)
