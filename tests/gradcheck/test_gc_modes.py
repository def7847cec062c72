"""Modes and their documented cost in function calls."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import gc_functions as F
import numpy as np
import pytest

import gradcheck as gc
from gradcheck import Status


def sin_sum(x, y):
    return np.sum(np.sin(x)) + np.sum(x[:, :1] * y)


def sin_sum_grad(x, y):
    gx = np.cos(x)
    gx[:, :1] += y
    return gx, x[:, :1].copy()


def _inputs():
    rng = np.random.default_rng(0)
    return {"x": rng.uniform(-2, 2, (6, 5)), "y": rng.uniform(-1, 1, (6, 1))}


BASE = 2  # the unperturbed evaluation (with the backward pass) and the determinism repeat
NOISE = 9  # the rounding noise of one evaluation, measured once per input (or joint screen)


@pytest.mark.parametrize(("method", "per_element"), [("central", 2), ("richardson", 4)])
def test_full_mode_costs_calls_per_element_plus_a_constant(method, per_element):
    result = gc.check_grad(sin_sum, sin_sum_grad, _inputs(), mode="full", method=method)
    assert result.passed
    assert result.calls == BASE + 2 * NOISE + per_element * 36
    assert result.backward_calls == 1
    assert all(r.checked == r.size for r in result.inputs.values())


def test_complex_step_costs_one_call_per_element():
    result = gc.check_grad(sin_sum, sin_sum_grad, _inputs(), mode="full", method="complex")
    assert result.passed
    # + 1 complex evaluation at the unperturbed point and 3 for the complex-step safety probe
    assert result.calls == BASE + NOISE + 4 + 36


def test_sample_mode_checks_k_elements_including_the_ends():
    result = gc.check_grad(sin_sum, sin_sum_grad, _inputs(), mode="sample", samples=7)
    assert result.calls == BASE + 2 * NOISE + 2 * (7 + 6)  # y has only 6 elements
    x = result.inputs["x"]
    assert x.checked == 7
    assert x.status[0, 0] == Status.OK
    assert x.status[-1, -1] == Status.OK


def test_directional_mode_costs_two_calls_per_direction_per_input():
    result = gc.check_grad(sin_sum, sin_sum_grad, _inputs(), mode="directional", directions=3)
    assert result.passed
    assert result.calls == BASE + NOISE + 2 * 3 * 2  # one noise measurement for directions
    assert all(len(r.directions) == 3 and r.checked == 0 for r in result.inputs.values())


def test_auto_is_full_within_budget_and_a_joint_screen_beyond():
    small = gc.check_grad(sin_sum, sin_sum_grad, _inputs())
    assert small.mode_used == "full"
    large = gc.check_grad(sin_sum, sin_sum_grad, _inputs(), budget=60, screen=20)
    assert large.mode_used == "screen"
    # the screen: 10 block directions of 2 calls, blocks of 4 elements or fewer: 8 over x
    # (30 elements) and 2 over y (6)
    blocks = [d for r in large.inputs.values() for d in r.directions]
    assert len(blocks) == 10
    assert {r.name: len(r.directions) for r in large.inputs.values()} == {"x": 8, "y": 2}
    assert large.calls == BASE + NOISE + 2 * 10
    assert large.passed


def _big_fn(x):
    return float(np.sum(np.sin(x) * np.arange(x.size).reshape(x.shape) / x.size))


def _big_grad(x):
    return (np.cos(x) * np.arange(x.size).reshape(x.shape) / x.size,)


def _big_grad_bug(x):
    g = _big_grad(x)[0]
    g[31, 7] *= 1.5
    return (g,)


def test_auto_localizes_a_single_wrong_element_in_a_large_input():
    x = np.random.default_rng(1).uniform(-1, 1, (60, 50))
    result = gc.check_grad(_big_fn, _big_grad_bug, {"x": x}, budget=1000)
    assert not result.passed
    assert result.mode_used == "screen"
    r = result.inputs["x"]
    assert r.worst is not None
    assert r.worst.index == (31, 7)
    assert r.worst.status == Status.MISMATCH
    assert result.calls < 1000 + 200  # far fewer than the 6000 of a full check


def test_executor_gives_the_same_result_as_serial():
    rng = np.random.default_rng(2)
    inputs = {"x": rng.standard_normal((6, 4)), "w": rng.standard_normal((4, 3)), "b": np.ones(3)}
    serial = gc.check_layer(F.affine_forward, F.affine_backward, inputs, mode="full")
    with ProcessPoolExecutor(max_workers=2) as pool:
        parallel = gc.check_layer(
            F.affine_forward, F.affine_backward, inputs, mode="full", executor=pool
        )
    assert parallel.passed
    assert parallel.calls == serial.calls
    for name in inputs:
        np.testing.assert_array_equal(serial.inputs[name].numeric, parallel.inputs[name].numeric)


def test_wrt_limits_the_inputs_checked():
    rng = np.random.default_rng(3)
    layer = F.LAYERS[4]  # softmax cross-entropy with integer labels
    result = gc.check_layer(layer.forward, layer.backward, layer.inputs(rng), wrt=["scores"])
    assert list(result.inputs) == ["scores"]
    assert result.passed


def test_seed_makes_results_reproducible():
    a = gc.check_layer(F.tanh_forward, F.tanh_backward, {"x": np.linspace(-1, 1, 8)}, seed=5)
    b = gc.check_layer(F.tanh_forward, F.tanh_backward, {"x": np.linspace(-1, 1, 8)}, seed=5)
    np.testing.assert_array_equal(a.inputs["x"].numeric, b.inputs["x"].numeric)


@pytest.mark.parametrize("n", [8, 9, 64, 2048, 100_000])
@pytest.mark.parametrize("workers", [1, 2, 8])
def test_executor_chunks_cover_every_probe_once_and_shrink(n, workers):
    from gradcheck._core.evaluator import guided_chunks as _guided_chunks

    bounds = _guided_chunks(n, workers)
    sizes = np.diff(bounds)
    assert bounds[0] == 0
    assert bounds[-1] == n
    assert (sizes > 0).all()
    assert (np.diff(sizes[:-1]) <= 0).all()  # never growing, so the last chunks are the small ones
    assert sizes[0] <= max(8, -(-n // (2 * workers)))
    assert len(sizes) <= 2 * workers * (1 + np.log(n)) + 8  # few round trips
