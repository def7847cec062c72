"""The logistic sigmoid, and the fused gate nonlinearity of the LSTM cell.

Choice of formula
-----------------
Real dtypes use ``1 / (1 + exp(-x))`` evaluated with overflow ignored. For ``x`` below
about -709 (float64) or -88 (float32), ``exp(-x)`` overflows to ``inf`` and the result is
``1 / inf = 0``, which is the correctly rounded value; everywhere else every operation is
accurate to an ulp, so the result keeps full *relative* accuracy in the far-left tail
(``sigmoid(-40) = 4.25e-18``, not 0). This is the formula of PyTorch and of SciPy's
``expit``, so forward values agree with PyTorch to rounding.

Complex dtypes (used for complex-step differentiation) use ``0.5 + 0.5 * tanh(0.5 * x)``.
It is the same function, holomorphic, and never overflows (``exp`` of a complex number
with a large real part would give ``inf * (cos + i sin)`` and then NaN), but it loses
relative accuracy in the far-left tail: ``0.5 + 0.5 * tanh(-20)`` rounds to 0 instead of
2e-9. The complex step only needs the imaginary part, which numpy's complex ``tanh``
computes accurately, so this costs nothing there. No comparison, ``abs`` or ``where`` is
applied to complex values.

Inside the LSTM the pre-activation of the sigmoid gates is computed with the weights
already multiplied by -1 (real) or 0.5 (complex); both are exact in binary floating point,
and save one pass over the gates per time step.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from ._types import Array
from ._validation import float_array

__all__ = ["activate_gates", "gate_prescale", "sigmoid"]


def sigmoid(x: Array) -> Array:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, overflow-free, in the dtype of ``x``.

    Parameters
    ----------
    x : ndarray, any shape
        float32, float64, complex64 or complex128.

    Returns
    -------
    ndarray, same shape and dtype as ``x``
        Real dtypes: ``1 / (1 + exp(-x))`` with overflow to ``inf`` ignored, so
        ``sigmoid(-1000) == 0`` exactly and small values keep full relative accuracy.
        Complex dtypes: ``0.5 + 0.5 * tanh(0.5 * x)`` (holomorphic, for complex steps).

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import sigmoid
    >>> sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    array([0. , 0.5, 1. ])
    >>> print(f"{sigmoid(np.array([-40.0]))[0]:.6e}")  # exp(-40), not 0
    4.248354e-18
    """
    x = float_array("x", x)
    if x.dtype.kind == "c":
        out = np.multiply(x, 0.5)
        np.tanh(out, out=out)
        out *= 0.5
        out += 0.5
        return out
    with np.errstate(over="ignore"):
        out = np.negative(x)
        np.exp(out, out=out)
    out += 1
    np.reciprocal(out, out=out)
    return out


def gate_prescale(H: int, dtype: DTypeLike) -> Array:
    """Factors folded into the gate columns of Wx, Wh and b before the forward pass, (4H,).

    The sigmoid gates i, f, o (the first 3H packed gate units) get -1 for real dtypes, so
    the matrix product directly yields ``-a`` and :func:`activate_gates` can apply ``exp``
    without a negation pass, or 0.5 for complex dtypes (``tanh(0.5 * a)``). The tanh gate g
    gets 1. Both factors are powers of two (up to sign), so ``x @ (s * W) == s * (x @ W)``
    bit for bit. The returned array is shared and read-only.
    """
    return _prescale(H, np.dtype(dtype))


@functools.lru_cache(maxsize=32)
def _prescale(H: int, dtype: np.dtype[Any]) -> Array:
    scale = np.ones(4 * H, dtype=dtype)
    scale[: 3 * H] = 0.5 if dtype.kind == "c" else -1
    scale.flags.writeable = False
    return scale


def activate_gates(a: Array, H: int) -> None:
    """Apply the gate nonlinearities in place to prescaled pre-activations ``a`` (4H, N).

    ``a`` is feature-major (one row per gate unit, one column per batch row): rows
    ``[0, 3H)`` (gates i, f, o) become sigmoids and rows ``[3H, 4H)`` (gate g) tanh, each
    a contiguous block. ``a`` must hold the pre-activations multiplied by
    :func:`gate_prescale`. Real inputs must be evaluated under
    ``np.errstate(over="ignore")``: ``exp`` may overflow to ``inf``, which is correct here.
    """
    H3 = 3 * H
    s = a[:H3]
    if a.dtype.kind == "c":
        np.tanh(s, out=s)  # tanh(a / 2)
        s *= 0.5
        s += 0.5
    else:
        np.exp(s, out=s)  # exp(-a)
        s += 1
        np.reciprocal(s, out=s)
    g = a[H3:]
    np.tanh(g, out=g)
