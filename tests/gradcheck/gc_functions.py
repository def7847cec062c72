"""Correct layers and planted bugs for testing the checker (module level, so picklable).

Every layer follows the cs231n convention: ``forward(*inputs) -> (out, cache)`` and
``backward(dout, cache) -> one gradient per input``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


def _sigmoid(x):
    return 0.5 + 0.5 * np.tanh(0.5 * x)


# ---- correct layers -------------------------------------------------------------------------


def affine_forward(x, w, b):
    return x @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(0)


def tanh_forward(x):
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, out):
    return (dout * (1 - out * out),)


def sigmoid_forward(x):
    out = _sigmoid(x)
    return out, out


def sigmoid_backward(dout, out):
    return (dout * out * (1 - out),)


def relu_forward(x):
    return x * (x > 0), x


def relu_backward(dout, x):
    return (dout * (x > 0),)


def softmax_ce_forward(scores, y):
    """Mean cross-entropy over the batch; one output (the loss, as a 0-d array)."""
    shifted = scores - scores.max(axis=1, keepdims=True).real
    e = np.exp(shifted)
    p = e / e.sum(axis=1, keepdims=True)
    n = scores.shape[0]
    loss = -np.log(p[np.arange(n), y]).sum() / n
    return np.asarray(loss), (p, y)


def softmax_ce_backward(dloss, cache):
    p, y = cache
    n = p.shape[0]
    d = p.copy()
    d[np.arange(n), y] -= 1
    return d * (dloss / n), None


def two_output_forward(x, w):
    """Two outputs sharing inputs: (x @ w, sin(x))."""
    return x @ w, np.sin(x), (x, w)


def two_output_backward(d1, d2, cache):
    x, w = cache
    return d1 @ w.T + d2 * np.cos(x), x.T @ d1


@dataclass(frozen=True)
class Layer:
    """A layer with inputs to draw: name -> (shape, low, high)."""

    name: str
    forward: Callable[..., Any]
    backward: Callable[..., Any]
    shapes: dict[str, tuple[tuple[int, ...], float, float]]
    wrt: tuple[str, ...] | None = None

    def inputs(self, rng: np.random.Generator, dtype: type = np.float64) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, (shape, lo, hi) in self.shapes.items():
            if name == "y":
                out[name] = rng.integers(0, 4, size=shape)
            else:
                out[name] = rng.uniform(lo, hi, size=shape).astype(dtype)
        return out


def _relu_inputs_away_from_zero(shape):
    return (shape, 0.2, 2.0)


LAYERS = [
    Layer(
        "affine",
        affine_forward,
        affine_backward,
        {"x": ((5, 4), -2, 2), "w": ((4, 3), -1, 1), "b": ((3,), -1, 1)},
    ),
    Layer("tanh", tanh_forward, tanh_backward, {"x": ((4, 6), -3, 3)}),
    Layer("sigmoid", sigmoid_forward, sigmoid_backward, {"x": ((4, 6), -6, 6)}),
    Layer("relu_away_from_0", relu_forward, relu_backward, {"x": ((4, 6), -2, 2)}),
    Layer(
        "softmax_ce",
        softmax_ce_forward,
        softmax_ce_backward,
        {"scores": ((6, 4), -3, 3), "y": ((6,), 0, 4)},
        wrt=("scores",),
    ),
    Layer(
        "two_outputs",
        two_output_forward,
        two_output_backward,
        {"x": ((3, 4), -2, 2), "w": ((4, 2), -1, 1)},
    ),
]


def relu_inputs(rng: np.random.Generator, dtype: type = np.float64) -> dict[str, Any]:
    """ReLU inputs kept at least 0.2 away from the kink."""
    x = rng.uniform(0.2, 2.0, size=(4, 6)) * rng.choice([-1.0, 1.0], size=(4, 6))
    return {"x": x.astype(dtype)}


# ---- planted bugs ---------------------------------------------------------------------------


def affine_backward_scaled(dout, cache):
    dx, dw, db = affine_backward(dout, cache)
    return dx, dw * 1.1, db


def affine_backward_bias_mean(dout, cache):
    dx, dw, _ = affine_backward(dout, cache)
    return dx, dw, dout.mean(0)


def affine_backward_swapped_blocks(dout, cache):
    dx, dw, db = affine_backward(dout, cache)
    return dx, np.concatenate([dw[:, 1:2], dw[:, 0:1], dw[:, 2:]], axis=1), db


def two_output_backward_missing_term(d1, d2, cache):
    x, w = cache
    return d1 @ w.T, x.T @ d1


def element_error(backward, which: int, index, rel: float):
    """Wrap ``backward`` so gradient ``which`` is off by ``rel`` (relative) at ``index``."""

    def wrong(*args):
        grads = list(backward(*args))
        g = grads[which].copy()
        g[index] = g[index] * (1 + rel)
        grads[which] = g
        return tuple(grads)

    return wrong


# ---- model for the detection tests: a smooth 2-layer tanh net with many small gradients ------


def mlp_forward(x, w1, w2):
    h = np.tanh(x @ w1)
    return np.tanh(h @ w2), (x, w1, w2, h)


def mlp_backward(dout, cache):
    x, w1, w2, h = cache
    out = np.tanh(h @ w2)
    da2 = dout * (1 - out * out)
    dh = da2 @ w2.T
    da1 = dh * (1 - h * h)
    return da1 @ w1.T, x.T @ da1, h.T @ da2


# ---- raising where only a worker process evaluates ------------------------------------------

#: the first element of the input of ``first_element_fragile``; any other value raises
FRAGILE_X0 = 0.25


def first_element_fragile(x):
    """tanh, but raising when x[0] is perturbed (with an executor, that is in a worker)."""
    if x[0] != FRAGILE_X0:
        raise ZeroDivisionError("x[0] moved")
    return np.tanh(x), x


def fragile_backward(dout, x):
    return (dout * (1 - np.tanh(x) ** 2),)
