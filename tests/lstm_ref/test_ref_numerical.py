"""Every analytic gradient of lstm_ref against central differences (float64) and the
complex step (complex128), at small shapes."""

from __future__ import annotations

import numpy as np
import pytest
from ref_helpers import (
    CD_ATOL,
    CD_RTOL,
    CS_ATOL,
    CS_RTOL,
    central_diff,
    complex_step,
    layer_case,
    model_case,
    with_replaced,
)

import lstm_ref as lr

STEP_ARGS = ("x", "prev_h", "prev_c", "Wx", "Wh", "b")
SEQ_ARGS = ("x", "h0", "Wx", "Wh", "b", "c0")


def test_step_gradients_match_central_differences():
    rng = np.random.default_rng(0)
    N, D, H = 3, 4, 2
    args = {
        "x": rng.normal(size=(N, D)),
        "prev_h": rng.normal(size=(N, H)),
        "prev_c": rng.normal(size=(N, H)),
        "Wx": rng.normal(size=(D, 4 * H)),
        "Wh": rng.normal(size=(H, 4 * H)),
        "b": rng.normal(size=4 * H),
    }
    rh, rc = rng.normal(size=(N, H)), rng.normal(size=(N, H))

    def f(**kw):
        h, c, _ = lr.lstm_step_forward(**{**args, **kw})
        return np.sum(h * rh) + np.sum(c * rc)

    _, _, cache = lr.lstm_step_forward(**args)
    grads = lr.lstm_step_backward(rh, rc, cache)
    for name, grad in zip(STEP_ARGS, grads, strict=True):
        numeric = central_diff(lambda v, name=name: f(**{name: v}), args[name])
        np.testing.assert_allclose(grad, numeric, rtol=CD_RTOL, atol=CD_ATOL, err_msg=name)


@pytest.mark.parametrize(("N", "T", "D", "H"), [(1, 1, 1, 1), (2, 4, 3, 2), (3, 3, 2, 3)])
@pytest.mark.parametrize("with_dcT", [False, True], ids=["no_dcT", "dcT"])
def test_sequence_gradients_match_central_differences(N, T, D, H, with_dcT):
    case = layer_case(1, N, T, D, H)
    args = {name: case[name] for name in SEQ_ARGS}
    dh, dcT = case["dh"], case["dcT"] if with_dcT else None

    def f(**kw):
        h, cache = lr.lstm_forward(**{**args, **kw})
        value = np.sum(h * dh)
        return value + np.sum(cache.cT * dcT) if with_dcT else value

    _, cache = lr.lstm_forward(**args)
    grads = lr.lstm_backward(dh, cache, dcT)
    for name, grad in zip(SEQ_ARGS, grads, strict=True):
        numeric = central_diff(lambda v, name=name: f(**{name: v}), args[name])
        np.testing.assert_allclose(grad, numeric, rtol=CD_RTOL, atol=CD_ATOL, err_msg=name)


@pytest.mark.parametrize("L", [1, 2, 3])
def test_stacked_gradients_match_central_differences(L):
    params, x, _ = model_case(2, N=2, T=3, D=3, H=2, L=L)
    params = {k: v for k, v in params.items() if not k.startswith("fc")}
    rng = np.random.default_rng(3)
    r = rng.normal(size=(2, 3, 2))

    def f(p, x=x):
        h, _ = lr.stacked_lstm_forward(x, p)
        return np.sum(h * r)

    _, cache = lr.stacked_lstm_forward(x, params)
    dx, grads = lr.stacked_lstm_backward(r, cache)
    assert list(grads) == list(params)
    np.testing.assert_allclose(
        dx, central_diff(lambda v: f(params, v), x), rtol=CD_RTOL, atol=CD_ATOL
    )
    for name, value in params.items():
        numeric = central_diff(lambda v, name=name: f(with_replaced(params, name, v)), value)
        np.testing.assert_allclose(grads[name], numeric, rtol=CD_RTOL, atol=CD_ATOL, err_msg=name)


@pytest.mark.parametrize("L", [1, 2])
@pytest.mark.parametrize("head", lr.HEADS)
@pytest.mark.parametrize("objective", lr.OBJECTIVES)
def test_model_loss_gradients_match_central_differences(L, head, objective):
    params, x, y = model_case(4, N=2, T=3, D=3, H=2, C=3, L=L, head=head, objective=objective)
    value, grads = lr.loss(params, x, y, head=head, objective=objective)
    assert list(grads) == list(params)

    def f(p):
        return lr.loss(p, x, y, head=head, objective=objective)[0]

    for name, param in params.items():
        numeric = central_diff(lambda v, name=name: f(with_replaced(params, name, v)), param)
        np.testing.assert_allclose(grads[name], numeric, rtol=CD_RTOL, atol=CD_ATOL, err_msg=name)


def test_affine_layers_and_losses_match_central_differences():
    rng = np.random.default_rng(5)
    x, w, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=2)
    r = rng.normal(size=(3, 2))
    _, cache = lr.affine_forward(x, w, b)
    for value, grad in zip((x, w, b), lr.affine_backward(r, cache), strict=True):

        def f(v, value=value):
            args = [v if a is value else a for a in (x, w, b)]
            return np.sum(lr.affine_forward(*args)[0] * r)

        np.testing.assert_allclose(grad, central_diff(f, value), rtol=CD_RTOL, atol=CD_ATOL)

    x3, r3 = rng.normal(size=(3, 5, 4)), rng.normal(size=(3, 5, 2))
    _, cache = lr.temporal_affine_forward(x3, w, b)
    for value, grad in zip((x3, w, b), lr.temporal_affine_backward(r3, cache), strict=True):

        def f3(v, value=value):
            args = [v if a is value else a for a in (x3, w, b)]
            return np.sum(lr.temporal_affine_forward(*args)[0] * r3)

        np.testing.assert_allclose(grad, central_diff(f3, value), rtol=CD_RTOL, atol=CD_ATOL)

    for scores, y in (
        (rng.normal(size=(4, 3)), rng.integers(0, 3, size=4)),
        (rng.normal(size=(2, 5, 3)), rng.integers(0, 3, size=(2, 5))),
    ):
        _, dscores = lr.softmax_loss(scores, y)
        numeric = central_diff(lambda s, y=y: lr.softmax_loss(s, y)[0], scores)
        np.testing.assert_allclose(dscores, numeric, rtol=CD_RTOL, atol=CD_ATOL)
        target = rng.normal(size=scores.shape)
        _, dpred = lr.mse_loss(scores, target)
        numeric = central_diff(lambda s, t=target: lr.mse_loss(s, t)[0], scores)
        np.testing.assert_allclose(dpred, numeric, rtol=CD_RTOL, atol=CD_ATOL)


def test_loss_formulas_match_their_docstrings():
    rng = np.random.default_rng(6)
    scores, y = rng.normal(size=(2, 5, 3)), rng.integers(0, 3, size=(2, 5))
    log_p = scores - np.log(np.exp(scores).sum(-1, keepdims=True))
    expected = -np.take_along_axis(log_p, y[..., None], -1).sum() / 2
    assert np.isclose(lr.softmax_loss(scores, y)[0], expected, rtol=1e-14)
    target = rng.normal(size=scores.shape)
    assert np.isclose(lr.mse_loss(scores, target)[0], ((scores - target) ** 2).sum() / 2)


# ---------------------------------------------------------------------------------------
# Complex step: the complex128 path is holomorphic, so Im f(p + ih e) / h is the exact
# derivative to rounding, with no subtractive cancellation.
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_dcT", [False, True], ids=["no_dcT", "dcT"])
def test_sequence_complex_step_matches_analytic(with_dcT):
    case = layer_case(7, 2, 4, 3, 2)
    args = {name: case[name] for name in SEQ_ARGS}
    dh, dcT = case["dh"], case["dcT"] if with_dcT else None

    def f(name, z):
        cargs = {k: v.astype(np.complex128) for k, v in args.items()}
        cargs[name] = z
        h, cache = lr.lstm_forward(**cargs)
        value = np.sum(h * dh)
        return value + np.sum(cache.cT * dcT) if with_dcT else value

    _, cache = lr.lstm_forward(**args)
    grads = lr.lstm_backward(dh, cache, dcT)
    for name, grad in zip(SEQ_ARGS, grads, strict=True):
        numeric = complex_step(lambda z, name=name: f(name, z), args[name])
        np.testing.assert_allclose(grad, numeric, rtol=CS_RTOL, atol=CS_ATOL, err_msg=name)


@pytest.mark.parametrize("head", lr.HEADS)
@pytest.mark.parametrize("objective", lr.OBJECTIVES)
def test_model_loss_complex_step_matches_analytic(head, objective):
    params, x, y = model_case(8, N=2, T=3, D=2, H=2, C=3, L=2, head=head, objective=objective)
    _, grads = lr.loss(params, x, y, head=head, objective=objective)
    cparams = {k: v.astype(np.complex128) for k, v in params.items()}
    cx = x.astype(np.complex128)
    cy = y if objective == "softmax" else y.astype(np.complex128)

    def f(name, z):
        return lr.loss(with_replaced(cparams, name, z), cx, cy, head=head, objective=objective)[0]

    for name, param in params.items():
        numeric = complex_step(lambda z, name=name: f(name, z), param)
        np.testing.assert_allclose(grads[name], numeric, rtol=CS_RTOL, atol=CS_ATOL, err_msg=name)


def test_complex_gradients_equal_real_gradients_on_real_inputs():
    """On real-valued complex128 inputs the whole backward pass equals the float64 one."""
    params, x, y = model_case(9, N=3, T=4, D=2, H=3, C=2, L=2, head="every")
    _, grads = lr.loss(params, x, y, head="every")
    cparams = {k: v.astype(np.complex128) for k, v in params.items()}
    _, cgrads = lr.loss(cparams, x.astype(np.complex128), y, head="every")
    for name in params:
        assert cgrads[name].dtype == np.complex128
        np.testing.assert_allclose(cgrads[name].real, grads[name], rtol=1e-13, atol=1e-15)
        assert not cgrads[name].imag.any()
