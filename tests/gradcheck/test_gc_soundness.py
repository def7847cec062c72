"""Soundness: wrong gradients that ordinary user code and data used to slip past the checker.

Each test is written the way a user meets the case: their own layer, their data drawn the way
they draw it, the default options.
"""

from __future__ import annotations

import warnings
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


# ---- case: units of the threshold at large magnitudes ----------------------------------------


def test_a_ten_percent_error_at_a_large_magnitude_is_caught():
    result = gc.check_grad(
        lambda x: float(3 * x[0]), lambda x: (np.array([3.3]),), {"x": np.array([1.3e15])}
    )
    assert not result.passed
    assert result.inputs["x"].mismatches == 1


@pytest.mark.parametrize("scale", [1e-12, 1.0, 1e12])
def test_thresholds_follow_the_units_of_the_input(scale):
    # f(x) = sum(sin(x / s)): the same function in other units; a 1e-6 error shows in every unit
    x = np.array([0.3, -1.2, 2.0]) * scale

    def fn(x):
        return float(np.sum(np.sin(x / scale)))

    def grad(x, rel=0.0):
        g = np.cos(x / scale) / scale
        g[1] *= 1 + rel
        return (g,)

    assert gc.check_grad(fn, grad, {"x": x}).passed
    bad = gc.check_grad(fn, lambda x: grad(x, 1e-6), {"x": x})
    assert bad.inputs["x"].mismatch_indices() == [(1,)]


# ---- case: a large offset with a small spread (batch norm) ------------------------------------


def batchnorm_forward(x, gamma, beta):
    mu = x.mean(0)
    xc = x - mu
    std = np.sqrt((xc**2).mean(0) + 1e-12)
    xh = xc / std
    return gamma * xh + beta, (xh, std, gamma)


def batchnorm_backward(dout, cache, factor=1.0):
    xh, std, gamma = cache
    dxh = dout * gamma
    dx = (dxh - dxh.mean(0) - xh * (dxh * xh).mean(0)) / std
    return factor * dx, (dout * xh).sum(0), dout.sum(0)


def _batchnorm_inputs(seed):
    rng = np.random.default_rng(seed)
    return {
        "x": 1e3 + 1e-2 * rng.standard_normal((8, 3)),  # as data often arrives: raw units
        "gamma": rng.standard_normal(3) + 1,
        "beta": rng.standard_normal(3),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batchnorm_on_a_large_offset_passes_without_phantom_kinks(seed):
    result = gc.check_layer(
        batchnorm_forward, batchnorm_backward, _batchnorm_inputs(seed), kinks="fail"
    )
    assert result.passed, result
    assert not result.inputs["x"].kinks


@pytest.mark.parametrize("factor", [2.0, 0.5, 1.01])
def test_batchnorm_on_a_large_offset_catches_a_wrong_factor(factor):
    result = gc.check_layer(
        batchnorm_forward,
        lambda d, c: batchnorm_backward(d, c, factor),
        _batchnorm_inputs(0),
    )
    assert not result.passed
    assert result.inputs["x"].mismatches == result.inputs["x"].size


def test_an_input_whose_comparison_means_nothing_is_unverified_not_passed():
    # float32, and an input whose slope is far below the rounding of the function: no step
    # makes the threshold small against the value; it must not count as a pass
    x, y = np.array([1.0], dtype=np.float32), np.array([1.0, 2.0], dtype=np.float32)

    def fn(x, y):
        return np.float32(1e4) * x[0] + np.float32(1e-6) * np.sum(y**2)

    def grad(x, y):
        return np.array([1e4], dtype=np.float32), (2e-6 * y).astype(np.float32)

    result = gc.check_grad(fn, grad, {"x": x, "y": y})
    assert result.inputs["x"].passed
    assert result.inputs["y"].unverified == 2
    assert result.inputs["y"].mismatches == 0
    assert not result.passed
    assert "could not be verified" in str(result)


# ---- case: intermittent non-determinism -------------------------------------------------------


class OneCallInFifty:
    """A layer whose output is perturbed in about one call in 50 (a race, a stray random draw)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def forward(self, x, w):
        y = np.tanh(x @ w)
        if self.rng.random() < 1 / 50:
            y = y + 1e-6 * self.rng.standard_normal(y.shape)
        return y, (x, w, y)


@pytest.mark.parametrize("seed", range(12))
def test_intermittent_non_determinism_never_passes_with_a_phantom_kink(seed):
    layer = OneCallInFifty(seed + 100)
    rng = np.random.default_rng(seed)
    inputs = {"x": rng.standard_normal((4, 5)), "w": rng.standard_normal((5, 3))}
    try:
        result = gc.check_layer(layer.forward, dense_backward, inputs, seed=seed)
    except gc.NondeterminismError:  # the perturbed values were seen again: the noise reported
        return
    # the perturbed calls did not touch a verdict: no kink and no mismatch may come from them
    assert result.passed
    assert not any(r.kinks for r in result.inputs.values())


def test_intermittent_noise_below_nondet_tol_is_accepted():
    layer = OneCallInFifty(103)
    rng = np.random.default_rng(3)
    inputs = {"x": rng.standard_normal((4, 5)), "w": rng.standard_normal((5, 3))}
    result = gc.check_layer(layer.forward, dense_backward, inputs, seed=3, nondet_tol=1e-4)
    assert result.passed


# ---- case: the analytic side's own rounding --------------------------------------------------


def _sgd_recovered_gradient(w, lr=1e-5):
    g = np.cos(w) * w + np.sin(w)
    w_new = w - lr * g  # an optimizer step, then the gradient read back from it
    return ((w - w_new) / lr,)


def test_complex_step_accepts_a_gradient_with_ordinary_rounding():
    w = np.random.default_rng(0).standard_normal(20)
    result = gc.check_grad(
        lambda w: np.sum(np.sin(w) * w),
        lambda w: _sgd_recovered_gradient(np.real(w)),
        {"w": w},
        method="complex",
    )
    assert result.passed, result


def test_complex_step_still_catches_an_error_above_that_rounding():
    w = np.random.default_rng(0).standard_normal(20)

    def grad(w):
        g = _sgd_recovered_gradient(np.real(w))[0].copy()
        g[4] *= 1 + 1e-8
        return (g,)

    result = gc.check_grad(lambda w: np.sum(np.sin(w) * w), grad, {"w": w}, method="complex")
    assert result.inputs["w"].mismatch_indices() == [(4,)]


# ---- case: inputs outside wrt pass through ---------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [None, [[1], [1, 2]], {"labels": [0, 2]}, np.ma.masked_array([1.0, 2.0], mask=[0, 1]), 7],
    ids=["None", "ragged-list", "dict", "masked-array", "int"],
)
def test_inputs_outside_wrt_are_passed_as_they_are(extra):
    seen = []

    def fn(x, extra):
        seen.append(extra)
        return float(np.sum(x**2))

    x = np.linspace(-1, 1, 4)
    result = gc.check_grad(fn, lambda x, extra: (2 * x, None), {"x": x, "extra": extra}, wrt=["x"])
    assert result.passed
    assert all(type(s) is type(extra) for s in seen)
    if isinstance(extra, np.ndarray):  # arrays are copies (a function may not change them)
        assert all(np.array_equal(s, extra) and s is not extra for s in seen)
    else:
        assert all(s is extra for s in seen)


# ---- case: dtypes and array kinds ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_longdouble_inputs(mode):
    x = np.linspace(-1, 1, 6).astype(np.longdouble)
    ok = gc.check_grad(lambda x: np.sum(np.sin(x)), lambda x: (np.cos(x),), {"x": x}, mode=mode)
    assert ok.passed
    wrong = np.array([1, 1, 1, 1.001, 1, 1], dtype=np.longdouble)
    bad = gc.check_grad(
        lambda x: np.sum(np.sin(x)), lambda x: (np.cos(x) * wrong,), {"x": x}, mode=mode
    )
    assert not bad.passed


def test_big_endian_inputs():
    x = np.linspace(-1, 1, 5).astype(">f8")
    assert gc.check_grad(
        lambda x: float(np.sum(np.sin(x))), lambda x: (np.cos(x),), {"x": x}
    ).passed
    bad = gc.check_grad(lambda x: float(np.sum(np.sin(x))), lambda x: (np.cos(x) * 1.01,), {"x": x})
    assert not bad.passed


def test_complex_outputs_take_complex_cotangents_and_a_loss_must_be_real():
    # the VJP of the real-to-complex fft in PyTorch's convention: Re(F^H v) = Re(6 ifft(v))
    x = np.linspace(-1, 1, 6)
    assert gc.check_vjp(np.fft.fft, lambda d, x: (np.real(np.fft.ifft(d)) * 6,), {"x": x}).passed
    slip = gc.check_vjp(np.fft.fft, lambda d, x: (np.real(np.fft.ifft(np.conj(d))) * 6,), {"x": x})
    assert not slip.passed
    with pytest.raises(gc.ComplexStepError, match="outputs are complex at real inputs"):
        gc.check_vjp(np.fft.fft, lambda d, x: (np.real(np.fft.ifft(d)) * 6,), {"x": x},
                     method="complex")  # fmt: skip
    with pytest.raises(gc.InvalidOutputError, match="complex value .*a loss must be real"):
        gc.check_grad(lambda x: np.sum(x) * (1 + 1j), lambda x: (np.ones_like(x),), {"x": x})


def _matrix():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix([[1.0, 2.0]])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_matrix, "is an np.matrix"),
        (lambda: np.ma.masked_array([1.0, 2.0], mask=[0, 1]), "is a masked array"),
    ],
    ids=["matrix", "masked"],
)
def test_array_subclasses_that_change_meaning_are_refused(make, message):
    value = make()
    with pytest.raises(gc.InvalidArgumentError, match=message):
        gc.check_grad(lambda x: float(np.sum(np.asarray(x) ** 2)), lambda x: (2 * x,), {"x": value})


# ---- case: a failed check always says where ---------------------------------------------------


def _lstm_loss(x, y, name=None, index=None, rel=0.0):
    import lstm_ref

    def loss_fn(p):
        loss, grads = lstm_ref.loss(p, x, y)
        if name is not None:
            g = grads[name].copy()
            if index is None:
                g *= 1 + rel
            else:
                g[index] *= 1 + rel
            grads[name] = g
        return loss, grads

    return loss_fn


def _lstm(seed=0):
    import lstm_ref

    rng = np.random.default_rng(seed)
    params = lstm_ref.init_params(rng, N=3, D=4, H=6, C=3, L=2)
    x, y = rng.standard_normal((3, 4, 4)), rng.integers(0, 3, 3)
    return params, x, y


@pytest.mark.parametrize(("index", "rel"), [(None, 1e-4), ((2, 5), 1e-3)], ids=["all", "one"])
def test_auto_names_the_input_and_elements_of_a_small_error(index, rel):
    params, x, y = _lstm()
    result = gc.check_loss(_lstm_loss(x, y, "layer0.Wx", index, rel), params, budget=1000)
    assert result.mode_used == "screen"  # the full check (669 elements, 1,338 calls) exceeds it
    assert not result.passed
    assert [r.name for r in result.failed_inputs] == ["layer0.Wx"]
    wx = result.inputs["layer0.Wx"]
    assert wx.mismatches > 0  # elements named, not only a failing direction
    if index is not None:
        assert wx.mismatch_indices() == [index]


def test_auto_says_which_blocks_the_budget_left_unlocalized():
    params, x, y = _lstm()
    result = gc.check_loss(_lstm_loss(x, y, "layer1.Wh", None, 1e-3), params, budget=150)
    assert [r.name for r in result.failed_inputs] == ["layer1.Wh"]
    failing = [d for d in result.inputs["layer1.Wh"].directions if not d.passed]
    assert failing
    assert all(d.elements is None or d.elements[0] < d.elements[1] for d in failing)
    assert any("the budget ran out before localizing the failing blocks" in n for n in result.notes)


# ---- a gradient that is zero in exact arithmetic ---------------------------------------------


def _linear_batchnorm(dtype, bias_bug=False):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 4)).astype(dtype)

    def forward(W, b, gamma):
        z = X @ W + b
        zc = z - z.mean(0)
        std = np.sqrt((zc**2).mean(0) + dtype(1e-5))
        zh = zc / std
        return gamma * zh, (zh, std, gamma)

    def backward(dout, cache):
        zh, std, gamma = cache
        dzh = dout * gamma
        dz = (dzh - dzh.mean(0) - zh * (dzh * zh).mean(0)) / std
        # the bias of a linear layer feeding a normalisation: its gradient sums to zero
        db = dout.sum(0) if bias_bug else dz.sum(0)
        return X.T @ dz, db.astype(dtype), (dout * zh).sum(0)

    inputs = {
        "W": rng.standard_normal((4, 3)).astype(dtype),
        "b": rng.standard_normal(3).astype(dtype),
        "gamma": rng.standard_normal(3).astype(dtype),
    }
    return gc.check_layer(forward, backward, inputs)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_bias_before_a_normalisation_passes(dtype):
    result = _linear_batchnorm(dtype)
    assert result.passed, result
    assert np.max(np.abs(result.inputs["b"].analytic)) < 1e-4  # rounding of an exact zero


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_bias_gradient_that_skips_the_normalisation_is_caught(dtype):
    result = _linear_batchnorm(dtype, bias_bug=True)
    assert result.inputs["b"].mismatches == 3
    assert result.inputs["W"].passed


def _relu_conv(dtype, seed, bug=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 10)).astype(dtype)  # (N, C, L)
    w = (rng.standard_normal((4, 3, 3)) / 3).astype(dtype)  # (F, C, K)

    def forward(x, w):
        cols = np.stack([x[:, :, i : i + 3] for i in range(8)], axis=1)  # (N, 8, C, K)
        z = np.einsum("nlck,fck->nfl", cols, w)
        return np.maximum(z, 0), (cols, z)

    def backward(dout, cache):
        cols, z = cache
        dz = dout * (z > 0)
        dw = np.einsum("nfl,nlck->fck", dz, cols) * (1.01 if bug else 1.0)
        dcols = np.einsum("nfl,fck->nlck", dz, w)
        dx = np.zeros_like(x)
        for i in range(8):
            dx[:, :, i : i + 3] += dcols[:, i]
        return dx.astype(dtype), dw.astype(dtype)

    return gc.check_layer(forward, backward, {"x": x, "w": w})


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(3))
def test_a_relu_convolution_passes_with_its_kinks(dtype, seed):
    result = _relu_conv(dtype, seed)
    assert not any(r.mismatches for r in result.inputs.values()), result
    assert result.passed, result


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_relu_convolution_with_a_one_percent_bug_fails(dtype):
    result = _relu_conv(dtype, 0, bug=True)
    assert result.inputs["w"].mismatches > 0


# ---- a weight whose moves are lost in the rounding of what it is added to ----------------------


@pytest.mark.parametrize("seed", [22, 52, 0, 1])
def test_the_weights_of_a_silent_input_are_no_false_mismatch_in_float32(seed):
    # an input projection whose input is nearly zero (a feature that is nearly always off),
    # next to a live recurrent one: a move of W changes the pre-activation by less than its
    # rounding, so the value moves by whole rounding steps, which a noise level measured on a
    # too small spacing does not see (seeds 22 and 52 were false mismatches)
    rng = np.random.default_rng(seed)
    x = (1e-7 * rng.standard_normal((1, 1))).astype(np.float32)
    h = rng.standard_normal((1, 3)).astype(np.float32)

    def forward(W, U, b):
        out = np.tanh(x @ W + h @ U + b)
        return out, out

    def backward(dout, out):
        dz = dout * (1 - out * out)
        return x.T @ dz, h.T @ dz, dz.sum(0)

    inputs = {
        "W": rng.standard_normal((1, 4)).astype(np.float32),
        "U": rng.standard_normal((3, 4)).astype(np.float32),
        "b": rng.standard_normal(4).astype(np.float32),
    }
    result = gc.check_layer(forward, backward, inputs)
    assert not any(r.mismatches for r in result.inputs.values()), result
    assert result.inputs["U"].passed, result
    assert result.inputs["b"].passed, result


# ---- an input that is zero as far as the function can tell --------------------------------------


def _tanh_with_bias(factor=1.0):
    x = np.array([[0.3, -1.2, 2.0], [0.7, 0.1, -0.4]], dtype=np.float32)

    def forward(b):
        out = np.tanh(x + b)
        return out, out

    def backward(dout, out):
        return (factor * (dout * (1 - out * out)).sum(0)).astype(np.float32)

    return forward, backward


@pytest.mark.parametrize("b", [1e-30, 7.9e-31, -3e-25])
def test_a_bias_of_1e_30_in_float32_is_verified(b):
    # its own size would make steps of 1e-33 that move nothing: it is checked as the zero the
    # function sees, not left unverified
    forward, backward = _tanh_with_bias()
    result = gc.check_layer(forward, backward, {"b": np.full(3, b, dtype=np.float32)})
    assert result.passed, result


def test_a_bias_of_1e_30_with_a_ten_percent_error_is_caught():
    forward, backward = _tanh_with_bias(factor=1.1)
    result = gc.check_layer(forward, backward, {"b": np.full(3, 1e-30, dtype=np.float32)})
    assert result.inputs["b"].mismatches == 3, result


def test_sqrt_near_zero_is_not_stepped_out_of_its_domain():
    # sqrt at 1e-31: its terms are below the rounding too, but its slope is far too steep for
    # a unit scale; the check keeps the input's own scale (and reports what it cannot verify)
    x = np.array([1e-31, 2e-31], dtype=np.float32)
    y = np.array([1.0, 2.0], dtype=np.float32)
    result = gc.check_grad(
        lambda x, y: np.sum(np.sqrt(x)) + np.sum(y),
        lambda x, y: (0.5 / np.sqrt(x), np.ones_like(y)),
        {"x": x, "y": y},
    )
    assert result.inputs["x"].mismatches == 0
    assert result.inputs["y"].passed


# ---- a confident classifier: the value moves in ulps of 1, not of itself ----------------------


def _confident_classifier(seed, bug=0.0):
    """Softmax cross-entropy of ``(x W + b) * t`` whose labels are the argmax of the scores: the
    loss is 1e-14 or less, computed as ``log(1 + p)``, and the complex step's imaginary parts
    cancel in ``log-sum-exp - picked``. ``bug`` scales ``W``'s largest gradient element."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 4))
    params = {
        "W": 3 * rng.standard_normal((4, 3)),
        "b": rng.standard_normal(3),
        "t": np.array(rng.uniform(1, 4)),
    }
    y = np.argmax(x @ params["W"] + params["b"], axis=1)
    rows = np.arange(2)

    def grads(p):
        z = x @ p["W"].real + p["b"].real
        s = z * p["t"].real
        prob = np.exp(s - s.max(axis=1, keepdims=True))
        prob /= prob.sum(axis=1, keepdims=True)
        prob[rows, y] -= 1
        t = p["t"].real
        return {"W": t * x.T @ prob, "b": t * prob.sum(0), "t": np.array(np.sum(prob * z))}

    place = np.unravel_index(np.argmax(np.abs(grads(params)["W"])), (4, 3))

    def loss(p):
        s = (x @ p["W"] + p["b"]) * p["t"]
        shifted = s - s.real.max(axis=1, keepdims=True)
        g = grads(p)
        g["W"][place] *= 1 + bug
        return np.sum(np.log(np.exp(shifted).sum(axis=1)) - shifted[rows, y]), g

    return loss, params, place


@pytest.mark.parametrize("method", ["central", "richardson", "complex"])
@pytest.mark.parametrize("seed", [173, 235, 239, 277])
def test_a_confident_classifier_claims_no_mismatch(method, seed):
    # seed 277: its values along a line of W fall exactly one ulp of 1 per point, a staircase in
    # which the noise measurement saw none, and central differences claimed a mismatch; the
    # others were false mismatches of the complex step (imaginary parts absorbed into larger
    # ones). Gradients of 1e-17 under a value of 1e-14 stay unverified: no method resolves them
    loss, params, _ = _confident_classifier(seed)
    result = gc.check_loss(loss, params, method=method)
    assert not any(r.mismatches for r in result.inputs.values()), result


@pytest.mark.parametrize("method", ["central", "richardson", "complex"])
@pytest.mark.parametrize("seed", [3, 6])
def test_a_confident_classifier_with_a_small_error_fails(method, seed):
    # losses of 2.5e-8 and 2.6e-7: the value still resolves W's gradient (at 1e-14, as for the
    # seeds above, no method does, and the check says so: an unverified element, no pass)
    loss, params, place = _confident_classifier(seed, bug=1e-3)
    result = gc.check_loss(loss, params, method=method)
    assert result.inputs["W"].mismatch_indices() == [tuple(int(i) for i in place)], result


def test_the_complex_step_catches_a_gradient_leaking_into_masked_elements():
    # the complex step gives exactly 0 there, as it does where the imaginary parts are absorbed
    # whole; central differences tell a flat function from an absorbed one
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 6))
    mask = rng.random((4, 6)) < 0.5

    def grad(x):
        x = np.real(x)
        d = np.where(mask, 2 * np.sin(x) * np.cos(x), 0)
        d[~mask] += 1e-9 * np.cos(x[~mask])
        return (d,)

    result = gc.check_grad(
        lambda x: np.sum(np.where(mask, np.sin(x), 0) ** 2), grad, {"x": x}, method="complex"
    )
    assert sorted(result.inputs["x"].mismatch_indices()) == sorted(
        tuple(int(i) for i in j) for j in np.argwhere(~mask)
    )


# ---- saturated attention: a backward pass whose rounding is an absorption -------------------


def _attention(seed, scale, bug=None):
    """Scaled dot-product attention, ``sum(softmax(Q K^T / sqrt(d)) V * dout)``, with ``Q`` and
    ``K`` of scale ``scale`` (10: every row of the softmax saturated). ``bug`` (a flat index)
    scales that element of ``dQ`` by ``1 + 1e-3``."""
    rng = np.random.default_rng(seed)
    d = 3
    params = {
        "Q": scale * rng.standard_normal((4, d)),
        "K": scale * rng.standard_normal((4, d)),
        "V": rng.standard_normal((4, d)),
    }
    dout = rng.standard_normal((4, d))

    def softmax(s):
        e = np.exp(s - s.real.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def f(Q, K, V):
        return np.sum(softmax(Q @ K.T / np.sqrt(d)) @ V * dout)

    def grad(Q, K, V):
        Q, K, V = np.real(Q), np.real(K), np.real(V)
        A = softmax(Q @ K.T / np.sqrt(d))
        dA = dout @ V.T
        dS = A * (dA - (dA * A).sum(-1, keepdims=True)) / np.sqrt(d)
        dQ = dS @ K
        if bug is not None:
            dQ.reshape(-1)[bug] *= 1 + 1e-3
        return dQ, dS.T @ Q, A.T @ dout

    return f, grad, params


@pytest.mark.parametrize("seed", [0, 1, 3, 6])
def test_saturated_attention_claims_no_mismatch_with_the_complex_step(seed):
    # in a saturated row, dA - sum(dA * A) loses the wrong keys' terms whole: the analytic
    # gradient of 1e-17 is off by 30%, at every nearby point alike; so is the complex step's
    # imaginary part. Both are rounding of terms of size 1, under the complex step's floor
    f, grad, params = _attention(seed, 10.0)
    result = gc.check_grad(f, grad, params, method="complex")
    assert not any(r.mismatches for r in result.inputs.values()), result


@pytest.mark.parametrize("method", ["central", "complex"])
@pytest.mark.parametrize("seed", [0, 1])
def test_attention_with_a_small_error_fails(method, seed):
    f, grad, params = _attention(seed, 1.0)
    place = int(np.argmax(np.abs(grad(**params)[0])))
    f, grad, params = _attention(seed, 1.0, bug=place)
    result = gc.check_grad(f, grad, params, method=method)
    assert result.inputs["Q"].mismatch_indices() == [np.unravel_index(place, (4, 3))], result


def _zero_init_dense(seed, bug=False):
    # float32, weights and bias initialised to zero, and a cotangent that a normalisation after
    # the layer centres over the batch: the bias gradient sum(dout) is 0 up to its rounding, and
    # every term of the value is 0, so only the backward pass's own terms bound that rounding
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 16)).astype(np.float32)
    dout = rng.standard_normal((64, 8))
    dout = (dout - dout.mean(axis=0)).astype(np.float32)

    def forward(x, w, b):
        return x @ w + b, (x, w)

    def backward(d, cache):
        x, w = cache
        db = d[:-1].sum(axis=0) if bug else d.sum(axis=0)  # the bug: a row left out
        return d @ w.T, x.T @ d, db

    params = {"x": x, "w": np.zeros((16, 8), np.float32), "b": np.zeros(8, np.float32)}
    return forward, backward, params, dout


@pytest.mark.parametrize("seed", range(4))
def test_a_zero_initialised_layer_under_a_centred_cotangent_claims_no_mismatch(seed):
    forward, backward, params, dout = _zero_init_dense(seed)
    result = gc.check_layer(forward, backward, params, cotangents=dout)
    assert not any(r.mismatches for r in result.inputs.values()), result
    assert result.inputs["x"].passed
    assert result.inputs["w"].passed


def test_a_zero_initialised_layer_with_a_row_left_out_of_the_bias_fails():
    forward, backward, params, dout = _zero_init_dense(0, bug=True)
    result = gc.check_layer(forward, backward, params, cotangents=dout)
    assert sorted(result.inputs["b"].mismatch_indices()) == [(j,) for j in range(8)], result


def _relu(x):
    return np.maximum(x, 0), x


@pytest.mark.parametrize("seed", range(8))
def test_relu_at_exact_zeros_in_float32_is_a_kink_not_a_mismatch(seed):
    # a ReLU after a ReLU (or on zero padding): half its inputs are exactly 0. The one-sided
    # slopes there differ by dout, at every step alike; a small dout made that jump look like
    # float32 rounding to the kink test (whose noise limit grows as the step shrinks), and the
    # central difference dout/2 was then called a mismatch (168 of 200 such checks)
    x = np.maximum(np.random.default_rng(seed).standard_normal((4, 8)), 0).astype(np.float32)
    result = gc.check_layer(_relu, lambda d, x: (d * (x > 0),), {"x": x})
    assert result.passed, result
    assert len(result.inputs["x"].kinks) == int(np.sum(x == 0))


@pytest.mark.parametrize("rel", [1e-2, 1e-3])
def test_relu_in_float32_with_one_wrong_element_fails(rel):
    x = np.maximum(np.random.default_rng(0).standard_normal((4, 8)), 0).astype(np.float32)
    place = np.unravel_index(int(np.argmax(x)), x.shape)

    def backward(d, x):
        g = d * (x > 0)
        g[place] *= np.float32(1 + rel)
        return (g,)

    result = gc.check_layer(_relu, backward, {"x": x})
    assert result.inputs["x"].mismatch_indices() == [place], result


def test_relu_with_a_wrong_slope_at_zero_fails():
    # 2 * dout at x = 0 lies outside the one-sided slopes 0 and dout
    x = np.maximum(np.random.default_rng(1).standard_normal((4, 8)), 0).astype(np.float32)
    result = gc.check_layer(_relu, lambda d, x: (d * (x > 0) + 2 * d * (x == 0),), {"x": x})
    assert sorted(result.inputs["x"].mismatch_indices()) == sorted(
        tuple(int(i) for i in j) for j in np.argwhere(x == 0)
    ), result


def _zero_dense_layernorm(seed, bug=False):
    # a dense layer initialised to zero feeding a layer norm, float32: the norm's input is 0,
    # so the norm varies with W on the scale of sqrt(its eps) (3e-3), below Richardson's
    # smallest float32 step; its estimates at the larger steps agreed on wrong values
    rng = np.random.default_rng(seed)
    params = {
        "x": rng.standard_normal((4, 3)),
        "W": np.zeros((3, 5)),
        "b": np.zeros(5),
        "gamma": np.ones(5),
        "beta": np.zeros(5),
    }

    def forward(x, W, b, gamma, beta):
        h = x @ W + b
        hc = h - h.mean(axis=-1, keepdims=True)
        rstd = 1 / np.sqrt((hc**2).mean(axis=-1, keepdims=True) + 1e-5)
        return gamma * hc * rstd + beta, (x, W, hc * rstd, rstd, gamma)

    def backward(dout, cache):
        x, W, hhat, rstd, gamma = cache
        dhhat = dout * gamma
        mean = 0 if bug else dhhat.mean(-1, keepdims=True)  # the bug: a term left out
        dh = rstd * (dhhat - mean - hhat * (dhhat * hhat).mean(-1, keepdims=True))
        return dh @ W.T, x.T @ dh, dh.sum(0), (dout * hhat).sum(0), dout.sum(0)

    return forward, backward, {k: v.astype(np.float32) for k, v in params.items()}


@pytest.mark.parametrize("seed", range(6))
def test_richardson_claims_no_mismatch_where_the_function_varies_below_its_steps(seed):
    forward, backward, params = _zero_dense_layernorm(seed)
    result = gc.check_layer(forward, backward, params, method="richardson")
    assert not any(r.mismatches for r in result.inputs.values()), result


def test_richardson_still_catches_a_term_left_out_there():
    forward, backward, params = _zero_dense_layernorm(0, bug=True)
    result = gc.check_layer(forward, backward, params, method="richardson")
    assert result.inputs["W"].mismatches > 0, result


def test_a_complex_step_of_exactly_zero_is_noted_and_judged_by_central_differences():
    mask = np.array([0.0, 1.0, 1.0, 1.0])  # the forward pass ignores x[0]; the gradient leaks
    result = gc.check_grad(
        lambda x: np.sum(np.sin(x) * mask),
        lambda x: (np.cos(x),),
        {"x": np.linspace(0.1, 1.0, 4)},
        method="complex",
    )
    assert result.inputs["x"].mismatch_indices() == [(0,)]
    assert any("exactly 0" in note and "central differences" in note for note in result.notes)


def _smoothed_cross_entropy():
    # a confident classifier in float32, label smoothing 0.1
    rng = np.random.RandomState(0)  # noqa: NPY002 (the legacy generator users still call)
    n, c = 16, 10
    y = rng.randint(0, c, size=n)
    logits = rng.randn(n, c) * 3
    logits[np.arange(n), y] += 15
    q = np.full((n, c), 0.1 / c)
    q[np.arange(n), y] += 0.9

    def loss(z):
        z = z - z.max(axis=1, keepdims=True)
        return -(q * (z - np.log(np.exp(z).sum(axis=1, keepdims=True)))).sum() / n

    def grad(z):
        p = np.exp(z - z.max(axis=1, keepdims=True))
        return ((p / p.sum(axis=1, keepdims=True) - q) / n).astype(z.dtype)

    return loss, grad, logits.astype(np.float32)


@pytest.mark.parametrize("factor", [1.5, 3.0])
def test_an_error_above_the_stated_bound_is_caught(factor):
    # the bound of the correct code's check at its worst element (among those of at least 1/8
    # of the largest gradient) is a promise: an error of 1.5 or 3 times it is caught there.
    # It stated 4.9e-3 while its one tight estimate had no second one to support a mismatch
    loss, grad, logits = _smoothed_cross_entropy()
    correct = gc.check_grad(loss, lambda z: (grad(z),), {"z": logits})
    assert correct.passed
    r = correct.inputs["z"]
    g = np.abs(r.analytic)
    bounds = np.where(g >= g.max() / 8, r.bounds, -np.inf)
    place = np.unravel_index(int(np.argmax(bounds)), g.shape)

    def wrong(z):
        out = grad(z)
        out[place] *= np.float32(1 + factor * bounds[place])
        return (out,)

    result = gc.check_grad(loss, wrong, {"z": logits})
    assert not result.passed, (bounds[place], result)
