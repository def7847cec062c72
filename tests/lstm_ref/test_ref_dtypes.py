"""dtypes: float32 stays float32 everywhere, complex works, sigmoid never warns.

pytest turns warnings into errors (pyproject), so any overflow warning fails these tests.
"""

from __future__ import annotations

import numpy as np
import pytest
from ref_helpers import layer_case, model_case

import lstm_ref as lr

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]


def all_arrays(obj):
    """Every ndarray inside nested tuples/dicts/lists (and numpy scalars)."""
    if isinstance(obj, np.ndarray | np.generic):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from all_arrays(value)
    elif isinstance(obj, tuple | list):
        for value in obj:
            yield from all_arrays(value)


def assert_dtype(obj, dtype, what):
    arrays = list(all_arrays(obj))
    assert arrays, what
    for arr in arrays:
        assert arr.dtype == dtype, f"{what}: {arr.dtype} instead of {np.dtype(dtype)}"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_output_keeps_the_input_dtype(dtype):
    case = layer_case(0, 2, 3, 3, 2, dtype=dtype)
    x, h0, c0, Wx, Wh, b = (case[k] for k in ("x", "h0", "c0", "Wx", "Wh", "b"))

    next_h, next_c, cache = lr.lstm_step_forward(x[:, 0], h0, c0, Wx, Wh, b)
    assert_dtype((next_h, next_c, cache.gates, cache.c, cache.h), dtype, "step forward")
    assert_dtype(lr.lstm_step_backward(next_h, next_c, cache), dtype, "step backward")

    h, cache = lr.lstm_forward(x, h0, Wx, Wh, b, c0)
    assert_dtype((h, cache.cT, cache.hT, cache.tanh_c), dtype, "sequence forward")
    assert_dtype(lr.lstm_backward(case["dh"], cache, case["dcT"]), dtype, "sequence backward")
    assert_dtype(lr.lstm_forward(x, h0, Wx, Wh, b)[0], dtype, "sequence forward, c0=None")

    w = np.ones((2, 4), dtype=dtype)
    out, acache = lr.affine_forward(h[:, -1], w, np.zeros(4, dtype=dtype))
    assert_dtype((out, lr.affine_backward(out, acache)), dtype, "affine")
    out, acache = lr.temporal_affine_forward(h, w, np.zeros(4, dtype=dtype))
    assert_dtype((out, lr.temporal_affine_backward(out, acache)), dtype, "temporal affine")
    labels = np.zeros(out.shape[:2], dtype=np.int64)
    assert_dtype(lr.softmax_loss(out, labels), dtype, "softmax_loss")
    assert_dtype(lr.mse_loss(out, out * 2), dtype, "mse_loss")
    assert_dtype(lr.sigmoid(x), dtype, "sigmoid")

    for layout in lr.LAYOUTS:
        converted = lr.to_layout(layout, Wx, Wh, b)
        assert_dtype((converted, lr.from_layout(layout, converted)), dtype, layout)
        grads = lr.grads_to_layout(layout, Wx, Wh, b)
        assert_dtype((grads, lr.grads_from_layout(layout, grads)), dtype, layout)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("head", lr.HEADS)
@pytest.mark.parametrize("objective", lr.OBJECTIVES)
def test_model_keeps_the_dtype(dtype, head, objective):
    params, x, y = model_case(1, L=2, head=head, objective=objective, dtype=dtype)
    assert_dtype(params, dtype, "init_params")
    value, grads = lr.loss(params, x, y, head=head, objective=objective)
    assert_dtype((value, grads), dtype, "loss")
    h, cache = lr.stacked_lstm_forward(x, params)
    assert_dtype((h, lr.stacked_lstm_backward(h, cache)), dtype, "stacked")
    sd, h0, c0 = lr.params_to_torch(params)
    assert_dtype((sd, h0, c0, lr.params_from_torch(sd, h0, c0)), dtype, "torch params")
    gsd, dh0, dc0 = lr.grads_to_torch(grads)
    assert_dtype((gsd, lr.grads_from_torch(gsd, dh0, dc0)), dtype, "torch grads")


def test_float32_computes_in_float32():
    """The float32 result is the float32 computation, not a rounded float64 one."""
    params, x, y = model_case(2, N=4, T=6, D=3, H=5, L=2)
    _, g64 = lr.loss(params, x, y)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    _, g32 = lr.loss(p32, x.astype(np.float32), y)
    for name in params:
        scale = np.abs(g64[name]).max()
        error = np.abs(g32[name] - g64[name]).max() / scale
        assert error < 1e-4, name  # float32 accuracy
        assert error > 1e-12, name  # but not float64 accuracy


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_sigmoid_is_stable_at_large_arguments(dtype):
    x = np.array([-1000.0, -100.0, -50.0, 0.0, 50.0, 100.0, 1000.0]).astype(dtype)
    s = lr.sigmoid(x)
    assert s.dtype == dtype
    assert np.all(np.isfinite(s))
    assert s[0] == 0
    assert s[3] == 0.5
    assert s[-1] == 1
    assert np.all(np.diff(s.real) >= 0)


def test_sigmoid_keeps_relative_accuracy_in_the_left_tail():
    x = np.array([-20.0, -40.0, -80.0, -700.0])
    np.testing.assert_allclose(lr.sigmoid(x), np.exp(x) / (1 + np.exp(x)), rtol=1e-14)
    x32 = np.array([-20.0, -40.0, -80.0], dtype=np.float32)
    np.testing.assert_allclose(lr.sigmoid(x32), np.exp(x32.astype(np.float64)), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_saturated_lstm_runs_without_warnings(dtype):
    """Weights x 1000: every gate saturates (exp overflows internally), nothing warns."""
    params, x, y = model_case(3, L=2, dtype=dtype)
    big = {k: v * 1000 if ".W" in k else v for k, v in params.items()}
    value, grads = lr.loss(big, x, y)
    assert np.isfinite(value)
    for grad in grads.values():
        assert np.all(np.isfinite(grad))


def test_complex_step_through_saturated_gates():
    """Complex steps through sigmoid(-1000) and sigmoid(+1000) stay finite and exact."""
    z = np.array([-1000.0, 1000.0, -30.0]) + 1e-30j
    s = lr.sigmoid(z)
    assert np.all(np.isfinite(s))
    slope = s.imag / 1e-30
    e = np.exp(-30.0)
    np.testing.assert_allclose(slope, [0.0, 0.0, e / (1 + e) ** 2], rtol=1e-13, atol=0)
