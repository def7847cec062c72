"""Properties: the analytic gradients of the LSTM step, the sequence and the stack, of the
FC layers and of both losses agree with numerical ones, for every shape drawn.

Shapes: N 1-5, T 1-8, D and H 1-8 (D == H about half of the time), L 1-4. Every property
runs in float64 and float32 with central differences, and in float64 with the complex step.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from prop_support import (
    MODES,
    cases,
    check_sequence,
    check_stack,
    check_step,
    expect_no_mismatch,
    expect_pass,
    in_mode,
    pinned,
    sequence_shapes,
    stack_shapes,
    step_shapes,
)
from soak_examples import SEQUENCE_70462, SEQUENCE_74646, STEP_2850

import gradcheck
import lstm_ref as lr
from gradcheck.strategies import TINY, arrays, cotangents
from lstm_ref.strategies import Config, configs, problems

MODE_IDS = list(MODES)

# Shapes where a bug hides most easily (one of everything) and where every path is present.
ONES = Config(N=1, T=1, D=1, H=1, L=1, C=2)
TWOS = Config(N=2, T=2, D=2, H=3, L=2, C=2)
LARGEST = Config(N=5, T=8, D=8, H=8, L=4, C=4)


def _configs(**kw):
    """Configs of the layer properties: head and objective do not matter there."""
    return configs(heads=["last"], objectives=["softmax"], **kw)


def _with(cfg: Config, **changes) -> Config:
    return Config(**{**cfg.__dict__, **changes})


@pytest.mark.parametrize("mode", MODE_IDS)
@given(case=cases(problems(_configs(T=1, L=1)), step_shapes))
@example(case=pinned(ONES, step_shapes))
@example(case=pinned(_with(TWOS, T=1, L=1), step_shapes))
@example(case=pinned(_with(LARGEST, T=1, L=1), step_shapes))
@example(case=STEP_2850)
def test_step_gradients(mode, case):
    """dx, dprev_h, dprev_c, dWx, dWh, db of one step, for upstream dnext_h and dnext_c."""
    problem, douts, method = in_mode(case, mode)
    expect_pass(check_step(problem, douts, method), problem)


@pytest.mark.parametrize("mode", MODE_IDS)
@given(case=cases(problems(_configs(L=1)), sequence_shapes))
@example(case=pinned(ONES, sequence_shapes))
@example(case=pinned(_with(TWOS, L=1), sequence_shapes))
@example(case=pinned(_with(LARGEST, L=1), sequence_shapes))
@example(case=SEQUENCE_74646)
@example(case=SEQUENCE_70462)
def test_sequence_gradients(mode, case):
    """dx, dh0, dWx, dWh, db, dc0 of one layer over T steps, for upstream gradients of
    every h_t and of the final cell state c_T."""
    problem, douts, method = in_mode(case, mode)
    expect_pass(check_sequence(problem, douts, method), problem)


SATURATED_OR_SMALL = _configs(L=1, N=(1, 3), H=(1, 4), regimes=["saturated", "near_zero"])
LONG = _configs(L=1, N=(1, 2), D=(1, 3), H=(1, 3), regimes=["long"])
HARD = problems(SATURATED_OR_SMALL) | problems(LONG)


@given(case=cases(HARD, sequence_shapes))
@example(case=pinned(_with(ONES, T=16, regime="long"), sequence_shapes))
@example(case=pinned(_with(TWOS, L=1, regime="saturated"), sequence_shapes))
@example(case=pinned(_with(TWOS, L=1, regime="near_zero"), sequence_shapes))
def test_sequence_gradients_in_hard_regimes(case):
    """Saturated gates (large weights), near-zero weights, and long sequences whose early
    steps receive vanishing gradients: the verdict must still be right."""
    problem, douts = case
    expect_pass(check_sequence(problem, douts, "central"), problem)


@pytest.mark.parametrize("mode", MODE_IDS)
@given(case=cases(problems(_configs()), stack_shapes))
@example(case=pinned(ONES, stack_shapes))
@example(case=pinned(TWOS, stack_shapes))
@example(case=pinned(_with(TWOS, L=4), stack_shapes))
@example(case=pinned(LARGEST, stack_shapes))
def test_stack_gradients(mode, case):
    """dx and every layer's Wx, Wh, b, h0, c0 of L stacked layers, for an upstream gradient
    of every hidden state of the top layer."""
    problem, douts, method = in_mode(case, mode)
    result = check_stack(problem, douts, method)
    if mode == "float32":  # as for the model: central differences in float32 cannot resolve
        # the gradients of the lower layers of a deep stack (1e-7 where the top's are 1e-1)
        expect_no_mismatch(result, problem)
    else:
        expect_pass(result, problem)


# ---------------------------------------------------------------------------------------
# the FC layers and the losses (document 000's head), with the generic strategies
# ---------------------------------------------------------------------------------------


@st.composite
def fc_cases(draw):
    N, T, H, C = (
        draw(st.integers(1, n), label=k) for k, n in zip("NTHC", (5, 8, 8, 4), strict=True)
    )
    temporal = draw(st.booleans(), label="temporal")
    x_shape = (N, T, H) if temporal else (N, H)
    x = draw(arrays(x_shape), label="x")
    w = draw(arrays((H, C)), label="w")
    b = draw(arrays((C,)), label="b")
    (dout,) = draw(cotangents((*x_shape[:-1], C)), label="dout")
    return temporal, {"x": x, "w": w, "b": b}, dout


def _in_dtype(a: np.ndarray, dtype: str) -> np.ndarray:
    """``a`` in ``dtype``, with the elements below that dtype's ``TINY`` set to zero: the cases
    are drawn in float64, and ``arrays()`` draws no nonzero element below ``TINY`` of the dtype
    checked (in float32 a weight of 1e-20 makes dx a gradient of 1e-20 next to terms of size 1,
    below what any finite difference resolves: it is reported unverified, never passed)."""
    out = a.astype(dtype)
    out[np.abs(out) < TINY[dtype]] = 0
    return out


def _check_fc(case, mode):
    dtype, method = MODES[mode]
    temporal, inputs, dout = case
    inputs = {k: _in_dtype(v, dtype) for k, v in inputs.items()}
    forward, backward = (
        (lr.temporal_affine_forward, lr.temporal_affine_backward)
        if temporal
        else (lr.affine_forward, lr.affine_backward)
    )
    result = gradcheck.check_layer(
        forward, backward, inputs, cotangents=dout.astype(dtype), method=method
    )
    expect_pass(result, {"temporal": temporal, **{k: v.shape for k, v in inputs.items()}})


# Found by the soak run (when arrays() still drew nonzero elements down to 1e-300): with
# w = 1e-300 the complex step's imaginary part 1e-20 * 1e-300 is a subnormal number with few
# digits, and gradcheck called a relative error of 1e-5 on dx a mismatch (fixed there since).
UNDERFLOW = (
    False,
    {"x": np.array([[0.0]]), "w": np.array([[1e-300]]), "b": np.array([0.0])},
    np.array([[1.0]]),
)


# Found by the soak run: w = 0, so the output is the bias in every row, and its gradient in
# float32, sum(dout) = 0.881 + 0.101 - 0.987 = -4.1e-3, cancels terms of size 1: its rounding
# (3e-8) is the same at every nearby point, so measuring the backward pass's rounding by moving
# the point saw none, and gradcheck called it a mismatch over a threshold of 1.5e-8 (a suspect
# line's threshold now holds eps times the function's terms per unit of the input)
CANCELLING_BIAS = (
    False,
    {
        "x": np.array([[-1.27392337], [0.53957343], [0.08194705]]),
        "w": np.array([[0.0]]),
        "b": np.array([-0.16164808]),
    },
    np.array([[0.88145207], [0.10135296], [-0.98691377]]),
)


# Found by the soak run (shrunk from CANCELLING_BIAS): w = 0 and b = 0, so every term of the
# value is 0 and the function's terms bound no rounding; b's gradient sum(dout) = -4.1e-3 in
# float32 still rounds by 3e-8 at every point alike. The backward pass run with |dout| gives
# the terms it sums (sum |dout| = 1.97), which bound that rounding
CANCELLING_ZERO_BIAS = (
    False,
    {
        "x": np.array([[-1.27392337], [0.53957343], [0.08194705]]),
        "w": np.array([[0.0]]),
        "b": np.array([0.0]),
    },
    np.array([[0.88145207], [0.10135296], [-0.98691377]]),
)


@pytest.mark.parametrize("mode", MODE_IDS)
@given(case=fc_cases())
@example(case=UNDERFLOW)
@example(case=CANCELLING_BIAS)
@example(case=CANCELLING_ZERO_BIAS)
def test_fc_layer_gradients(mode, case):
    """affine and temporal affine: dx, dW, db (the FC layer on top of the LSTM)."""
    _check_fc(case, mode)


@st.composite
def loss_cases(draw):
    N, T, C = (draw(st.integers(1, n), label=k) for k, n in zip("NTC", (5, 8, 5), strict=True))
    every = draw(st.booleans(), label="every step")
    shape = (N, T, C) if every else (N, C)
    scores = draw(arrays(shape, bound=5.0), label="scores")
    labels = draw(st.lists(st.integers(0, C - 1), min_size=N * T, max_size=N * T), label="y")
    labels = np.array(labels[: N * T] if every else labels[:N]).reshape(shape[:-1])
    target = draw(arrays(shape), label="target")
    return scores, labels, target


@pytest.mark.parametrize("mode", MODE_IDS)
@given(case=loss_cases())
def test_loss_gradients(mode, case):
    """softmax (cross-entropy, mean over the batch) and mse: d loss / d scores."""
    dtype, method = MODES[mode]
    scores, labels, target = case
    scores, target = scores.astype(dtype), target.astype(dtype)
    for name, loss, y in (("softmax", lr.softmax_loss, labels), ("mse", lr.mse_loss, target)):

        def fn(s, loss=loss, y=y):
            return loss(s, y if y.dtype.kind in "iu" else y.astype(s.dtype))[0]

        def grad(s, loss=loss, y=y):
            return (loss(s, y)[1],)

        result = gradcheck.check_grad(fn, grad, {"scores": scores}, method=method)
        expect_pass(result, {"loss": name, "scores": scores.shape, "dtype": dtype})
