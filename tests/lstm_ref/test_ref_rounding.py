"""The magnitude pass behind the oracle's rounding bounds (lstm_ref._rounding).

Its values are a second, independent float64 implementation of the stack and the model, so
they must agree with lstm_ref to rounding; its magnitudes must cover the values, and must
bound the actual rounding error of a float32 run of lstm_ref against the float64 one.
"""

from __future__ import annotations

import numpy as np
import pytest
from ref_helpers import model_case

import lstm_ref as lr
from lstm_ref._rounding import bounds


def stack_case(seed, L=2, N=3, T=5, D=3, H=4):
    params, x, _ = model_case(seed, N=N, T=T, D=D, H=H, L=L)
    lstm = {k: v for k, v in params.items() if k.startswith("layer")}
    dh = np.random.default_rng(seed + 1).normal(size=(N, T, H))
    return lstm, x, dh


@pytest.mark.parametrize("L", [1, 3])
def test_stack_values_agree_with_lstm_ref(L):
    params, x, dh = stack_case(0, L=L)
    b = bounds(params, x, dh=dh)
    h, cache = lr.stacked_lstm_forward(x, params)
    dx, grads = lr.stacked_lstm_backward(dh, cache)
    np.testing.assert_allclose(b.values["h"], h, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b.values["x"], dx, rtol=1e-12, atol=1e-14)
    for k, layer in enumerate(cache.layers):
        np.testing.assert_allclose(b.values[f"layer{k}.cT"], layer.cT, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(b.values[f"layer{k}.hT"], layer.hT, rtol=1e-12, atol=1e-14)
    for name, g in grads.items():
        np.testing.assert_allclose(b.values[name], g, rtol=1e-11, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("head", lr.HEADS)
@pytest.mark.parametrize("objective", lr.OBJECTIVES)
def test_model_values_agree_with_lstm_ref(head, objective):
    params, x, y = model_case(2, N=3, T=4, L=2, head=head, objective=objective)
    b = bounds(params, x, y=y, head=head, objective=objective)
    value, grads = lr.loss(params, x, y, head=head, objective=objective)
    np.testing.assert_allclose(b.values["loss"], value, rtol=1e-13)
    for name, g in grads.items():
        np.testing.assert_allclose(b.values[name], g, rtol=1e-11, atol=1e-14, err_msg=name)


def test_magnitudes_cover_the_values_and_contributions_sum_to_the_gradients():
    params, x, dh = stack_case(3)
    b = bounds(params, x, dh=dh)
    assert set(b.magnitudes) == set(b.values)
    for name, v in b.values.items():
        assert b.magnitudes[name].shape == np.shape(v)
        assert np.all(b.magnitudes[name] >= np.abs(v) * (1 - 1e-12)), name
    for name, steps in b.steps.items():
        assert steps.shape == (5, *b.values[name].shape)
        np.testing.assert_allclose(steps.sum(axis=0), b.values[name], rtol=1e-11, atol=1e-14)


def test_magnitudes_exceed_the_value_where_terms_cancel():
    """1 - s for a saturated gate: the value is tiny, the terms are not."""
    params, x, dh = stack_case(4, L=1)
    saturated = {k: v * 8 for k, v in params.items()}
    b = bounds(saturated, x, dh=dh)
    ratio = b.magnitudes["layer0.Wx"] / np.maximum(np.abs(b.values["layer0.Wx"]), 1e-300)
    assert ratio.max() > 10


@pytest.mark.parametrize("seed", range(5))
def test_float32_rounding_stays_inside_eps_times_the_magnitude(seed):
    params, x, dh = stack_case(seed, T=12)
    b = bounds(params, x, dh=dh)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    exact = bounds(p32, x.astype(np.float32), dh=dh.astype(np.float32))  # float64 of f32 data
    h, cache = lr.stacked_lstm_forward(x.astype(np.float32), p32)
    dx, grads = lr.stacked_lstm_backward(dh.astype(np.float32), cache)
    eps = float(np.finfo(np.float32).eps)
    for name, got in {"h": h, "x": dx, **grads}.items():
        err = np.abs(got.astype(np.float64) - exact.values[name])
        assert np.all(err <= eps * exact.magnitudes[name]), name
    assert b.values["h"].shape == h.shape


def test_a_model_needs_targets_and_a_stack_an_upstream_gradient():
    params, x, _ = stack_case(5)
    with pytest.raises(ValueError, match="give dh for the stack or y for the model"):
        bounds(params, x)
