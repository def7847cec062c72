"""How far a correct implementation may be from the exact LSTM: magnitudes of the terms.

A correct hand-written LSTM computes the same numbers as lstm_ref in another order, so it
differs from the exact result by rounding only, and rounding is proportional to the
*magnitudes of the terms* an element is made of, not to the element itself: a gradient
that is a sum of large terms of both signs (``1 - i`` for a saturated gate, a weight
gradient summed over many steps) carries an error far above ``eps * |value|``.

This module runs the stacked LSTM (and the model's fully connected head and loss) once more
in float64 on pairs ``(value, magnitude)``, where every operation adds its own rounding,
``|a| + |b|`` for a sum and ``|a b|`` for a product, to the first-order propagation of the
magnitudes of its operands (``|b| m_a + |a| m_b``, ``f'(a) m_a``). The result ``m`` of an
element bounds its error as ``|computed - exact| <= K * eps * m`` for a computation rounded
at ``eps``, with a small factor ``K`` for the length of sums and for formulas that differ
from these: ``K`` is measured per dtype (``bench/oracle_bounds.py``) and applied by
``lstm_ref.oracle``.

The pass also keeps, per layer and time step, the reference contributions
``x_t^T da_t``, ``h_{t-1}^T da_t`` and ``sum_n da_t`` of the weight gradients (which the
weight gradients sum over time), for locating a gradient that counts the wrong steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._types import Array, IntArray

__all__ = ["Bounds", "bounds"]

F64 = Array


@dataclass(frozen=True, slots=True)
class _V:
    """A float64 value and the magnitude of the terms it is made of (same shape)."""

    v: F64
    m: F64

    def __getitem__(self, key: Any) -> _V:
        return _V(self.v[key], self.m[key])

    @property
    def T(self) -> _V:  # noqa: N802 - like ndarray.T
        return _V(self.v.T, self.m.T)


def _exact(a: F64) -> _V:
    return _V(a, np.zeros_like(a))


def _add(a: _V, b: _V) -> _V:
    return _V(a.v + b.v, np.abs(a.v) + np.abs(b.v) + a.m + b.m)


def _sub(a: _V, b: _V) -> _V:
    return _V(a.v - b.v, np.abs(a.v) + np.abs(b.v) + a.m + b.m)


def _mul(a: _V, b: _V) -> _V:
    v = a.v * b.v
    return _V(v, np.abs(v) + np.abs(a.v) * b.m + a.m * np.abs(b.v))


def _scale(a: _V, c: float) -> _V:
    v = a.v * c
    return _V(v, np.abs(v) + abs(c) * a.m)


def _matmul(a: _V, b: _V) -> _V:
    aa, ab = np.abs(a.v), np.abs(b.v)
    return _V(a.v @ b.v, aa @ ab + aa @ b.m + a.m @ ab)


def _sum(a: _V, axis: int) -> _V:
    return _V(a.v.sum(axis=axis), (np.abs(a.v) + a.m).sum(axis=axis))


def _sigmoid(a: _V) -> _V:
    """Rounding as large as the terms of ``0.5 + 0.5 * tanh(a / 2)``: ``max(s, 1 - s)``.

    ``1 / (1 + exp(-a))`` is accurate relative to ``s`` even where ``s`` is tiny; the tanh
    form, also common, only to ``eps`` absolute. Both are correct code.
    """
    with np.errstate(over="ignore"):
        s = 1 / (1 + np.exp(-a.v))
    return _V(s, np.maximum(s, 1 - s) + s * (1 - s) * a.m)


def _tanh(a: _V) -> _V:
    t = np.tanh(a.v)
    return _V(t, np.abs(t) + (1 - t * t) * a.m)


def _exp(a: _V) -> _V:
    e = np.exp(a.v)
    return _V(e, e + e * a.m)


def _log(a: _V) -> _V:
    v = np.log(a.v)
    return _V(v, np.abs(v) + a.m / np.abs(a.v))


def _div(a: _V, b: _V) -> _V:
    q = a.v / b.v
    return _V(q, np.abs(q) + a.m / np.abs(b.v) + np.abs(q) * b.m / np.abs(b.v))


def _concat(parts: Sequence[_V], axis: int) -> _V:
    return _V(
        np.concatenate([p.v for p in parts], axis=axis),
        np.concatenate([p.m for p in parts], axis=axis),
    )


def _stack(parts: Sequence[_V], axis: int) -> _V:
    return _V(np.stack([p.v for p in parts], axis=axis), np.stack([p.m for p in parts], axis=axis))


_ONE = _exact(np.ones(()))


@dataclass(frozen=True)
class _Step:
    x: _V
    h_prev: _V
    c_prev: _V
    i: _V
    f: _V
    o: _V
    g: _V
    tanh_c: _V


@dataclass(frozen=True)
class Bounds:
    """Reference values and magnitudes of one run, in packed names (float64).

    Attributes
    ----------
    values, magnitudes : dict
        Outputs ``"h"`` (N, T, H), ``"layer{k}.hT"``, ``"layer{k}.cT"`` (N, H) and, for a
        model, ``"loss"`` (shape ()); gradients ``"layer{k}.Wx"`` (D_k, 4H), ``.Wh``,
        ``.b``, ``.h0``, ``.c0``, ``"x"`` (N, T, D) and, for a model, ``"fc.W"``,
        ``"fc.b"``.
    steps : dict
        ``"layer{k}.Wx"``: (T, D_k, 4H), ``"layer{k}.Wh"``: (T, H, 4H), ``"layer{k}.b"``:
        (T, 4H): the contribution of each time step to that gradient (they sum to it).
    """

    values: dict[str, F64]
    magnitudes: dict[str, F64]
    steps: dict[str, F64]


def _layer_forward(
    xs: list[_V], h0: _V, c0: _V, Wx: F64, Wh: F64, b: F64
) -> tuple[list[_V], list[_Step], _V]:
    H = Wh.shape[0]
    wx, wh, bias = _exact(Wx), _exact(Wh), _exact(b)
    h, c = h0, c0
    hs, steps = [], []
    for x in xs:
        a = _add(_add(_matmul(x, wx), _matmul(h, wh)), bias)
        i, f, o = (_sigmoid(a[:, k * H : (k + 1) * H]) for k in range(3))
        g = _tanh(a[:, 3 * H :])
        c_new = _add(_mul(f, c), _mul(i, g))
        tanh_c = _tanh(c_new)
        steps.append(_Step(x, h, c, i, f, o, g, tanh_c))
        h, c = _mul(o, tanh_c), c_new
        hs.append(h)
    return hs, steps, c


def _layer_backward(
    dhs: list[_V], steps: list[_Step], Wx: F64, Wh: F64
) -> tuple[list[_V], _V, _V, _V, _V, _V, dict[str, F64]]:
    """Returns dx per step, dh0, dc0, dWx, dWh, db and the per-step contributions."""
    N, H = steps[0].h_prev.v.shape
    wxT, whT = _exact(np.ascontiguousarray(Wx.T)), _exact(np.ascontiguousarray(Wh.T))
    zero = _exact(np.zeros((N, H)))
    dh_next, dc_next = zero, zero
    das: list[_V] = [zero] * len(steps)
    dxs: list[_V] = [zero] * len(steps)
    for t in reversed(range(len(steps))):
        s = steps[t]
        dh = _add(dhs[t], dh_next)
        dc = _add(_mul(dh, _mul(_sub(_ONE, _mul(s.tanh_c, s.tanh_c)), s.o)), dc_next)
        da_i = _mul(dc, _mul(_mul(_sub(_ONE, s.i), s.i), s.g))
        da_f = _mul(dc, _mul(_mul(_sub(_ONE, s.f), s.f), s.c_prev))
        da_o = _mul(dh, _mul(_mul(_sub(_ONE, s.o), s.o), s.tanh_c))
        da_g = _mul(dc, _mul(_sub(_ONE, _mul(s.g, s.g)), s.i))
        da = _concat([da_i, da_f, da_o, da_g], axis=1)
        das[t] = da
        dc_next = _mul(dc, s.f)
        dh_next = _matmul(da, whT)
        dxs[t] = _matmul(da, wxT)
    xs = _concat([s.x for s in steps], axis=0)  # (T*N, D) time-major rows
    h_prev = _concat([s.h_prev for s in steps], axis=0)
    da_rows = _concat(das, axis=0)
    dWx = _matmul(xs.T, da_rows)
    dWh = _matmul(h_prev.T, da_rows)
    db = _sum(da_rows, axis=0)
    contributions = {
        "Wx": np.stack([s.x.v.T @ d.v for s, d in zip(steps, das, strict=True)]),
        "Wh": np.stack([s.h_prev.v.T @ d.v for s, d in zip(steps, das, strict=True)]),
        "b": np.stack([d.v.sum(axis=0) for d in das]),
    }
    return dxs, dh_next, dc_next, dWx, dWh, db, contributions


def _softmax(scores: _V, y: IntArray, N: int) -> tuple[_V, _V]:
    shift = _exact(scores.v.max(axis=-1, keepdims=True))
    shifted = _sub(scores, shift)
    e = _exp(shifted)
    total = _sum(e, axis=-1)
    total = _V(total.v[..., None], total.m[..., None])
    picked = _V(
        np.take_along_axis(shifted.v, y[..., None], axis=-1),
        np.take_along_axis(shifted.m, y[..., None], axis=-1),
    )
    terms = _sub(_log(total), picked)
    loss = _scale(_sum(_V(terms.v.reshape(-1), terms.m.reshape(-1)), axis=0), 1 / N)
    onehot = _exact((y[..., None] == np.arange(scores.v.shape[-1])).astype(np.float64))
    return loss, _scale(_sub(_div(e, total), onehot), 1 / N)


def _mse(pred: _V, target: F64, N: int) -> tuple[_V, _V]:
    diff = _sub(pred, _exact(target))
    sq = _mul(diff, diff)
    loss = _scale(_sum(_V(sq.v.reshape(-1), sq.m.reshape(-1)), axis=0), 1 / N)
    return loss, _scale(diff, 2 / N)


def bounds(
    params: Mapping[str, Array],
    x: Array,
    *,
    dh: Array | None = None,
    y: Array | IntArray | None = None,
    head: str = "last",
    objective: str = "softmax",
) -> Bounds:
    """Values and magnitudes of the stacked LSTM (``dh`` given) or of the model (``y``).

    ``params`` are packed lstm_ref params (``layer{k}.Wx/Wh/b/h0/c0``, and ``fc.W``,
    ``fc.b`` for a model), already validated; everything is computed in float64.
    """
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    L = 1 + max(int(k[5 : k.index(".")]) for k in p if k.startswith("layer"))
    x64 = np.asarray(x, dtype=np.float64)
    N, T, _ = x64.shape
    values: dict[str, F64] = {}
    mags: dict[str, F64] = {}
    steps_out: dict[str, F64] = {}

    def keep(name: str, val: _V) -> None:
        values[name], mags[name] = val.v, val.m

    xs = [_exact(np.ascontiguousarray(x64[:, t])) for t in range(T)]
    layers = []
    for k in range(L):
        q = f"layer{k}."
        hs, steps, cT = _layer_forward(
            xs, _exact(p[q + "h0"]), _exact(p[q + "c0"]), p[q + "Wx"], p[q + "Wh"], p[q + "b"]
        )
        layers.append(steps)
        keep(q + "hT", hs[-1])
        keep(q + "cT", cT)
        xs = hs
    keep("h", _stack(xs, axis=1))

    zero = _exact(np.zeros((N, p["layer0.Wh"].shape[0])))
    if y is None:
        if dh is None:
            raise ValueError("give dh for the stack or y for the model")
        dhs = [_exact(np.asarray(dh, dtype=np.float64)[:, t]) for t in range(T)]
    else:
        W, bias = _exact(p["fc.W"]), _exact(p["fc.b"])
        feats = xs[-1] if head == "last" else _concat(xs, axis=0)  # every: time-major rows
        scores = _add(_matmul(feats, W), bias)
        target = np.asarray(y)
        if head == "every":  # time-major rows like feats
            target = np.concatenate([target[:, t] for t in range(T)], axis=0)
        if objective == "softmax":
            loss, dscores = _softmax(scores, target.astype(np.intp), N)
        else:
            loss, dscores = _mse(scores, target.astype(np.float64), N)
        keep("loss", loss)
        keep("fc.W", _matmul(feats.T, dscores))
        keep("fc.b", _sum(dscores, axis=0))
        dfeats = _matmul(dscores, W.T)
        if head == "last":
            dhs = [zero] * (T - 1) + [dfeats]
        else:
            dhs = [dfeats[t * N : (t + 1) * N] for t in range(T)]
    for k in reversed(range(L)):
        q = f"layer{k}."
        dxs, dh0, dc0, dWx, dWh, db, contributions = _layer_backward(
            dhs, layers[k], p[q + "Wx"], p[q + "Wh"]
        )
        keep(q + "Wx", dWx)
        keep(q + "Wh", dWh)
        keep(q + "b", db)
        keep(q + "h0", dh0)
        keep(q + "c0", dc0)
        for part, arr in contributions.items():
            steps_out[q + part] = arr
        dhs = dxs
    keep("x", _stack(dhs, axis=1))
    return Bounds(values, mags, steps_out)
