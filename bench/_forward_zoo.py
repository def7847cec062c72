"""Functions with hand-written forward-mode and second-order derivatives, and their planted bugs.

Each case is written the way such code is written in practice: numpy, in the dtype of its
inputs, the derivatives by hand (or, for the LSTM of ``lstm_ref``, by the complex step of its
forward or backward pass, which is exact to rounding). Three families:

``JVP_CASES``
    ``fn(*inputs)``, its JVP ``jvp(tangent, *inputs)`` and its VJP ``vjp(cotangent, *inputs)``
    (for :func:`gradcheck.check_jvp`), real and complex;
``HVP_CASES``
    a gradient ``grad(*inputs)`` and its HVP ``hvp(tangent, *inputs)`` (for
    :func:`gradcheck.check_hvp`);
``GRADGRAD_CASES``
    ``fn``, its VJP and the VJP's derivative with respect to the inputs ``vjp_jvp(tangent,
    cotangent, *inputs)`` (for :func:`gradcheck.check_gradgrad`).

Complex arrays follow PyTorch's convention (see ``gradcheck/_complex.py``): the gradient of a
real ``L`` with respect to ``z`` is ``dL/dRe(z) + 1j dL/dIm(z)``, a VJP of a holomorphic ``f``
is ``v * conj(f'(z))``.

The planted bugs (:func:`scaled_column`, :func:`transposed`, :func:`conjugated`) blend a wrong
derivative into the right one by a weight ``e``, so that the smallest ``e`` a check catches is
its detection floor for that kind of bug.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import lstm_ref

Array = np.ndarray
Inputs = Callable[[np.random.Generator, Any], dict[str, Array]]


@dataclass(frozen=True)
class JvpCase:
    name: str
    fn: Callable[..., Any]
    jvp: Callable[..., Any]
    vjp: Callable[..., Any]
    inputs: Inputs
    complex: bool = False


@dataclass(frozen=True)
class HvpCase:
    name: str
    grad: Callable[..., Any]
    hvp: Callable[..., Any]
    inputs: Inputs
    #: the input whose HVP block is square (for the transposed-HVP bug), if any
    square: str | None = None
    complex: bool = False


@dataclass(frozen=True)
class GradgradCase:
    name: str
    fn: Callable[..., Any]
    vjp: Callable[..., Any]
    vjp_jvp: Callable[..., Any]
    inputs: Inputs


def _normal(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any, scale: float = 1.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


def _complex(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> Array:
    ctype = np.complex64 if np.dtype(dtype) == np.float32 else np.complex128
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(ctype)


# ---- tanh(x @ w + b) --------------------------------------------------------------------------


def tanh_fn(x: Array, w: Array, b: Array) -> Array:
    return np.tanh(x @ w + b)


def tanh_jvp(t: tuple[Array, ...], x: Array, w: Array, b: Array) -> Array:
    dx, dw, db = t
    y = np.tanh(x @ w + b)
    return (1 - y * y) * (dx @ w + x @ dw + db)


def tanh_vjp(d: Array, x: Array, w: Array, b: Array) -> tuple[Array, ...]:
    y = np.tanh(x @ w + b)
    da = d * (1 - y * y)
    return da @ w.T, x.T @ da, da.sum(0)


def tanh_vjp_jvp(t: tuple[Array, ...], d: Array, x: Array, w: Array, b: Array) -> tuple[Array, ...]:
    dx, dw, db = t
    y = np.tanh(x @ w + b)
    da = d * (1 - y * y)
    dy = (1 - y * y) * (dx @ w + x @ dw + db)
    dda = d * (-2 * y) * dy
    return dda @ w.T + da @ dw.T, dx.T @ da + x.T @ dda, dda.sum(0)


def tanh_inputs(rng: np.random.Generator, dtype: Any) -> dict[str, Array]:
    return {
        "x": _normal(rng, (4, 3), dtype),
        "w": _normal(rng, (3, 3), dtype),
        "b": _normal(rng, (3,), dtype, 0.5),
    }


# ---- softmax over the last axis ---------------------------------------------------------------


def softmax(x: Array) -> Array:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def softmax_jvp(u: Array, x: Array) -> Array:
    y = softmax(x)
    return y * (u - (y * u).sum(-1, keepdims=True))


def softmax_vjp(v: Array, x: Array) -> Array:
    y = softmax(x)
    return y * (v - (y * v).sum(-1, keepdims=True))


def softmax_vjp_jvp(u: Array, v: Array, x: Array) -> Array:
    y = softmax(x)
    dy = y * (u - (y * u).sum(-1, keepdims=True))
    return dy * (v - (y * v).sum(-1, keepdims=True)) - y * (dy * v).sum(-1, keepdims=True)


def softmax_inputs(rng: np.random.Generator, dtype: Any) -> dict[str, Array]:
    return {"x": _normal(rng, (3, 5), dtype, 2.0)}


# ---- layer norm -------------------------------------------------------------------------------

LN_EPS = 1e-5


def _ln_parts(x: Array) -> tuple[Array, Array, Array]:
    xc = x - x.mean(-1, keepdims=True)
    r = 1 / np.sqrt((xc * xc).mean(-1, keepdims=True) + np.asarray(LN_EPS, x.dtype))
    return xc, r, xc * r


def layernorm(x: Array, g: Array, b: Array) -> Array:
    return _ln_parts(x)[2] * g + b


def layernorm_jvp(t: tuple[Array, ...], x: Array, g: Array, b: Array) -> Array:
    dx, dg, db = t
    xc, r, xh = _ln_parts(x)
    dxc = dx - dx.mean(-1, keepdims=True)
    dvar = 2 * (xc * dxc).mean(-1, keepdims=True)
    dxh = dxc * r - 0.5 * xc * r**3 * dvar
    return dxh * g + xh * dg + db


def layernorm_vjp(d: Array, x: Array, g: Array, b: Array) -> tuple[Array, ...]:
    _, r, xh = _ln_parts(x)
    dxh = d * g
    n = x.shape[-1]
    dx = r / n * (n * dxh - dxh.sum(-1, keepdims=True) - xh * (dxh * xh).sum(-1, keepdims=True))
    return dx, (d * xh).sum(0), d.sum(0)


def layernorm_inputs(rng: np.random.Generator, dtype: Any) -> dict[str, Array]:
    return {
        "x": _normal(rng, (3, 6), dtype),
        "g": (1 + 0.3 * rng.standard_normal(6)).astype(dtype),
        "b": _normal(rng, (6,), dtype, 0.3),
    }


# ---- lstm_ref's LSTM over a sequence: the JVP and second order by the complex step ------------


def _tau(dtype: Any) -> float:
    return 1e-20 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-30


def _ctype(dtype: Any) -> Any:
    return np.complex64 if np.dtype(dtype) == np.float32 else np.complex128


def lstm_fn(x: Array, h0: Array, Wx: Array, Wh: Array, b: Array) -> Array:
    return lstm_ref.lstm_forward(x, h0, Wx, Wh, b)[0]


def lstm_jvp(t: tuple[Array, ...], *xs: Array) -> Array:
    """The JVP by the complex step of the forward pass (lstm_ref is holomorphic)."""
    c, tau = _ctype(xs[0].dtype), _tau(xs[0].dtype)
    args = [x.astype(c) + 1j * tau * u.astype(c) for x, u in zip(xs, t, strict=True)]
    return (np.imag(lstm_fn(*args)) / tau).astype(xs[0].dtype)


def lstm_vjp(d: Array, *xs: Array) -> tuple[Array, ...]:
    _, cache = lstm_ref.lstm_forward(*xs)
    return lstm_ref.lstm_backward(d, cache)[:5]


def lstm_vjp_jvp(t: tuple[Array, ...], d: Array, *xs: Array) -> tuple[Array, ...]:
    """The VJP's derivative along the inputs' tangent: the complex step of the backward pass."""
    c, tau = _ctype(xs[0].dtype), _tau(xs[0].dtype)
    args = [x.astype(c) + 1j * tau * u.astype(c) for x, u in zip(xs, t, strict=True)]
    grads = lstm_vjp(d.astype(c), *args)
    return tuple((np.imag(g) / tau).astype(xs[0].dtype) for g in grads)


def lstm_inputs(rng: np.random.Generator, dtype: Any) -> dict[str, Array]:
    n, t, d, h = 2, 3, 3, 3
    return {
        "x": _normal(rng, (n, t, d), dtype),
        "h0": _normal(rng, (n, h), dtype),
        "Wx": _normal(rng, (d, 4 * h), dtype, 0.5),
        "Wh": _normal(rng, (h, 4 * h), dtype, 0.5),
        "b": _normal(rng, (4 * h,), dtype, 0.1),
    }


# ---- complex functions ------------------------------------------------------------------------


def square_fn(z: Array, w: Array) -> Array:
    """A holomorphic function of a complex input, scaled by a real one."""
    return z * z * w


def square_jvp(t: tuple[Array, Array], z: Array, w: Array) -> Array:
    dz, dw = t
    return 2 * z * w * dz + z * z * dw


def square_vjp(v: Array, z: Array, w: Array) -> tuple[Array, Array]:
    return v * np.conj(2 * z * w), np.real(v * np.conj(z * z)).astype(w.dtype)


def square_inputs(rng: np.random.Generator, dtype: Any) -> dict[str, Array]:
    return {"z": _complex(rng, (2, 3), dtype), "w": _normal(rng, (2, 3), dtype)}


def phase_fn(x: Array, a: Array) -> Array:
    """A real-to-complex function: amplitudes ``a`` at phases ``x``."""
    return a * np.exp(1j * x)


def phase_jvp(t: tuple[Array, Array], x: Array, a: Array) -> Array:
    dx, da = t
    return (1j * a * dx + da) * np.exp(1j * x)


def phase_vjp(v: Array, x: Array, a: Array) -> tuple[Array, Array]:
    e = np.exp(1j * x)
    return np.real(np.conj(v) * 1j * a * e).astype(x.dtype), np.real(np.conj(v) * e).astype(a.dtype)


def phase_inputs(rng: np.random.Generator, dtype: Any) -> dict[str, Array]:
    return {"x": _normal(rng, (5,), dtype), "a": _normal(rng, (5,), dtype)}


def modulus_fn(z: Array) -> Array:
    """A non-holomorphic complex-to-real function: ``|z|^2 Re(z)``."""
    return np.real(z * np.conj(z) * np.real(z))


def modulus_jvp(u: Array, z: Array) -> Array:
    a, b = np.real(z), np.imag(z)
    return (3 * a * a + b * b) * np.real(u) + 2 * a * b * np.imag(u)


def modulus_vjp(v: Array, z: Array) -> Array:
    a, b = np.real(z), np.imag(z)
    return (v * ((3 * a * a + b * b) + 1j * (2 * a * b))).astype(z.dtype)


def modulus_inputs(rng: np.random.Generator, dtype: Any) -> dict[str, Array]:
    return {"z": _complex(rng, (6,), dtype)}


JVP_CASES = [
    JvpCase("tanh_affine", tanh_fn, tanh_jvp, tanh_vjp, tanh_inputs),
    JvpCase("softmax", softmax, softmax_jvp, softmax_vjp, softmax_inputs),
    JvpCase("layernorm", layernorm, layernorm_jvp, layernorm_vjp, layernorm_inputs),
    JvpCase("lstm_sequence", lstm_fn, lstm_jvp, lstm_vjp, lstm_inputs),
    JvpCase("complex_square", square_fn, square_jvp, square_vjp, square_inputs, complex=True),
    JvpCase("complex_phase", phase_fn, phase_jvp, phase_vjp, phase_inputs, complex=True),
    JvpCase("complex_modulus", modulus_fn, modulus_jvp, modulus_vjp, modulus_inputs, True),
]


# ---- HVPs -------------------------------------------------------------------------------------


def lse_grad(x: Array, a: Array) -> tuple[Array, Array]:
    """The gradient of ``logsumexp(a @ x)`` with respect to ``x`` and ``a``."""
    p = softmax(a @ x)
    return a.T @ p, np.outer(p, x)


def lse_hvp(t: tuple[Array, Array], x: Array, a: Array) -> tuple[Array, Array]:
    u, da = t
    p = softmax(a @ x)
    ds = a @ u + da @ x  # the tangent of the scores
    dp = p * (ds - p @ ds)
    return a.T @ dp + da.T @ p, np.outer(dp, x) + np.outer(p, u)


def lse_inputs(rng: np.random.Generator, dtype: Any) -> dict[str, Array]:
    return {"x": _normal(rng, (4,), dtype), "a": _normal(rng, (5, 4), dtype)}


def ce_grad(w: Array, x: Array, y: Array) -> tuple[Array, None, None]:
    """The gradient of the mean softmax cross-entropy of ``x @ w`` with labels ``y``."""
    p = softmax(x @ w)
    p[np.arange(len(y)), y] -= 1
    return x.T @ p / len(y), None, None


def ce_hvp(t: tuple[Array, Any, Any], w: Array, x: Array, y: Array) -> tuple[Array, None, None]:
    p = softmax(x @ w)
    ds = x @ t[0]
    dp = p * (ds - (p * ds).sum(-1, keepdims=True))
    return x.T @ dp / len(y), None, None


def ce_inputs(rng: np.random.Generator, dtype: Any) -> dict[str, Any]:
    return {
        "w": _normal(rng, (4, 4), dtype),
        "x": _normal(rng, (6, 4), dtype),
        "y": rng.integers(0, 4, size=6),
    }


def quartic_grad(z: Array, c: Array) -> tuple[Array, None]:
    """The gradient of ``sum |z|^4 / 4 + Re(c z^2)`` (PyTorch's convention)."""
    return np.abs(z) ** 2 * z + 2 * np.conj(z * c), None


def quartic_hvp(t: tuple[Array, Any], z: Array, c: Array) -> tuple[Array, None]:
    u = t[0]
    return 2 * np.real(np.conj(z) * u) * z + np.abs(z) ** 2 * u + 2 * np.conj(u * c), None


def quartic_inputs(rng: np.random.Generator, dtype: Any) -> dict[str, Array]:
    return {"z": _complex(rng, (5,), dtype), "c": _complex(rng, (5,), dtype)}


HVP_CASES = [
    HvpCase("logsumexp", lse_grad, lse_hvp, lse_inputs, square=None),
    HvpCase("softmax_ce", ce_grad, ce_hvp, ce_inputs, square="w"),
    HvpCase("complex_quartic", quartic_grad, quartic_hvp, quartic_inputs, complex=True),
]
#: the inputs each HVP case checks
HVP_WRT = {"logsumexp": None, "softmax_ce": ["w"], "complex_quartic": ["z"]}

GRADGRAD_CASES = [
    GradgradCase("tanh_affine", tanh_fn, tanh_vjp, tanh_vjp_jvp, tanh_inputs),
    GradgradCase("softmax", softmax, softmax_vjp, softmax_vjp_jvp, softmax_inputs),
    GradgradCase("lstm_sequence", lstm_fn, lstm_vjp, lstm_vjp_jvp, lstm_inputs),
]


# ---- planted bugs -----------------------------------------------------------------------------


def _flat_tangent(tangent: Any, k: int) -> Array:
    return (tangent[k] if isinstance(tangent, tuple) else tangent).reshape(-1)


class ScaledColumn:
    """``jvp`` with its column ``j`` of input ``k`` scaled by ``1 + e``: wrong along one
    tangent element (a JVP off by a factor there)."""

    def __init__(self, jvp: Callable[..., Any], k: int, j: int, e: float) -> None:
        self.jvp, self.k, self.j, self.e = jvp, k, j, e

    def __call__(self, tangent: Any, *xs: Any) -> Any:
        out = self.jvp(tangent, *xs)
        weight = _flat_tangent(tangent, self.k)[self.j]
        if weight == 0:
            return out
        unit = tuple(np.zeros_like(t) if isinstance(t, np.ndarray) else t for t in tangent) if (
            isinstance(tangent, tuple)) else np.zeros_like(tangent)  # fmt: skip
        _flat_tangent(unit, self.k)[self.j] = weight
        col = self.jvp(unit, *xs)
        if isinstance(out, tuple):
            return tuple((o + self.e * c).astype(o.dtype) for o, c in zip(out, col, strict=True))
        return (out + self.e * col).astype(out.dtype)


class Scaled:
    """A derivative (JVP, VJP, HVP or the VJP's) off by the factor ``1 + e`` in output ``i``
    (every output when None)."""

    def __init__(self, f: Callable[..., Any], e: float, i: int | None = None) -> None:
        self.f, self.e, self.i = f, e, i

    def __call__(self, *args: Any) -> Any:
        out = self.f(*args)
        if not isinstance(out, tuple):
            return (out * (1 + self.e)).astype(out.dtype)
        return tuple(
            o if o is None or (self.i is not None and i != self.i) else
            (o * (1 + self.e)).astype(o.dtype) for i, o in enumerate(out)
        )  # fmt: skip


class Transposed:
    """An HVP whose square output ``i`` is blended with its transpose by ``e`` (``e = 1``: the
    transposed HVP)."""

    def __init__(self, hvp: Callable[..., Any], i: int, e: float) -> None:
        self.hvp, self.i, self.e = hvp, i, e

    def __call__(self, *args: Any) -> Any:
        out = list(self.hvp(*args))
        o = out[self.i]
        out[self.i] = (o + self.e * (o.T - o)).astype(o.dtype)
        return tuple(out)


class Conjugated:
    """A gradient (or VJP) of complex output ``i`` blended with its conjugate by ``e`` (``e =
    1``: the conjugation slip of jax's convention)."""

    def __init__(self, f: Callable[..., Any], i: int, e: float) -> None:
        self.f, self.i, self.e = f, i, e

    def __call__(self, *args: Any) -> Any:
        out = self.f(*args)
        single = not isinstance(out, tuple)
        parts = [out] if single else list(out)
        o = parts[self.i]
        parts[self.i] = (o + self.e * (np.conj(o) - o)).astype(o.dtype)
        return parts[0] if single else tuple(parts)


class ConjugatedTangent:
    """A JVP applied to a tangent blended with its conjugate by ``e`` in input ``k`` (``e = 1``:
    the derivative with respect to ``conj(z)`` taken for the one with respect to ``z``)."""

    def __init__(self, jvp: Callable[..., Any], k: int, e: float) -> None:
        self.jvp, self.k, self.e = jvp, k, e

    def __call__(self, tangent: Any, *xs: Any) -> Any:
        single = not isinstance(tangent, tuple)
        parts = [tangent] if single else list(tangent)
        u = parts[self.k]
        parts[self.k] = (u + self.e * (np.conj(u) - u)).astype(u.dtype)
        return self.jvp(parts[0] if single else tuple(parts), *xs)


def nearest_to_fiftieth(values: Array) -> int:
    """The flat index of the element whose magnitude is nearest 1/50 of the largest, by ratio
    (an element 100 times smaller is farther than one 10 times smaller)."""
    a = np.abs(np.asarray(values, dtype=np.float64)).reshape(-1)
    with np.errstate(divide="ignore"):
        distance = np.abs(np.log(a / (a.max() / 50)))
    return int(np.argmin(distance))
