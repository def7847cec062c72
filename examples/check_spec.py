"""A layer of your own under ``gradcheck check``: a vanilla RNN over a sequence.

Run from the repository root::

    gradcheck check examples/check_spec.py:spec          # passes, exit code 0
    gradcheck check examples/check_spec.py:buggy_spec    # fails, exit code 1
    gradcheck check examples/check_spec.py:buggy_spec -o rnn.html   # the HTML report

``gradcheck check MODULE:NAME`` imports MODULE (a dotted module name, or a path to a ``.py``
file as here), calls ``NAME()`` with no arguments and runs the check described by the dict it
returns, the *check spec*:

``kind``
    Which check function runs: ``"layer"`` (:func:`gradcheck.check_layer`), ``"vjp"``,
    ``"grad"``, ``"loss"``, ``"module"``, ``"jvp"``, ``"hvp"`` or ``"gradgrad"``.
the arguments of that function, by name
    ``layer``: ``forward``, ``backward``, ``inputs`` (and optionally ``cotangents``);
    ``vjp``: ``fn``, ``vjp``, ``inputs``; ``grad``: ``fn``, ``grad``, ``inputs``;
    ``loss``: ``loss_fn``, ``params``; ``module``: ``layer`` (and optionally ``inputs``,
    ``params_attr``, ``grads_attr``); ``jvp``: ``fn``, ``jvp``, ``inputs`` (and optionally
    ``vjp``, ``cotangents``); ``hvp``: ``grad``, ``hvp``, ``inputs``; ``gradgrad``: ``fn``,
    ``vjp``, ``vjp_jvp``, ``inputs``.
``options`` (optional)
    Keyword options of the check (``method``, ``mode``, ``seed``, ``annotations``...; see
    :class:`gradcheck.CheckOptions`). ``--method``, ``--mode`` and ``--seed`` on the command
    line override them.
``title`` (optional)
    What is checked, shown at the top of the report.

The ``annotations`` option names the axes of each input, so that the report breaks the errors
down by time step (an axis named ``"time"``), by labelled block (an axis given as
``(name, labels)``) and by group. With the planted bug below, the report shows at a glance
that only the last time step of ``x`` is right.

The layer follows the cs231n convention: ``forward(*inputs) -> (out, cache)`` and
``backward(dout, cache) -> one gradient per input``, in order. Shapes: N batch, T time,
D input features, H hidden units.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Cache = tuple[Array, Array, Array, Array, Array]


def rnn_forward(x: Array, h0: Array, wx: Array, wh: Array, b: Array) -> tuple[Array, Cache]:
    """Run ``h_t = tanh(x_t wx + h_{t-1} wh + b)`` over ``x`` (N, T, D); return h (N, T, H)."""
    n, t, _ = x.shape
    h = np.empty((n, t, wh.shape[0]))
    prev = h0
    for step in range(t):
        prev = np.tanh(x[:, step] @ wx + prev @ wh + b)
        h[:, step] = prev
    return h, (x, h0, wx, wh, h)


def _rnn_backward(dh: Array, cache: Cache, carry: bool) -> tuple[Array, ...]:
    x, h0, wx, wh, h = cache
    dx = np.zeros_like(x)
    dwx, dwh, db = np.zeros_like(wx), np.zeros_like(wh), np.zeros(wh.shape[0])
    dnext = np.zeros_like(h0)
    for step in reversed(range(x.shape[1])):
        prev = h[:, step - 1] if step > 0 else h0
        da = (dh[:, step] + dnext) * (1 - h[:, step] ** 2)
        dx[:, step] = da @ wx.T
        dwx += x[:, step].T @ da
        dwh += prev.T @ da
        db += da.sum(axis=0)
        # the planted bug: the gradient of h_{t-1} is not carried back to the earlier steps
        dnext = da @ wh.T if carry else np.zeros_like(h0)
    return dx, dnext, dwx, dwh, db


def rnn_backward(dh: Array, cache: Cache) -> tuple[Array, ...]:
    """Gradients with respect to x, h0, wx, wh and b."""
    return _rnn_backward(dh, cache, carry=True)


def rnn_backward_no_carry(dh: Array, cache: Cache) -> tuple[Array, ...]:
    """A classic mistake: the hidden-state gradient is not carried back through time."""
    return _rnn_backward(dh, cache, carry=False)


def _inputs(seed: int = 0) -> dict[str, Array]:
    rng = np.random.default_rng(seed)
    n, t, d, h = 3, 6, 4, 5
    return {
        "x": rng.standard_normal((n, t, d)),
        "h0": rng.standard_normal((n, h)),
        "wx": rng.standard_normal((d, h)) / np.sqrt(d),
        "wh": rng.standard_normal((h, h)) / np.sqrt(h),
        "b": 0.1 * rng.standard_normal(h),
    }


#: what the axes of each input mean, for the report's breakdown
ANNOTATIONS = {
    "x": {"axes": ["batch", "time", "input"], "group": "sequence"},
    "h0": {"axes": ["batch", "hidden"], "group": "sequence"},
    "wx": {"axes": ["input", "hidden"], "group": "weights"},
    "wh": {"axes": ["hidden", "hidden"], "group": "weights"},
    "b": {"axes": ["hidden"], "group": "weights"},
}


def spec() -> dict[str, Any]:
    """The check of the correct RNN layer."""
    return {
        "kind": "layer",
        "forward": rnn_forward,
        "backward": rnn_backward,
        "inputs": _inputs(),
        "options": {"annotations": ANNOTATIONS, "seed": 0},
        "title": "vanilla RNN layer (examples/check_spec.py)",
    }


def buggy_spec() -> dict[str, Any]:
    """The same check with the planted bug: no gradient carried back through time."""
    return spec() | {
        "backward": rnn_backward_no_carry,
        "title": "vanilla RNN layer, hidden-state gradient not carried back in time",
    }
