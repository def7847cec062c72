"""Soundness: wrong gradients that ordinary user code and data used to slip past the checker.

Each test is written the way a user meets the case: their own layer, their data drawn the way
they draw it, the default options.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import gradcheck as gc

# ---- case: the default cotangent must not coincide with the user's data ----------------------


def relu_forward(x):
    return np.maximum(x, 0.0), x


def relu_backward_uses_x(dout, x):
    return (x * (x > 0),)  # the bug: x where dout belongs


def tanh_forward(x):
    out = np.tanh(x)
    return out, (x, out)


def tanh_backward_uses_x(dout, cache):
    x, out = cache
    return (x * (1 - out**2),)  # the bug: x where dout belongs


X_USER = np.random.default_rng(0).standard_normal((4, 5))


def square_forward(x, w):
    return x @ w, (x, w)


def square_backward_transposed(dout, cache):
    x, w = cache
    return dout @ w.T, (x.T @ dout).T  # dw transposed


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_backward_using_x_for_dout_is_caught_with_data_from_default_rng(seed):
    x = np.random.default_rng(seed).standard_normal((4, 5))  # how users draw their data
    assert not gc.check_layer(relu_forward, relu_backward_uses_x, {"x": x}, seed=seed).passed


def test_tanh_backward_using_x_for_dout_is_caught():
    assert not gc.check_layer(tanh_forward, tanh_backward_uses_x, {"x": X_USER}).passed


@pytest.mark.parametrize("seed", [0, 3])
def test_transposed_square_weight_gradient_is_caught(seed):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    result = gc.check_layer(square_forward, square_backward_transposed, {"x": x, "w": w}, seed=seed)
    assert not result.passed
    assert not result.inputs["w"].passed


def test_cotangent_is_redrawn_when_it_lies_along_an_input(monkeypatch):
    from gradcheck._core import streams

    seen = []

    def forward(x):
        return 2.0 * x, None

    def backward(dout, cache):
        seen.append(dout.copy())
        return (2.0 * dout,)

    x = np.arange(1.0, 7.0)
    real_stream = streams.stream

    class Echo:
        """A stream whose first draw is the input itself."""

        def __init__(self, rng):
            self.rng, self.first = rng, True

        def standard_normal(self, shape):
            if self.first:
                self.first = False
                return x.reshape(shape).copy()
            return self.rng.standard_normal(shape)

    monkeypatch.setattr("gradcheck._objective.stream", lambda *a: Echo(real_stream(*a)))
    assert gc.check_layer(forward, backward, {"x": x}).passed
    assert not streams.collinear(seen[0], x)


# ---- case: thread executors must not race ----------------------------------------------------


def dense_forward(x, w):
    y = np.tanh(x @ w)
    return y, (x, w, y)


def dense_backward(dout, cache):
    x, w, y = cache
    da = dout * (1 - y**2)
    return da @ w.T, x.T @ da


def dense_backward_one_wrong(dout, cache):
    dx, dw = dense_backward(dout, cache)
    dw = dw.copy()
    dw[1, 2] *= 1.001
    return dx, dw


class StatefulDense:
    """An object-style layer that keeps its cache in attributes, shared by every call."""

    def __init__(self, w):
        self.params, self.grads = {"w": w}, {}

    def forward(self, x):
        self.x = x
        self.y = np.tanh(x @ self.params["w"])
        return self.y

    def backward(self, dout):
        da = dout * (1 - self.y**2)
        self.grads["w"] = self.x.T @ da
        return da @ self.params["w"].T


def _dense_inputs():
    rng = np.random.default_rng(0)
    return {"x": rng.standard_normal((12, 10)), "w": rng.standard_normal((10, 8))}


def test_thread_pool_gives_the_serial_verdicts():
    inputs = _dense_inputs()
    serial = gc.check_layer(dense_forward, dense_backward, inputs, mode="full")
    with ThreadPoolExecutor(4) as pool:
        ok = gc.check_layer(dense_forward, dense_backward, inputs, mode="full", executor=pool)
        bad = gc.check_layer(
            dense_forward, dense_backward_one_wrong, inputs, mode="full", executor=pool
        )
    assert ok.passed
    for name in inputs:
        np.testing.assert_array_equal(ok.inputs[name].numeric, serial.inputs[name].numeric)
    assert not bad.passed
    assert bad.inputs["w"].mismatch_indices() == [(1, 2)]
    assert bad.inputs["x"].passed


def test_thread_pool_with_a_stateful_layer():
    rng = np.random.default_rng(1)
    layer = StatefulDense(rng.standard_normal((6, 4)))
    with ThreadPoolExecutor(4) as pool:
        result = gc.check_module(
            layer, {"x": rng.standard_normal((5, 6))}, mode="full", executor=pool
        )
    assert result.passed, result


def test_a_shut_down_executor_is_a_clear_error():
    pool = ThreadPoolExecutor(2)
    pool.shutdown()
    with pytest.raises(gc.ExecutorError, match="ThreadPoolExecutor refused the work"):
        gc.check_layer(dense_forward, dense_backward, _dense_inputs(), mode="full", executor=pool)


X00 = _dense_inputs()["x"][0, 0]


def _writes_to_x(x, w):
    if x[0, 0] != X00:  # only in the evaluations that perturb x[0, 0]
        x[1, 1] += 1.0
    return dense_forward(x, w)


def test_a_function_writing_to_its_input_in_a_thread_task_is_caught():
    with ThreadPoolExecutor(2) as pool, pytest.raises(gc.InputMutationError):
        gc.check_layer(_writes_to_x, dense_backward, _dense_inputs(), mode="full", executor=pool)
