"""Argument validation at the public boundary: one table of bad calls, and untouched inputs."""

from __future__ import annotations

import numpy as np
import pytest
from ref_helpers import layer_case, model_case

import lstm_ref as lr

rng = np.random.default_rng(0)
N, T, D, H, C = 2, 3, 4, 2, 3
x = rng.normal(size=(N, T, D))
h0, c0 = rng.normal(size=(N, H)), rng.normal(size=(N, H))
Wx, Wh, b = rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)
dh = rng.normal(size=(N, T, H))
_, CACHE = lr.lstm_forward(x, h0, Wx, Wh, b)
_, STEP_CACHE = lr.lstm_step_forward(x[:, 0], h0, c0, Wx, Wh, b)[1:]
PARAMS, PX, PY = model_case(1, N=N, T=T, D=D, H=H, C=C, L=2)


def without(mapping, key):
    return {k: v for k, v in mapping.items() if k != key}


def replaced(mapping, key, value):
    return {**mapping, key: value}


def f32(a):
    return a.astype(np.float32)


TORCH_GRADS = lr.grads_to_layout("torch", Wx, Wh, b)
TORCH_GRADS_UNEQUAL = replaced(TORCH_GRADS, "bias_hh", TORCH_GRADS["bias_hh"] + 1)

# (id, call, exception, message regex)
BAD_CALLS = [
    # shapes, with the expected shape spelled out in N/T/D/H terms
    (
        "step-Wx-wrong-rows",
        lambda: lr.lstm_step_forward(x[:, 0], h0, c0, Wx[:3], Wh, b),
        lr.ShapeError,
        r"Wx has shape \(3, 8\) but x has D=4 features and prev_h has H=2 units, so Wx must be "
        r"\(D, 4H\) = \(4, 8\)",
    ),
    (
        "step-Wx-transposed",
        lambda: lr.lstm_step_forward(x[:, 0], h0, c0, Wx.T, Wh, b),
        lr.ShapeError,
        r"Wx has shape \(8, 4\) .* must be \(D, 4H\) = \(4, 8\)",
    ),
    (
        "step-prev_h-wrong-batch",
        lambda: lr.lstm_step_forward(x[:, 0], h0[:1], c0, Wx, Wh, b),
        lr.ShapeError,
        r"prev_h has shape \(1, 2\) but x has N=2 rows, so prev_h must be \(N, H\) = \(2, 2\)",
    ),
    (
        "step-prev_c-wrong-units",
        lambda: lr.lstm_step_forward(x[:, 0], h0, c0[:, :1], Wx, Wh, b),
        lr.ShapeError,
        r"prev_c has shape \(2, 1\) .* must be \(N, H\) = \(2, 2\)",
    ),
    (
        "step-x-3d",
        lambda: lr.lstm_step_forward(x, h0, c0, Wx, Wh, b),
        lr.ShapeError,
        r"x must be 2-D with shape \(N, D\) but has shape \(2, 3, 4\)",
    ),
    (
        "seq-x-2d",
        lambda: lr.lstm_forward(x[:, 0], h0, Wx, Wh, b),
        lr.ShapeError,
        r"x must be 3-D with shape \(N, T, D\) but has shape \(2, 4\)",
    ),
    (
        "seq-x-empty-time",
        lambda: lr.lstm_forward(x[:, :0], h0, Wx, Wh, b),
        lr.ShapeError,
        r"x has shape \(2, 0, 4\) with an empty axis",
    ),
    (
        "seq-Wh-not-square-blocks",
        lambda: lr.lstm_forward(x, h0, Wx, Wh[:, :6], b),
        lr.ShapeError,
        r"Wh has shape \(2, 6\) but x has D=4 features and h0 has H=2 units, so Wh must be "
        r"\(H, 4H\) = \(2, 8\)",
    ),
    (
        "seq-b-column",
        lambda: lr.lstm_forward(x, h0, Wx, Wh, b[:, None]),
        lr.ShapeError,
        r"b must be 1-D with shape \(4H,\) but has shape \(8, 1\)",
    ),
    (
        "seq-c0-wrong",
        lambda: lr.lstm_forward(x, h0, Wx, Wh, b, c0.T[:, :1]),
        lr.ShapeError,
        r"c0 has shape \(2, 1\) .* must be \(N, H\) = \(2, 2\)",
    ),
    (
        "backward-dh-batch-time-swapped",
        lambda: lr.lstm_backward(dh.transpose(1, 0, 2), CACHE),
        lr.ShapeError,
        r"dh has shape \(3, 2, 2\) but the forward pass had N=2, T=3 and H=2, so dh must be "
        r"\(N, T, H\) = \(2, 3, 2\)",
    ),
    (
        "backward-dcT-wrong",
        lambda: lr.lstm_backward(dh, CACHE, dcT=h0[:1]),
        lr.ShapeError,
        r"dcT has shape \(1, 2\) .* \(N, H\) = \(2, 2\)",
    ),
    (
        "step-backward-wrong-dnext_c",
        lambda: lr.lstm_step_backward(h0, c0[:1], STEP_CACHE),
        lr.ShapeError,
        r"dnext_c has shape \(1, 2\)",
    ),
    (
        "affine-w-wrong-rows",
        lambda: lr.affine_forward(h0, Wx, b),
        lr.ShapeError,
        r"w has shape \(4, 8\) but x has H=2 features, so w must be \(H, C\) = \(2, 8\)",
    ),
    (
        "temporal-affine-2d-x",
        lambda: lr.temporal_affine_forward(h0, Wh, b),
        lr.ShapeError,
        r"x must be 3-D with shape \(N, T, H\)",
    ),
    (
        "softmax-scores-1d",
        lambda: lr.softmax_loss(b, np.zeros(8, int)),
        lr.ShapeError,
        r"scores must be 2-D with shape \(N, C\) but has shape \(8,\)",
    ),
    (
        "softmax-labels-wrong-shape",
        lambda: lr.softmax_loss(h0, np.zeros(3, int)),
        lr.ShapeError,
        r"y has shape \(3,\) but scores has shape \(2, 2\), so y must be \(N,\) = \(2,\)",
    ),
    (
        "mse-target-shape",
        lambda: lr.mse_loss(h0, h0.T[:1]),
        lr.ShapeError,
        r"target has shape \(1, 2\) but pred has shape \(2, 2\)",
    ),
    (
        "loss-x-wrong-features",
        lambda: lr.loss(PARAMS, PX[..., :2], PY),
        lr.ShapeError,
        r"x has shape \(2, 3, 2\) but layer0.h0 has N=2 rows and layer0.Wx has D=4 rows, so x "
        r"must be \(N, T, D\) = \(2, 3, 4\)",
    ),
    (
        "loss-layer1-Wx-wrong",
        lambda: lr.loss(replaced(PARAMS, "layer1.Wx", PARAMS["layer0.Wx"]), PX, PY),
        lr.ShapeError,
        r"layer1.Wx has shape \(4, 8\) but layer 1 reads layer 0's hidden state and layer0.Wh "
        r"has H=2 units, so layer1.Wx must be \(H, 4H\) = \(2, 8\)",
    ),
    (
        "loss-h0-wrong-batch",
        lambda: lr.loss(replaced(PARAMS, "layer1.h0", PARAMS["layer1.h0"][:1]), PX, PY),
        lr.ShapeError,
        r"layer1.h0 has shape \(1, 2\) .* \(N, H\) = \(2, 2\)",
    ),
    (
        "loss-every-labels-for-last",
        lambda: lr.loss(PARAMS, PX, np.zeros((N, T), int)),
        lr.ShapeError,
        r"y has shape \(2, 3\) but head='last' gives scores of shape \(N, C\) = \(2, 3\), so y "
        r"must be \(N,\) = \(2,\)",
    ),
    (
        "from-layout-wrong-shape",
        lambda: lr.from_layout(
            "per_gate_row", replaced(lr.to_layout("per_gate_row", Wx, Wh, b), "W_hf", Wh)
        ),
        lr.ShapeError,
        r"W_hf has shape \(2, 8\) but the per_gate_row weights have D=4, H=2, so W_hf must be "
        r"\(H, H\) = \(2, 2\)",
    ),
    # dtypes
    (
        "int-x",
        lambda: lr.lstm_forward(x.astype(int), h0, Wx, Wh, b),
        lr.DTypeError,
        r"x has dtype int64, but float arguments must be float32, float64, complex64 or "
        r"complex128; cast it with x.astype\(np.float64\)",
    ),
    (
        "bool-Wx",
        lambda: lr.lstm_forward(x, h0, Wx > 0, Wh, b),
        lr.DTypeError,
        r"Wx has dtype bool",
    ),
    (
        "object-b",
        lambda: lr.lstm_forward(x, h0, Wx, Wh, b.astype(object)),
        lr.DTypeError,
        r"b has dtype object",
    ),
    (
        "float16-h0",
        lambda: lr.lstm_forward(x, h0.astype(np.float16), Wx, Wh, b),
        lr.DTypeError,
        r"h0 has dtype float16",
    ),
    (
        "list-x",
        lambda: lr.lstm_forward(x.tolist(), h0, Wx, Wh, b),
        lr.DTypeError,
        r"x must be a numpy array, got list",
    ),
    (
        "mixed-float32-float64",
        lambda: lr.lstm_forward(x, h0, Wx, f32(Wh), b),
        lr.DTypeError,
        r"Wh has dtype float32 but x has dtype float64",
    ),
    (
        "mixed-complex-float",
        lambda: lr.lstm_step_forward(x[:, 0], h0, c0.astype(complex), Wx, Wh, b),
        lr.DTypeError,
        r"prev_c has dtype complex128 but x has dtype float64",
    ),
    (
        "backward-dh-float32",
        lambda: lr.lstm_backward(f32(dh), CACHE),
        lr.DTypeError,
        r"dh has dtype float32 but cache has dtype float64.*dh.astype\(cache.dtype\)",
    ),
    (
        "loss-params-mixed",
        lambda: lr.loss(replaced(PARAMS, "fc.b", f32(PARAMS["fc.b"])), PX, PY),
        lr.DTypeError,
        r"fc.b has dtype float32 but layer0.Wx has dtype float64",
    ),
    (
        "loss-float-labels",
        lambda: lr.loss(PARAMS, PX, PY.astype(float)),
        lr.DTypeError,
        r"y must be an integer array of class labels \(N,\), got float64",
    ),
    (
        "loss-mse-int-targets",
        lambda: lr.loss(PARAMS, PX, np.zeros((N, C), int), objective="mse"),
        lr.DTypeError,
        r"y has dtype int64",
    ),
    (
        "affine-int-dout",
        lambda: lr.affine_backward(np.zeros((2, 8), int), (h0, Wh)),
        lr.DTypeError,
        r"dout has dtype int64",
    ),
    # values and names
    (
        "labels-out-of-range",
        lambda: lr.loss(PARAMS, PX, PY + C),
        lr.ArgumentError,
        r"y has labels in \[3, 5\] but there are C=3 classes, so labels must lie in \[0, 2\]",
    ),
    (
        "negative-labels",
        lambda: lr.softmax_loss(h0, np.array([-1, 0])),
        lr.ArgumentError,
        r"labels must lie in \[0, 1\]",
    ),
    (
        "unknown-head",
        lambda: lr.loss(PARAMS, PX, PY, head="first"),
        lr.ArgumentError,
        r"head must be one of 'last', 'every', got 'first'",
    ),
    (
        "unknown-objective",
        lambda: lr.loss(PARAMS, PX, PY, objective="hinge"),
        lr.ArgumentError,
        r"objective must be one of 'softmax', 'mse', got 'hinge'",
    ),
    (
        "missing-param",
        lambda: lr.loss(without(PARAMS, "layer1.c0"), PX, PY),
        lr.ArgumentError,
        r"params has names up to layer1 but is missing layer1.c0",
    ),
    (
        "misspelled-param",
        lambda: lr.loss(replaced(PARAMS, "layer0.Whh", Wh), PX, PY),
        lr.ArgumentError,
        r"unexpected parameter name 'layer0.Whh'",
    ),
    (
        "missing-fc",
        lambda: lr.loss(without(PARAMS, "fc.b"), PX, PY),
        lr.ArgumentError,
        r"params is missing \['fc.b'\]",
    ),
    (
        "not-a-cache",
        lambda: lr.lstm_backward(dh, (x, Wx)),  # type: ignore[arg-type]
        lr.ArgumentError,
        r"cache must be the LSTMCache returned by the matching forward function",
    ),
    (
        "sequence-cache-to-step-backward",
        lambda: lr.lstm_step_backward(h0, c0, CACHE),
        lr.ArgumentError,
        r"cache comes from a sequence of T=3 steps",
    ),
    (
        "init-global-random",
        lambda: lr.init_params(np.random, N=1, D=1, H=1, C=1),  # type: ignore[arg-type]
        lr.ArgumentError,
        r"rng must be a numpy.random.Generator",
    ),
    (
        "init-zero-hidden",
        lambda: lr.init_params(np.random.default_rng(), N=1, D=1, H=0, C=1),
        lr.ArgumentError,
        r"H must be a positive integer, got 0",
    ),
    (
        "init-int-dtype",
        lambda: lr.init_params(np.random.default_rng(), N=1, D=1, H=1, C=1, dtype=int),
        lr.ArgumentError,
        r"dtype must be float32, float64, complex64 or complex128, got int64",
    ),
    (
        "unknown-layout",
        lambda: lr.to_layout("keras", Wx, Wh, b),
        lr.ArgumentError,
        r"layout must be one of 'packed', .*, got 'keras'",
    ),
    (
        "layout-missing-key",
        lambda: lr.from_layout("concat_hx", without(lr.to_layout("concat_hx", Wx, Wh, b), "bo")),
        lr.ArgumentError,
        r"weights for layout 'concat_hx' must have exactly the keys .*; missing \['bo'\], "
        r"unexpected \[\]",
    ),
    (
        "torch-unequal-bias-grads",
        lambda: lr.grads_from_layout("torch", TORCH_GRADS_UNEQUAL),
        lr.ArgumentError,
        r"the gradients of bias_ih and bias_hh differ by up to 1",
    ),
    (
        "torch-state-dict-wrong-prefix",
        lambda: lr.params_from_torch(
            lr.params_to_torch(PARAMS)[0], *lr.params_to_torch(PARAMS)[1:], prefix="rnn."
        ),
        lr.ArgumentError,
        r"unexpected key 'lstm.weight_ih_l0'.*check prefix and fc_prefix",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [pytest.param(call, error, message, id=name) for name, call, error, message in BAD_CALLS],
)
def test_bad_call_raises_a_readable_error(call, error, message):
    with pytest.raises(error, match=message) as info:
        call()
    assert isinstance(info.value, lr.LSTMRefError)


def test_error_classes_share_a_base_and_builtin_parents():
    assert issubclass(lr.ShapeError, ValueError)
    assert issubclass(lr.ShapeError, lr.LSTMRefError)
    assert issubclass(lr.DTypeError, TypeError)
    assert issubclass(lr.DTypeError, lr.LSTMRefError)
    assert issubclass(lr.ArgumentError, ValueError)


def read_only(tree):
    """Deep copies of the arrays in ``tree`` with writeable=False (in-place writes raise)."""
    if isinstance(tree, np.ndarray):
        copy = tree.copy()
        copy.flags.writeable = False
        return copy
    if isinstance(tree, dict):
        return {k: read_only(v) for k, v in tree.items()}
    return tree


def test_public_functions_never_write_to_their_inputs():
    case = read_only(layer_case(3, 2, 4, 3, 2))
    args = [case[k] for k in ("x", "h0", "Wx", "Wh", "b", "c0")]
    h, cache = lr.lstm_forward(*args)
    lr.lstm_backward(case["dh"], cache, case["dcT"])
    nh, nc, scache = lr.lstm_step_forward(case["x"][:, 0], case["h0"], case["c0"], *args[2:5])
    lr.lstm_step_backward(read_only(nh), read_only(nc), scache)
    for head in lr.HEADS:
        for objective in lr.OBJECTIVES:
            params, x, y = read_only(model_case(4, L=2, head=head, objective=objective))
            lr.loss(params, read_only(x), read_only(y), head=head, objective=objective)
    params, x, _ = model_case(5, L=2)
    params, x = read_only(params), read_only(x)
    top, scache = lr.stacked_lstm_forward(x, params)
    lr.stacked_lstm_backward(read_only(top), scache)
    scores = read_only(np.ones((2, 3, 4)))
    lr.softmax_loss(scores, read_only(np.zeros((2, 3), int)))
    lr.mse_loss(scores, scores)
    out, acache = lr.temporal_affine_forward(
        scores, read_only(np.ones((4, 2))), read_only(np.ones(2))
    )
    lr.temporal_affine_backward(read_only(out), acache)
    lr.sigmoid(scores)
    for layout in lr.LAYOUTS:
        w = read_only(lr.to_layout(layout, *args[2:5]))
        lr.from_layout(layout, w)
        g = read_only(lr.grads_to_layout(layout, *args[2:5]))
        lr.grads_from_layout(layout, g)
    sd, h0_, c0_ = lr.params_to_torch(params)
    lr.params_from_torch(read_only(sd), read_only(h0_), read_only(c0_))


def test_values_of_inputs_are_unchanged():
    params, x, y = model_case(6, L=3, head="every")
    before = {k: v.copy() for k, v in params.items()}
    x_before = x.copy()
    lr.loss(params, x, y, head="every")
    assert np.array_equal(x, x_before)
    for k in params:
        assert np.array_equal(params[k], before[k])
