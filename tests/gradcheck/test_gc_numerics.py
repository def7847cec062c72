"""Numerics: steps, error estimates, kinks, complex step, fixed tolerances."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck as gc
from gradcheck import Status
from gradcheck._core.numerics import ecnoise as _ecnoise
from gradcheck._core.numerics import richardson as _richardson
from gradcheck._core.numerics import staircase_grid, value_grid

WEIGHTS = np.arange(1.0, 7.0)


def relu_sum(x):
    return float(np.sum(np.maximum(x, 0.0) * WEIGHTS))


def relu_grad(x):
    return ((x > 0) * WEIGHTS,)


KINKY_X = np.array([0.0, 1e-7, -1e-7, 0.5, -0.3, 3e-6])


def test_relu_at_zero_is_a_kink_not_a_mismatch():
    result = gc.check_grad(relu_sum, relu_grad, {"x": KINKY_X})
    r = result.inputs["x"]
    assert result.passed
    # 3e-6 is half a step from the kink: smaller steps resolve it as the smooth point it is
    assert set(r.kinks) == {(0,), (1,), (2,)}
    assert list(r.status) == [Status.KINK] * 3 + [Status.OK] * 3


def test_kink_policies():
    fail = gc.check_grad(relu_sum, relu_grad, {"x": KINKY_X}, kinks="fail")
    assert not fail.passed
    skip = gc.check_grad(relu_sum, relu_grad, {"x": KINKY_X}, kinks="skip")
    assert skip.passed
    assert skip.inputs["x"].checked == 3


def test_wrong_gradient_next_to_kinks_is_still_caught():
    def bad_grad(x):
        return ((x > 0) * WEIGHTS * np.array([1, 1, 1, 1.01, 1, 1]),)

    result = gc.check_grad(relu_sum, bad_grad, {"x": KINKY_X})
    assert not result.passed
    r = result.inputs["x"]
    assert r.worst.index == (3,)
    assert r.worst.status == Status.MISMATCH


def test_analytic_value_outside_the_one_sided_slopes_is_a_mismatch():
    def double_grad(x):
        return ((x >= 0) * WEIGHTS * 2,)

    r = gc.check_grad(relu_sum, double_grad, {"x": KINKY_X}).inputs["x"]
    assert r.status[0] == Status.MISMATCH  # 2 is not between the slopes 0 and 1


def test_ties_in_max_are_kinks():
    def fn(x):
        return float(np.max(x))

    def grad(x):
        g = np.zeros_like(x)
        g[np.argmax(x)] = 1.0
        return (g,)

    result = gc.check_grad(fn, grad, {"x": np.array([1.0, 2.0, 2.0, 0.5])})
    assert result.passed
    assert result.inputs["x"].kinks == ((1,), (2,))


def test_smooth_function_with_a_kink_at_zero():
    def fn(x):
        return float(np.sum(np.abs(x) * np.exp(x)))

    def grad(x):
        return (np.sign(x) * np.exp(x) * (1 + x),)

    # at exactly 0 the analytic 0 is a subgradient that central differences agree with; at
    # 1e-6 smaller steps resolve the smooth side; closer than the smallest step tried (1e-9,
    # 1e-13) the estimate straddles the kink and it is reported
    x = np.array([0.0, 1e-6, 2.0, -1.0, 1e-9, 1e-13])
    r = gc.check_grad(fn, grad, {"x": x}).inputs["x"]
    assert list(r.status) == [Status.OK] * 4 + [Status.KINK] * 2


@pytest.mark.parametrize("scale", [1.0, 1e3, 1e6])
def test_step_scales_with_magnitude(scale):
    x = np.array([1.0, -2.0, 3.0]) * scale

    def fn(x):
        return float(np.sum(np.sin(x / scale)))

    def grad(x):
        return (np.cos(x / scale) / scale,)

    assert gc.check_grad(fn, grad, {"x": x}).passed
    bad = gc.check_grad(fn, lambda x: (grad(x)[0] * 1.001,), {"x": x})
    assert not bad.passed


def test_tiny_inputs_of_a_unit_scale_function():
    x = np.array([1e-8, -2e-9, 3e-12])
    assert gc.check_grad(
        lambda x: float(np.sum(np.sin(x))), lambda x: (np.cos(x),), {"x": x}
    ).passed


def test_step_divides_by_the_representable_step():
    # near 1e8 in float32, x + h rounds heavily: dividing by 2h would be off by percents
    x = np.array([1e8 + 0.0, 3e7], dtype=np.float32)

    def fn(x):
        return float(np.sum(x.astype(np.float64) * 1e-8))

    assert gc.check_grad(fn, lambda x: (np.full_like(x, 1e-8),), {"x": x}).passed


def test_every_verdict_carries_its_numbers():
    result = gc.check_grad(lambda x: float(np.sum(x**3)), lambda x: (3 * x**2,), {"x": np.ones(3)})
    r = result.inputs["x"]
    w = r.worst
    assert w is not None
    assert w.abs_error == pytest.approx(abs(w.analytic - w.numeric))
    assert w.threshold >= result.options["safety"] * w.error_estimate
    assert np.all(np.isfinite(r.threshold))
    assert np.all(r.error_estimate > 0)


def test_fixed_tolerances_replace_the_estimate():
    def grad(x):
        return (3 * x**2 * 1.001,)

    fn = lambda x: float(np.sum(x**3))  # noqa: E731
    inputs = {"x": np.array([1.0, 2.0])}
    assert not gc.check_grad(fn, grad, inputs).passed
    loose = gc.check_grad(fn, grad, inputs, rtol=1e-2)
    assert loose.passed
    r = loose.inputs["x"]
    np.testing.assert_allclose(r.threshold, 1e-2 * np.abs(r.numeric))
    assert not gc.check_grad(fn, grad, inputs, rtol=1e-4, atol=0.0).passed


def test_complex_step_is_exact_to_rounding():
    x = np.linspace(-2, 2, 7)
    result = gc.check_grad(
        lambda x: np.sum(np.exp(x) * np.sin(x)), _exp_sin_grad, {"x": x}, method="complex"
    )
    r = result.inputs["x"]
    np.testing.assert_allclose(r.numeric, r.analytic, rtol=1e-14, atol=1e-15)


def _exp_sin_grad(x):
    return (np.exp(x) * (np.sin(x) + np.cos(x)),)


def test_float32_correct_code_passes_and_float32_stays_float32():
    x = np.linspace(-2, 2, 9).astype(np.float32)
    seen = []

    def fn(x):
        seen.append(x.dtype)
        return np.sum(np.tanh(x) * x)

    def grad(x):
        t = np.tanh(x)
        return (t + x * (1 - t * t),)

    assert gc.check_grad(fn, grad, {"x": x}).passed
    assert set(seen) == {np.dtype(np.float32)}


@pytest.mark.parametrize("mode", ["directional", "full"])
def test_complex_step_keeps_complex64_for_float32_inputs(mode):
    # every complex call sees one dtype: a float32 input becomes complex64, also along a
    # random direction over one input while the other stays at its unperturbed point
    x = np.linspace(-2, 2, 9).astype(np.float32)
    w = np.linspace(0.5, 1.5, 9).astype(np.float32)
    seen = []

    def fn(x, w):
        if x.dtype != w.dtype:
            raise TypeError(f"mixed dtypes {x.dtype} and {w.dtype}")
        seen.append(x.dtype)
        return np.sum(np.tanh(x) * w)

    def grad(x, w):
        t = np.tanh(x)
        return (w * (1 - t * t), t)

    result = gc.check_grad(fn, grad, {"x": x, "w": w}, method="complex", mode=mode)
    assert result.passed, result
    assert {d for d in seen if d.kind == "c"} == {np.dtype(np.complex64)}


def test_richardson_helper_removes_the_h2_term():
    f1, f2 = np.array([1.0 + 0.01]), np.array([1.0 + 0.04])  # D(h) = 1 + c h^2, h = 0.1, 0.2
    np.testing.assert_allclose(_richardson(f1, f2, np.array([0.1]), np.array([0.2])), 1.0)


def test_ecnoise_recovers_a_known_noise_level():
    rng = np.random.default_rng(0)
    t = np.arange(9) * 1e-3
    sigmas = [_ecnoise(np.sin(t) + 1e-9 * rng.standard_normal(9))[0] for _ in range(200)]
    assert 0.5e-9 < np.median(sigmas) < 2e-9


EPS = float(np.finfo(np.float64).eps)


def test_values_rounded_on_a_coarse_grid_show_it():
    # log(1 + p) for p of 1e-14: the value moves in whole ulps of 1, levels 2.2e-16 apart
    p = 5e-14 + np.array([0, 0, 0.3, 0.6, 1.2, 1.4, 2.1, 2.3, 2.4]) * 1e-16
    values = np.log(1 + p)
    assert value_grid(values, EPS) == pytest.approx(EPS, rel=1e-3)
    # smooth values (9 distinct) and values rounded only at their own ulps show no grid
    assert value_grid(np.sin(1 + np.arange(9) * 1e-3), EPS) == 0.0
    assert value_grid(np.array([1.0, 1.0, 1.0 + EPS, 1.0 + EPS, 1.0, 1, 1, 1, 1]), EPS) == 0.0
    assert value_grid(np.zeros(9), EPS) == 0.0


def test_a_straight_staircase_shows_the_grid_its_narrower_line_hid():
    # one ulp of 1 per point at the wide spacing: ECnoise sees a straight line, no noise
    wide = 5.08e-14 - np.arange(1, 10) * EPS
    narrow = np.full(9, 5.08e-14)  # 16 times narrower: no move at all
    assert staircase_grid(wide, narrow, EPS) == pytest.approx(8 * EPS / 16)
    assert _ecnoise(wide)[0] < 1e-28
    # a smooth line whose narrower values simply moved less than 16 ulps: no grid
    x = 1 + np.arange(1, 10) * 1e-15
    assert staircase_grid(x, 1 + np.arange(1, 10) * 1e-15 / 16, EPS) == 0.0
    # not a straight line (exponential growth at the wider spacing): no grid
    assert staircase_grid(np.exp(np.arange(1, 10) * 4.0), np.zeros(9), EPS) == 0.0
