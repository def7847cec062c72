"""The caller's arrays are never left changed; odd arrays work; misbehaving functions are named."""

from __future__ import annotations

import gc_functions as F
import numpy as np
import pytest

import gradcheck as gc


def _inputs(rng):
    return {"x": rng.standard_normal((5, 4)), "w": rng.standard_normal((4, 3)), "b": np.ones(3)}


def _snapshot(inputs):
    return {k: (v, v.copy(), v.flags.writeable) for k, v in inputs.items()}


def _assert_unchanged(snap, inputs):
    for k, (obj, copy, writeable) in snap.items():
        assert inputs[k] is obj
        assert obj.tobytes() == copy.tobytes(), k
        assert obj.flags.writeable == writeable


def test_arrays_bitwise_unchanged_after_a_check():
    inputs = _inputs(np.random.default_rng(0))
    snap = _snapshot(inputs)
    result = gc.check_layer(F.affine_forward, F.affine_backward, inputs)
    assert result.passed
    _assert_unchanged(snap, inputs)


class _RaiseAt:
    """A forward pass that raises ``exc`` on its ``n``-th call (mid-check)."""

    def __init__(self, n, exc):
        self.n, self.exc, self.calls = n, exc, 0

    def __call__(self, x, w, b):
        self.calls += 1
        if self.calls == self.n:
            raise self.exc
        return F.affine_forward(x, w, b)


@pytest.mark.parametrize("n", [3, 10, 25])
def test_arrays_unchanged_when_forward_raises_mid_check(n):
    inputs = _inputs(np.random.default_rng(1))
    snap = _snapshot(inputs)
    with pytest.raises(gc.UserCodeError, match=r"RuntimeError: mid-check \(evaluated at \w+\["):
        gc.check_layer(_RaiseAt(n, RuntimeError("mid-check")), F.affine_backward, inputs)
    _assert_unchanged(snap, inputs)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(0)], ids=["ctrl-c", "sys.exit"])
def test_arrays_unchanged_on_keyboard_interrupt_and_sys_exit(exc):
    """Neither is wrapped as a UserCodeError: Ctrl-C interrupts, and sys.exit is left to the
    caller (the command line turns it into exit code 3)."""
    inputs = _inputs(np.random.default_rng(2))
    snap = _snapshot(inputs)
    with pytest.raises(type(exc)):
        gc.check_layer(_RaiseAt(7, exc), F.affine_backward, inputs)
    _assert_unchanged(snap, inputs)


def test_arrays_unchanged_when_the_function_mutates_its_inputs():
    x = np.linspace(-1, 1, 6)
    before = x.copy()

    def forward(x):
        x += 1.0
        return np.tanh(x), np.tanh(x)

    with pytest.raises(gc.InputMutationError) as info:
        gc.check_layer(forward, F.tanh_backward, {"x": x})
    assert info.value.names == ("x",)
    assert info.value.during == "forward"
    np.testing.assert_array_equal(x, before)


def test_mutation_in_backward_is_named():
    def own_forward(x):
        out = x * 1.0
        return out, out  # the cache is the layer's own output

    def backward(dout, out):
        out[...] = 0.0  # scribbling on its own cache is allowed
        return (dout,)

    def forward(x):
        return x * 1.0, x  # the cache is the input itself

    def bad_backward(dout, x):
        x[0] = 5.0
        return (dout,)

    assert gc.check_layer(own_forward, backward, {"x": np.ones(3)}).passed
    with pytest.raises(gc.InputMutationError, match="backward changed") as info:
        gc.check_layer(forward, bad_backward, {"x": np.ones(3)})
    assert info.value.during == "backward"


def test_read_only_and_non_contiguous_inputs():
    rng = np.random.default_rng(3)
    base = _inputs(rng)
    x = np.asfortranarray(rng.standard_normal((5, 8)))[:, ::2]  # non-contiguous view
    w = base["w"].copy()
    w.flags.writeable = False
    inputs = {"x": x, "w": w, "b": base["b"]}
    assert not x.flags.c_contiguous
    assert not x.flags.f_contiguous
    snap = _snapshot(inputs)
    result = gc.check_layer(F.affine_forward, F.affine_backward, inputs, mode="full")
    assert result.passed
    _assert_unchanged(snap, inputs)
    contiguous = {k: np.ascontiguousarray(v) for k, v in inputs.items()}
    again = gc.check_layer(F.affine_forward, F.affine_backward, contiguous, mode="full")
    for name in inputs:
        np.testing.assert_array_equal(result.inputs[name].numeric, again.inputs[name].numeric)


def test_nondeterminism_reported_before_any_gradient():
    rng = np.random.default_rng(0)

    def noisy(x):
        return float(np.sum(x**2) + 1e-6 * rng.standard_normal())

    with pytest.raises(gc.NondeterminismError) as info:
        gc.check_grad(noisy, lambda x: (2 * x,), {"x": np.ones(3)})
    assert info.value.difference > 0


def test_nondet_tol_accepts_bounded_noise():
    state = {"n": 0}

    def jitter(x):
        state["n"] += 1
        return float(np.sum(x**2)) + 1e-14 * (state["n"] % 2)

    result = gc.check_grad(jitter, lambda x: (2 * x,), {"x": np.ones(3)}, nondet_tol=1e-12)
    assert result.passed


class _Affine:
    """Object-style layer (documents 000/001): params dict, forward, backward filling grads."""

    def __init__(self, w, b, wrong=False):
        self.params = {"w": w, "b": b}
        self.grads = {}
        self.wrong = wrong

    def forward(self, x):
        self.x = x
        return x @ self.params["w"] + self.params["b"]

    def backward(self, dout):
        self.grads["w"] = self.x.T @ dout
        self.grads["b"] = dout.mean(0) if self.wrong else dout.sum(0)
        return dout @ self.params["w"].T


def test_module_adapter_checks_params_and_inputs_and_restores_them():
    rng = np.random.default_rng(4)
    w, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    layer = _Affine(w, b)
    result = gc.check_module(layer, {"x": rng.standard_normal((5, 4))})
    assert result.passed
    assert list(result.inputs) == ["x", "w", "b"]
    assert layer.params["w"] is w
    assert layer.params["b"] is b

    wrong = _Affine(w, b, wrong=True)
    bad = gc.check_module(wrong, {"x": rng.standard_normal((5, 4))})
    assert not bad.passed
    assert [r.name for r in bad.failed_inputs] == ["b"]
    assert wrong.params["w"] is w


def test_module_adapter_restores_params_when_forward_raises():
    rng = np.random.default_rng(5)
    w, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    layer = _Affine(w, b)
    calls = {"n": 0}
    original = layer.forward

    def flaky(x):
        calls["n"] += 1
        if calls["n"] == 5:
            raise ValueError("flaky")
        return original(x)

    layer.forward = flaky
    with pytest.raises(gc.UserCodeError):
        gc.check_module(layer, {"x": rng.standard_normal((5, 4))})
    assert layer.params["w"] is w
    assert layer.params["b"] is b
    np.testing.assert_array_equal(w, layer.params["w"])
