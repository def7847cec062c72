"""Tests of the tester: correct functions pass, planted bugs are caught.

The targets of the checker, on a 2-layer LSTM with a fully connected head: a relative error of
1e-4 (default method) or 1e-8 (complex step) in one gradient element about 50 times smaller than
the largest of its tensor is caught, and correct code never fails, in float64 and float32.
"""

from __future__ import annotations

import gc_functions as F
import numpy as np
import pytest

import gradcheck as gc
import lstm_ref

DTYPES = [np.float64, np.float32]


# ---- a library of correct functions passes across seeds, dtypes and methods -----------------


@pytest.mark.parametrize("method", ["central", "richardson", "complex"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("layer", F.LAYERS, ids=[layer.name for layer in F.LAYERS])
def test_correct_layers_pass(layer, dtype, method):
    if method == "complex" and layer.name in ("relu_away_from_0", "softmax_ce"):
        pytest.skip("comparisons on values: not complex-step safe by design")
    for seed in range(5):
        rng = np.random.default_rng(seed)
        inputs = (
            F.relu_inputs(rng, dtype)
            if layer.name == "relu_away_from_0"
            else layer.inputs(rng, dtype)
        )
        opts = {"wrt": list(layer.wrt)} if layer.wrt else {}
        result = gc.check_layer(
            layer.forward, layer.backward, inputs, method=method, seed=seed, **opts
        )
        assert result.passed, str(result)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("method", ["central", "complex"])
def test_lstm_ref_sequence_layer_passes(dtype, method):
    for seed in range(3):
        rng = np.random.default_rng(seed)
        n, t, d, h = 2, 3, 3, 4
        inputs = {
            "x": rng.standard_normal((n, t, d)).astype(dtype),
            "h0": rng.standard_normal((n, h)).astype(dtype),
            "Wx": (0.5 * rng.standard_normal((d, 4 * h))).astype(dtype),
            "Wh": (0.5 * rng.standard_normal((h, 4 * h))).astype(dtype),
            "b": (0.1 * rng.standard_normal(4 * h)).astype(dtype),
        }
        result = gc.check_layer(lstm_ref.lstm_forward, _lstm_backward, inputs, method=method)
        assert result.passed, str(result)


def _lstm_backward(dh, cache):
    dx, dh0, dwx, dwh, db, _ = lstm_ref.lstm_backward(dh, cache)
    return dx, dh0, dwx, dwh, db


# ---- planted bugs are caught ------------------------------------------------------------


def _affine_inputs(seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((5, 4)), "w": rng.standard_normal((4, 3)), "b": rng.random(3)}


@pytest.mark.parametrize(
    ("backward", "wrong"),
    [
        (F.affine_backward_scaled, "w"),
        (F.affine_backward_bias_mean, "b"),
        (F.affine_backward_swapped_blocks, "w"),
    ],
    ids=["scale-error", "bias-mean-not-sum", "swapped-blocks"],
)
@pytest.mark.parametrize("method", ["central", "richardson", "complex"])
def test_planted_structural_bugs_are_caught(backward, wrong, method):
    result = gc.check_layer(F.affine_forward, backward, _affine_inputs(), method=method)
    assert not result.passed
    assert [r.name for r in result.failed_inputs] == [wrong]


def test_missing_term_is_caught():
    rng = np.random.default_rng(0)
    inputs = {"x": rng.standard_normal((3, 4)), "w": rng.standard_normal((4, 2))}
    result = gc.check_layer(
        F.two_output_forward, F.two_output_backward_missing_term, inputs, mode="full"
    )
    assert [r.name for r in result.failed_inputs] == ["x"]
    with pytest.raises(gc.GradientCheckFailure, match=r"(?s)x .*FAIL"):
        result.raise_for_failure()


def _mlp_inputs(seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((6, 5)).astype(dtype),
        "w1": (rng.standard_normal((5, 8)) / 2).astype(dtype),
        "w2": (rng.standard_normal((8, 4)) / 2).astype(dtype),
    }


def _element(grad, ratio):
    """Index of the element whose |gradient| is nearest max|gradient| / ratio."""
    a = np.abs(grad)
    return np.unravel_index(int(np.argmin(np.abs(a - a.max() / ratio))), a.shape)


# (method, dtype, element magnitude, relative errors that must be caught)
DETECTION = [
    ("central", np.float64, "large", [1e-2, 1e-4, 1e-6]),
    ("central", np.float64, "small", [1e-2, 1e-4]),
    ("richardson", np.float64, "large", [1e-2, 1e-4, 1e-6]),
    ("richardson", np.float64, "small", [1e-2, 1e-4]),
    ("complex", np.float64, "large", [1e-2, 1e-4, 1e-6, 1e-8]),
    ("complex", np.float64, "small", [1e-2, 1e-4, 1e-6, 1e-8]),
    ("complex", np.float32, "large", [1e-2]),
]


@pytest.mark.parametrize(
    ("method", "dtype", "where", "errors"),
    DETECTION,
    ids=[f"{m}-{np.dtype(d).name}-{w}" for m, d, w, _ in DETECTION],
)
def test_single_element_relative_errors_are_caught(method, dtype, where, errors):
    inputs = _mlp_inputs(0, dtype)
    cache = F.mlp_forward(*inputs.values())[1]
    dout = np.random.default_rng(0).standard_normal((6, 4)).astype(dtype)
    grad = F.mlp_backward(dout, cache)[1]
    index = _element(grad, 1 if where == "large" else 50)
    for rel in errors:
        backward = F.element_error(F.mlp_backward, 1, index, rel)
        result = gc.check_layer(F.mlp_forward, backward, inputs, method=method, wrt=["w1"])
        assert not result.passed, f"missed a {rel:g} error at {index}"
        assert result.inputs["w1"].worst.index == tuple(int(i) for i in index)


def test_coarse_bugs_still_found_in_float32():
    inputs = _mlp_inputs(1, np.float32)
    for rel in (-1.0, 0.5):
        backward = F.element_error(F.mlp_backward, 2, (3, 1), rel)
        assert not gc.check_layer(F.mlp_forward, backward, inputs).passed
    assert gc.check_layer(F.mlp_forward, F.mlp_backward, inputs).passed


# ---- the headline targets on a 2-layer LSTM with an FC head ---------------------------------

SHAPE = {"N": 2, "D": 3, "H": 4, "C": 3, "L": 2}


def _lstm_problem(seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = lstm_ref.init_params(rng, dtype=dtype, **SHAPE)
    x = rng.standard_normal((SHAPE["N"], 3, SHAPE["D"])).astype(dtype)
    y = rng.integers(0, SHAPE["C"], SHAPE["N"])
    return params, x, y


def _model_loss(p, x, y):
    """The whole model's loss; x follows the parameters' dtype (complex under complex step)."""
    return lstm_ref.loss(p, x.astype(p["fc.W"].dtype), y)


def _planted_loss(x, y, name, index, rel):
    def loss_fn(p):
        loss, grads = _model_loss(p, x, y)
        g = grads[name].copy()
        g[index] *= 1 + rel
        grads[name] = g
        return loss, grads

    return loss_fn


@pytest.mark.parametrize(("method", "rel"), [("central", 1e-4), ("complex", 1e-8)])
@pytest.mark.parametrize("name", ["layer0.Wx", "layer1.Wh", "fc.W"])
def test_lstm_small_element_errors_are_caught(method, rel, name):
    params, x, y = _lstm_problem(0)
    grad = lstm_ref.loss(params, x, y)[1][name]
    index = _element(grad, 50)
    result = gc.check_loss(_planted_loss(x, y, name, index, rel), params, method=method)
    assert not result.passed
    assert result.inputs[name].worst.index == tuple(int(i) for i in index)
    assert [r.name for r in result.failed_inputs] == [name]


@pytest.mark.parametrize(
    ("method", "dtype"),
    [("central", np.float64), ("central", np.float32), ("complex", np.float64)],
    ids=["central-f64", "central-f32", "complex-f64"],
)
def test_lstm_no_false_alarms(method, dtype):
    for seed in range(8):
        params, x, y = _lstm_problem(seed, dtype)
        result = gc.check_loss(lambda p, x=x, y=y: _model_loss(p, x, y), params, method=method)
        assert result.passed, str(result)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "dtype"),
    [("central", np.float64), ("central", np.float32), ("complex", np.float64)],
    ids=["central-f64", "central-f32", "complex-f64"],
)
def test_lstm_no_false_alarms_many_seeds(method, dtype):
    for seed in range(200):
        params, x, y = _lstm_problem(1000 + seed, dtype)
        result = gc.check_loss(lambda p, x=x, y=y: _model_loss(p, x, y), params, method=method)
        assert result.passed, f"seed {1000 + seed}\n{result}"
