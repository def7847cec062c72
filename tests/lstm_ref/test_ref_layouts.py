"""Layout converters: exact round trips, and gradients that match each layout's own math.

Each layout gets a forward pass written here from its document's equations (not from
lstm_ref), so the tests check what the keys mean, not only that conversions invert.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from ref_helpers import CD_ATOL, CD_RTOL, assert_bitwise_equal, central_diff, layer_case, model_case

import lstm_ref as lr

LAYOUTS = lr.LAYOUTS
LETTERS = {  # the documents' gate letters, packed order i, f, o, g
    "per_gate_col": "ifoc",
    "per_gate_row": "ifoc",
    "concat_xh": "ifog",
    "concat_hx": "ifoc",
}


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def doc_step(layout, w, x, h, c):
    """One step of the layout's document, batch of N rows; returns (h, c)."""
    if layout == "packed":
        a = x @ w["Wx"] + h @ w["Wh"] + w["b"]
        H = h.shape[1]
        i, f, o, g = (a[:, k * H : (k + 1) * H] for k in range(4))
        i, f, o, g = sigmoid(i), sigmoid(f), sigmoid(o), np.tanh(g)
    elif layout == "torch":  # gates = x W_ih^T + b_ih + h W_hh^T + b_hh, chunks i, f, g, o
        a = x @ w["weight_ih"].T + w["bias_ih"] + h @ w["weight_hh"].T + w["bias_hh"]
        i, f, g, o = np.split(a, 4, axis=1)
        i, f, o, g = sigmoid(i), sigmoid(f), sigmoid(o), np.tanh(g)
    elif layout == "per_gate_col":  # document 001: a = W_x x + W_h h + b on column vectors
        X, Hc = x.T, h.T
        pre = {n: w[f"W{n}x"] @ X + w[f"W{n}h"] @ Hc + w[f"b{n}"] for n in "ifoc"}
        i, f, o = (sigmoid(pre[n]).T for n in "ifo")
        g = np.tanh(pre["c"]).T
    elif layout == "per_gate_row":  # document 004: I = sigmoid(X W_xi + H W_hi + b_i)
        pre = {n: x @ w[f"W_x{n}"] + h @ w[f"W_h{n}"] + w[f"b_{n}"] for n in "ifoc"}
        i, f, o, g = sigmoid(pre["i"]), sigmoid(pre["f"]), sigmoid(pre["o"]), np.tanh(pre["c"])
    elif layout == "concat_xh":  # document 002: IN = [x_t, h_{t-1}], four linear maps
        z = np.concatenate([x, h], axis=1)
        i, f, o = (sigmoid(z @ w[f"W{n}"] + w[f"b{n}"]) for n in "ifo")
        g = np.tanh(z @ w["Wg"] + w["bg"])
    else:  # concat_hx, document 003: X = [h_{t-1}, x_t], f = sigmoid(X Wf + bf)
        z = np.concatenate([h, x], axis=1)
        i, f, o = (sigmoid(z @ w[f"W{n}"] + w[f"b{n}"]) for n in "ifo")
        g = np.tanh(z @ w["Wc"] + w["bc"])
    c = f * c + i * g
    return o * np.tanh(c), c


def doc_forward(layout, w, x, h0, c0):
    h, c, hs = h0, c0, []
    for t in range(x.shape[1]):
        h, c = doc_step(layout, w, x[:, t], h, c)
        hs.append(h)
    return np.stack(hs, axis=1)


def packed_case(seed=0, N=2, T=3, D=3, H=2):
    case = layer_case(seed, N, T, D, H)
    return case, (case["Wx"], case["Wh"], case["b"])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_forward_matches_packed_forward(layout):
    case, packed = packed_case()
    w = lr.to_layout(layout, *packed)
    ours, _ = lr.lstm_forward(case["x"], case["h0"], *packed, c0=case["c0"])
    theirs = doc_forward(layout, w, case["x"], case["h0"], case["c0"])
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_converted_gradients_match_gradients_computed_in_the_layout(layout):
    case, packed = packed_case(1)
    _, cache = lr.lstm_forward(case["x"], case["h0"], *packed, c0=case["c0"])
    _, _, dWx, dWh, db, _ = lr.lstm_backward(case["dh"], cache)
    converted = lr.grads_to_layout(layout, dWx, dWh, db)
    w = lr.to_layout(layout, *packed)
    assert list(converted) == list(w)
    for key, value in w.items():

        def f(v, key=key):
            h = doc_forward(layout, {**w, key: v}, case["x"], case["h0"], case["c0"])
            return np.sum(h * case["dh"])

        numeric = central_diff(f, value)
        np.testing.assert_allclose(converted[key], numeric, rtol=CD_RTOL, atol=CD_ATOL, err_msg=key)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_packed_to_layout_to_packed_is_bitwise_exact(layout):
    _, packed = packed_case(2, D=4, H=3)
    for convert_to, convert_from in (
        (lr.to_layout, lr.from_layout),
        (lr.grads_to_layout, lr.grads_from_layout),
    ):
        back = convert_from(layout, convert_to(layout, *packed))
        for got, want in zip(back, packed, strict=True):
            assert_bitwise_equal(got, want)


def random_layout(layout, rng, D, H, dtype=np.float64):
    """A random dict of the layout (torch: independent bias_ih, bias_hh)."""
    shapes = {
        k: v.shape
        for k, v in lr.to_layout(
            layout, np.zeros((D, 4 * H)), np.zeros((H, 4 * H)), np.zeros(4 * H)
        ).items()
    }
    return {k: rng.normal(size=s).astype(dtype) for k, s in shapes.items()}


@pytest.mark.parametrize("layout", [name for name in LAYOUTS if name != "torch"])
def test_layout_to_packed_to_layout_is_bitwise_exact(layout):
    w = random_layout(layout, np.random.default_rng(3), D=4, H=3)
    for convert_to, convert_from in (
        (lr.to_layout, lr.from_layout),
        (lr.grads_to_layout, lr.grads_from_layout),
    ):
        back = convert_to(layout, *convert_from(layout, w))
        assert list(back) == list(w)
        for key in w:
            assert_bitwise_equal(back[key], w[key])


def test_torch_weights_sum_the_two_biases():
    w = random_layout("torch", np.random.default_rng(4), D=3, H=2)
    Wx, Wh, b = lr.from_layout("torch", w)
    back = lr.to_layout("torch", Wx, Wh, b)
    assert_bitwise_equal(back["bias_ih"], w["bias_ih"] + w["bias_hh"])
    assert_bitwise_equal(back["bias_hh"], np.full(8, -0.0))
    for key in ("weight_ih", "weight_hh"):
        assert_bitwise_equal(back[key], w[key])
    # a canonical torch dict (bias_hh = zeros) round-trips bit for bit, signed zeros too
    w["bias_ih"][0], w["bias_hh"] = -0.0, np.full(8, -0.0)
    back = lr.to_layout("torch", *lr.from_layout("torch", w))
    for key in w:
        assert_bitwise_equal(back[key], w[key])


def test_torch_gradients_copy_db_to_both_biases_and_back():
    g = random_layout("torch", np.random.default_rng(5), D=3, H=2)
    g["bias_hh"] = g["bias_ih"].copy()
    back = lr.grads_to_layout("torch", *lr.grads_from_layout("torch", g))
    for key in g:
        assert_bitwise_equal(back[key], g[key])
    # the weight rule would have summed them: converting gradients is a different function
    assert not np.array_equal(lr.from_layout("torch", g)[2], lr.grads_from_layout("torch", g)[2])


def test_torch_gradients_with_different_biases_are_refused():
    g = random_layout("torch", np.random.default_rng(6), D=3, H=2)
    with pytest.raises(lr.ArgumentError, match="bias_ih and bias_hh differ"):
        lr.grads_from_layout("torch", g)


def test_model_level_torch_conversions_round_trip_bitwise():
    params, _, _ = model_case(7, N=2, D=3, H=4, C=5, L=3)
    sd, h0, c0 = lr.params_to_torch(params)
    assert h0.shape == c0.shape == (3, 2, 4)
    assert sd["lstm.weight_ih_l0"].shape == (16, 3)
    assert sd["lstm.weight_hh_l2"].shape == (16, 4)
    assert sd["fc.weight"].shape == (5, 4)
    back = lr.params_from_torch(sd, h0, c0)
    assert list(back) == list(params)
    for key in params:
        assert_bitwise_equal(back[key], params[key])
    gsd, dh0, dc0 = lr.grads_to_torch(params)
    for k in range(3):
        assert_bitwise_equal(gsd[f"lstm.bias_ih_l{k}"], gsd[f"lstm.bias_hh_l{k}"])
    gback = lr.grads_from_torch(gsd, dh0, dc0)
    for key in params:
        assert_bitwise_equal(gback[key], params[key])
    custom = lr.params_to_torch(params, prefix="", fc_prefix="head.")[0]
    assert "weight_ih_l1" in custom
    assert "head.bias" in custom


@given(
    D=st.integers(1, 4),
    H=st.integers(1, 4),
    dtype=st.sampled_from([np.float32, np.float64, np.complex128]),
    layout=st.sampled_from(LAYOUTS),
    data=st.data(),
)
def test_round_trips_are_exact_for_any_shape_and_dtype(D, H, dtype, layout, data):
    def array(shape):
        values = hnp.arrays(np.float64, shape, elements=st.floats(-5, 5, allow_subnormal=False))
        return data.draw(values).astype(dtype)

    Wx, Wh, b = array((D, 4 * H)), array((H, 4 * H)), array((4 * H,))
    w = lr.to_layout(layout, Wx, Wh, b)
    assert all(v.dtype == dtype for v in w.values())
    for got, want in zip(lr.from_layout(layout, w), (Wx, Wh, b), strict=True):
        assert_bitwise_equal(got, want)
    for got, want in zip(
        lr.grads_from_layout(layout, lr.grads_to_layout(layout, Wx, Wh, b)),
        (Wx, Wh, b),
        strict=True,
    ):
        assert_bitwise_equal(got, want)
