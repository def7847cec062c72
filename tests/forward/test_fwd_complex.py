"""Complex inputs and outputs: PyTorch's convention (each complex array a pair of real arrays,
the gradient ``dL/dRe(z) + 1j dL/dIm(z)``), checked against torch and jax themselves, the
conjugation slip named, and the complex step refused where it cannot apply."""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import gradcheck as gc

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import _forward_zoo as Z  # noqa: E402

RNG = np.random.default_rng(7)
Zc = RNG.standard_normal((2, 3)) + 1j * RNG.standard_normal((2, 3))
C = RNG.standard_normal((2, 3)) + 1j * RNG.standard_normal((2, 3))


def loss(z):  # a real loss of a complex input, not holomorphic
    return float(np.sum(np.abs(z) ** 4) / 4 + np.sum(np.real(C * z * z)))


def grad(z):  # dL/dRe(z) + 1j dL/dIm(z)
    return (np.abs(z) ** 2 * z + 2 * np.conj(C * z),)


def test_a_real_loss_of_a_complex_input():
    result = gc.check_grad(loss, grad, {"z": Zc})
    assert result.passed, str(result)
    assert list(result.inputs) == ["z.real", "z.imag"]
    assert result.inputs["z.real"].dtype == "float64"
    assert "PyTorch's convention" in result.notes[-1]


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_the_conjugation_slip_is_named(dtype):
    z = Zc.astype(dtype)
    slipped = gc.check_grad(loss, lambda z: (np.conj(grad(z)[0]).astype(z.dtype),), {"z": z})
    assert [r.name for r in slipped.failed_inputs] == ["z.imag"]
    top = slipped.findings[0]
    assert top.kind == gc.FindingKind.CONSTANT_RATIO
    assert top.input == "z.imag"
    assert "complex conjugate of the expected one" in top.summary
    assert top.hint.startswith("a conjugation slip")
    assert "conjugation slip" in str(slipped)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_entry_point_takes_complex_inputs(dtype):
    z = Zc.astype(np.complex64 if dtype == np.float32 else np.complex128)
    c = C.astype(z.dtype)

    def forward(z):
        return z * z * c, z

    def backward(dout, z):
        return (dout * np.conj(2 * z * c)).astype(z.dtype)

    assert gc.check_layer(forward, backward, {"z": z}).passed
    assert gc.check_vjp(lambda z: z * z * c, lambda v, z: backward(v, z), {"z": z}).passed
    lossfn = lambda p: (loss(p["z"]), {"z": grad(p["z"])[0].astype(z.dtype)})  # noqa: E731
    assert gc.check_loss(lossfn, {"z": z}).passed

    class Rotate:
        def __init__(self):
            self.params, self.grads = {"a": c.copy()}, {}

        def forward(self, x):
            self.x = x
            return x * self.params["a"]

        def backward(self, dout):
            self.grads["a"] = dout * np.conj(self.x)
            return dout * np.conj(self.params["a"])

    result = gc.check_module(Rotate(), {"x": z})
    assert result.passed
    assert list(result.inputs) == ["x.real", "x.imag", "a.real", "a.imag"]


def test_complex_outputs_at_real_inputs():
    case = Z.JVP_CASES[5]  # amplitudes at phases: real to complex
    inputs = case.inputs(np.random.default_rng(0), np.float64)
    assert gc.check_vjp(case.fn, case.vjp, inputs).passed
    assert gc.check_jvp(case.fn, case.jvp, inputs, vjp=case.vjp).passed
    slip = gc.check_vjp(case.fn, lambda v, x, a: case.vjp(np.conj(v), x, a), inputs)
    assert not slip.passed


def test_cotangents_of_complex_outputs():
    x = np.linspace(-1, 1, 6)
    vjp = lambda d, x: (np.real(np.fft.ifft(d)) * 6,)  # noqa: E731
    v = np.arange(6) + 1j * np.arange(6)[::-1]
    assert gc.check_vjp(np.fft.fft, vjp, {"x": x}, cotangents=v).passed
    assert gc.check_vjp(np.fft.fft, vjp, {"x": x}, cotangents=np.ones(6)).passed  # real: v.imag=0
    with pytest.raises(gc.InvalidOutputError, match=r"cotangents\[0\] must be a real array"):
        gc.check_vjp(np.sin, lambda d, x: d * np.cos(x), {"x": x}, cotangents=x + 0j)


def test_the_complex_step_is_refused():
    with pytest.raises(gc.ComplexStepError, match=r"complex inputs \(\['z'\]\)"):
        gc.check_grad(loss, grad, {"z": Zc}, method="complex")
    with pytest.raises(gc.ComplexStepError, match="outputs are complex at real inputs"):
        gc.check_vjp(np.fft.fft, lambda d, x: np.real(np.fft.ifft(d)) * 6,
                     {"x": np.ones(4)}, method="complex")  # fmt: skip
    case = Z.JVP_CASES[5]
    inputs = case.inputs(np.random.default_rng(0), np.float64)
    with pytest.raises(gc.ComplexStepError, match="outputs are complex"):
        gc.check_jvp(case.fn, case.jvp, inputs, method="complex")


def test_wrt_and_annotations_follow_the_parts():
    def fn(z, w):
        return float(np.sum(np.abs(z) ** 2 * w))

    def g(z, w):
        return 2 * z * w, np.abs(z) ** 2

    w = np.linspace(1, 2, 6).reshape(2, 3)
    only_z = gc.check_grad(fn, g, {"z": Zc, "w": w}, wrt=["z"],
                           annotations={"z": {"axes": ["batch", "unit"]}})  # fmt: skip
    assert only_z.passed
    assert list(only_z.inputs) == ["z.real", "z.imag"]
    assert [a.name for a in only_z.inputs["z.imag"].annotation.axes] == ["batch", "unit"]
    one_part = gc.check_grad(fn, g, {"z": Zc, "w": w}, wrt=["z.imag"])
    assert list(one_part.inputs) == ["z.imag"]
    # a complex input left out of wrt passes through as it is
    only_w = gc.check_grad(fn, g, {"z": Zc, "w": w}, wrt=["w"])
    assert only_w.passed
    assert list(only_w.inputs) == ["w"]


def test_mistakes_with_complex_inputs_raise_typed_errors():
    with pytest.raises(gc.InvalidGradientError, match="complex input 'z' must be a complex"):
        gc.check_grad(loss, lambda z: (np.real(grad(z)[0]),), {"z": Zc})
    with pytest.raises(gc.InvalidGradientError, match="dtype complex128"):
        gc.check_grad(loss, lambda z: (grad(z)[0].astype(np.complex64),), {"z": Zc})
    with pytest.raises(gc.InvalidArgumentError, match="'z.real' is also the name of an input"):
        gc.check_grad(lambda z, **k: 0.0, grad, {"z": Zc, "z.real": np.ones(2)})
    bad = Zc.copy()
    bad[1, 2] = complex(np.nan, 1.0)
    with pytest.raises(gc.NonFiniteError, match=r"input 'z' contains .* at index \[1, 2\]"):
        gc.check_grad(loss, grad, {"z": bad})

    def mutating(z):
        z *= 2
        return loss(z)

    with pytest.raises(gc.InputMutationError, match=r"changed its input\(s\) \['z'\]"):
        gc.check_grad(mutating, grad, {"z": Zc})


def test_the_callers_complex_arrays_are_unchanged():
    z = Zc.copy()
    gc.check_grad(loss, lambda z: (np.conj(grad(z)[0]),), {"z": z})
    assert np.array_equal(z, Zc)


# ---- the convention is PyTorch's; jax's is its conjugate ---------------------------------------


@pytest.mark.torch
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_torch_gradients_and_vjps_pass_as_they_are():
    import torch

    def torch_grad(z):
        t = torch.tensor(z, requires_grad=True)
        value = (t.abs() ** 4).sum() / 4 + (torch.tensor(C) * t * t).real.sum()
        value.backward()
        return (t.grad.numpy(),)

    assert gc.check_grad(loss, torch_grad, {"z": Zc}).passed

    def torch_vjp(v, z):  # of the holomorphic z -> z**3
        t = torch.tensor(z, requires_grad=True)
        (t**3).backward(torch.tensor(v))
        return t.grad.numpy()

    assert gc.check_vjp(lambda z: z**3, torch_vjp, {"z": Zc}).passed

    import torch.autograd.forward_ad as fwad

    def torch_jvp(u, z):
        with warnings.catch_warnings():  # torch 2.13's forward AD warns about torch.jit
            warnings.simplefilter("ignore", DeprecationWarning)
            with fwad.dual_level():
                out = fwad.make_dual(torch.tensor(z), torch.tensor(u))
                out = out * out.conj() * out  # |z|^2 z, not holomorphic
                return fwad.unpack_dual(out).tangent.numpy()

    def fn(z):
        return np.abs(z) ** 2 * z

    def vjp(v, z):  # d/dz of |z|^2 z is 2|z|^2, d/dconj(z) is z^2: v conj(2|z|^2) + conj(v) z^2
        return v * 2 * np.abs(z) ** 2 + np.conj(v) * z * z

    assert gc.check_jvp(fn, torch_jvp, {"z": Zc}, vjp=vjp).passed


@pytest.mark.jax
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_jax_gradients_are_the_conjugate():
    import jax
    import jax.numpy as jnp

    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:

        def jloss(z):
            return jnp.sum(jnp.abs(z) ** 4) / 4 + jnp.sum(jnp.real(jnp.asarray(C) * z * z))

        def jax_grad(z):
            return (np.asarray(jax.grad(jloss)(jnp.asarray(z))),)

        as_is = gc.check_grad(loss, jax_grad, {"z": Zc})
        assert not as_is.passed
        assert as_is.findings[0].hint.startswith("a conjugation slip")
        converted = gc.check_grad(loss, lambda z: (np.conj(jax_grad(z)[0]),), {"z": Zc})
        assert converted.passed

        def jax_vjp(v, z):  # torch's VJP is conj(jax_vjp(conj(v)))
            _, pullback = jax.vjp(lambda z: z**3, jnp.asarray(z))
            return np.conj(np.asarray(pullback(jnp.asarray(np.conj(v)))[0]))

        assert gc.check_vjp(lambda z: z**3, jax_vjp, {"z": Zc}).passed

        def jax_jvp(u, z):  # the JVP is the same in both conventions
            f = lambda z: jnp.abs(z) ** 2 * z  # noqa: E731
            return np.asarray(jax.jvp(f, (jnp.asarray(z),), (jnp.asarray(u),))[1])

        assert gc.check_jvp(lambda z: np.abs(z) ** 2 * z, jax_jvp, {"z": Zc}).passed
    finally:
        jax.config.update("jax_enable_x64", before)
