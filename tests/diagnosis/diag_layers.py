"""Small generic layers (no LSTM) with planted backward bugs, one per diagnosis pattern.

Each ``*_check(bug)`` runs a gradient check of one layer with the named bug (``None`` for the
correct backward pass) and hand-made axis annotations, and returns the :class:`CheckResult`.
Data come from a local generator with a fixed seed: every check is deterministic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import gradcheck
from gradcheck import CheckResult, Finding

N, T, D, K = 3, 5, 2, 3
GATES = ("a", "b", "c")


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(0.5 * z)


def top(result: CheckResult) -> Finding:
    """The best finding (the check must have failed and produced one)."""
    assert not result.passed, "the planted bug was not detected"
    assert result.findings, f"no finding for a failed check:\n{result}"
    return result.findings[0]


# ---- a batch-mean loss: constant ratios ----------------------------------------------------


def batch_mean_check(
    scale: float | None, *, time_axis: bool = False, **options: Any
) -> CheckResult:
    """loss = mean over the batch (and time) of sum(c * tanh(x @ w)); gradients times ``scale``."""
    rng = _rng()
    shape = (N, T, D) if time_axis else (N, D)
    x, w = rng.normal(size=shape), rng.normal(size=(D, K))
    c = rng.normal(size=shape[:-1] + (K,))
    count = N * T if time_axis else N

    def fn(x: np.ndarray, w: np.ndarray) -> float:
        return float(np.sum(c * np.tanh(x @ w))) / count

    def grad(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dz = c * (1 - np.tanh(x @ w) ** 2) / count
        dx, dw = dz @ w.T, x.reshape(-1, D).T @ dz.reshape(-1, K)
        s = 1.0 if scale is None else scale
        return s * dx, s * dw

    axes = ["batch", "time", "feature"] if time_axis else ["batch", "feature"]
    notes = {"x": {"axes": axes}, "w": {"axes": ["feature", "unit"]}}
    return gradcheck.check_grad(fn, grad, {"x": x, "w": w}, annotations=notes, **options)


# ---- a gated layer: one weight split into labelled blocks ----------------------------------


def gated_check(bug: str | None, *, square: bool = False, **options: Any) -> CheckResult:
    """out = [sigmoid(z_a), tanh(z_b), z_c] with z = x @ W + bias; loss = sum(c * out).

    Bugs: ``deriv_b`` (tanh' taken as 1 - t), ``copy_b_from_a``, ``zero_c``, ``swap_a_c``,
    ``transpose_blocks`` (needs ``square``: W is (K, 3K) and each (K, K) block is transposed).
    """
    rng = _rng(1)
    rows = K if square else D
    x, W, bias = rng.normal(size=(N, rows)), rng.normal(size=(rows, 3 * K)), rng.normal(size=3 * K)
    c = rng.normal(size=(N, 3 * K))

    def parts(W: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = x @ W + bias
        s, t = _sigmoid(z[:, :K]), np.tanh(z[:, K : 2 * K])
        return np.concatenate([s, t, z[:, 2 * K :]], axis=1), np.concatenate(
            [s * (1 - s), (1 - t) if bug == "deriv_b" else 1 - t * t, np.ones((N, K))], axis=1
        )

    def fn(W: np.ndarray, bias: np.ndarray) -> float:
        return float(np.sum(c * parts(W, bias)[0]))

    def grad(W: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dz = c * parts(W, bias)[1]
        a, b, cc = dz[:, :K], dz[:, K : 2 * K], dz[:, 2 * K :]
        if bug == "copy_b_from_a":
            b = a
        if bug == "zero_c":
            cc = np.zeros_like(cc)
        if bug == "swap_a_c":
            a, cc = cc, a
        dz = np.concatenate([a, b, cc], axis=1)
        dW = x.T @ dz
        if bug == "transpose_blocks":
            dW = dW.reshape(K, 3, K).transpose(2, 1, 0).reshape(K, 3 * K)
        return dW, dz.sum(0)

    gate = ("gate", GATES)
    notes = {
        "W": {"axes": ["input", gate], "group": "cell"},
        "bias": {"axes": [gate], "group": "cell"},
    }
    return gradcheck.check_grad(fn, grad, {"W": W, "bias": bias}, annotations=notes, **options)


def shared_path_check(bug: str | None) -> CheckResult:
    """out = sigmoid(z_a) * tanh(z_b) + z_c: gates a and b feed one product m.

    Bug ``no_m``: the gradient into m is left out, so gates a and b get nothing.
    """
    rng = _rng(2)
    x, W, bias = rng.normal(size=(N, D)), rng.normal(size=(D, 3 * K)), rng.normal(size=3 * K)
    c = rng.normal(size=(N, K))

    def fn(W: np.ndarray, bias: np.ndarray) -> float:
        z = x @ W + bias
        return float(np.sum(c * (_sigmoid(z[:, :K]) * np.tanh(z[:, K : 2 * K]) + z[:, 2 * K :])))

    def grad(W: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = x @ W + bias
        s, t = _sigmoid(z[:, :K]), np.tanh(z[:, K : 2 * K])
        dm = np.zeros_like(c) if bug == "no_m" else c
        dz = np.concatenate([dm * t * s * (1 - s), dm * s * (1 - t * t), c], axis=1)
        return x.T @ dz, dz.sum(0)

    gate = ("gate", GATES)
    notes = {"W": {"axes": ["input", gate]}, "bias": {"axes": [gate]}}
    return gradcheck.check_grad(fn, grad, {"W": W, "bias": bias}, annotations=notes)


# ---- two same-shaped inputs; two layers of the same structure ------------------------------


def matmul_check(bug: str | None) -> CheckResult:
    """out = x @ w with square x and w. Bugs: ``order`` (dw, dx returned), ``dx_twice``."""
    rng = _rng(3)
    x, w = rng.normal(size=(K, K)), rng.normal(size=(K, K))

    def forward(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, Any]:
        return x @ w, (x, w)

    def backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray]:
        x, w = cache
        dx, dw = dout @ w.T, x.T @ dout
        if bug == "order":
            return dw, dx
        if bug == "dx_twice":
            return dx, dx
        if bug == "transpose":
            return dx, dw.T
        return dx, dw

    return gradcheck.check_layer(forward, backward, {"x": x, "w": w})


def two_layer_check(bug: str | None, *, annotate: bool = True) -> CheckResult:
    """h = tanh(x @ W0), out = tanh(h @ W1), loss = sum(c * out); groups "layer 0", "layer 1".

    Bugs: ``exchange`` (the two weight gradients exchanged), ``deriv0`` (tanh' of layer 0
    taken as 1 - h: only layer 0 is wrong).
    """
    rng = _rng(4)
    x = rng.normal(size=(N + 1, K))
    W0, W1 = rng.normal(size=(K, K)), rng.normal(size=(K, K))
    c = rng.normal(size=(N + 1, K))

    def fn(W0: np.ndarray, W1: np.ndarray) -> float:
        return float(np.sum(c * np.tanh(np.tanh(x @ W0) @ W1)))

    def grad(W0: np.ndarray, W1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = np.tanh(x @ W0)
        out = np.tanh(h @ W1)
        d1 = c * (1 - out * out)
        dh = d1 @ W1.T
        d0 = dh * ((1 - h) if bug == "deriv0" else (1 - h * h))
        g0, g1 = x.T @ d0, h.T @ d1
        return (g1, g0) if bug == "exchange" else (g0, g1)

    notes = {
        "W0": {"axes": ["in", "out"], "group": "layer 0"},
        "W1": {"axes": ["in", "out"], "group": "layer 1"},
    }
    return gradcheck.check_grad(
        fn, grad, {"W0": W0, "W1": W1}, annotations=notes if annotate else {}
    )


def skip_check(bug: str | None) -> CheckResult:
    """h = tanh(x @ W0), y = tanh(h @ W1) + h (a skip path), loss = sum(c * y).

    Bug ``no_skip``: the backward pass leaves out the skip path, so dh misses ``c``.
    """
    rng = _rng(5)
    x, W0, W1 = rng.normal(size=(N + 1, K)), rng.normal(size=(K, K)), rng.normal(size=(K, K))
    c = rng.normal(size=(N + 1, K))

    def fn(x: np.ndarray, W0: np.ndarray, W1: np.ndarray) -> float:
        h = np.tanh(x @ W0)
        return float(np.sum(c * (np.tanh(h @ W1) + h)))

    def grad(x: np.ndarray, W0: np.ndarray, W1: np.ndarray) -> tuple[np.ndarray, ...]:
        h = np.tanh(x @ W0)
        out = np.tanh(h @ W1)
        d1 = c * (1 - out * out)
        dh = d1 @ W1.T + (0 if bug == "no_skip" else c)
        d0 = dh * (1 - h * h)
        return d0 @ W0.T, x.T @ d0, h.T @ d1

    return gradcheck.check_grad(fn, grad, {"x": x, "W0": W0, "W1": W1})


# ---- time axes ------------------------------------------------------------------------------


def recurrence_check(bug: str | None) -> CheckResult:
    """h_t = 0.7 h_{t-1} + x_t over x of shape (N, T) ("batch", "time"); loss = sum(c * h).

    Bugs: ``no_carry`` (dx_t misses what step t+1 carries back), ``last`` (the last step
    doubled), ``first`` (the first step scaled), ``middle`` (step 2 scaled), ``row`` (batch
    row 1 scaled).
    """
    rng = _rng(6)
    x, c = rng.normal(size=(N, T)), 1 + rng.random(size=(N, T))

    def fn(x: np.ndarray) -> float:
        h, total = np.zeros(N), 0.0
        for t in range(T):
            h = 0.7 * h + x[:, t]
            total += float(np.sum(c[:, t] * h))
        return total

    def grad(x: np.ndarray) -> tuple[np.ndarray]:
        dx, carry = np.zeros_like(x), np.zeros(N)
        for t in reversed(range(T)):
            dx[:, t] = c[:, t] + (0 if bug == "no_carry" else carry)
            carry = 0.7 * dx[:, t]
        if bug == "last":
            dx[:, -1] *= 2
        if bug == "first":
            dx[:, 0] *= 1.5
        if bug == "middle":
            dx[:, 2] *= 1.5
        if bug == "row":
            dx[1] *= 1.5
        return (dx,)

    notes = {"x": {"axes": ["batch", "time"]}}
    return gradcheck.check_grad(fn, grad, {"x": x}, annotations=notes)


def affine_time_check(bug: str | None, *, drift: bool) -> CheckResult:
    """z_t = x_t @ W + b over T steps, loss = sum(c * tanh(z)); W and b in group "affine".

    With ``drift`` the inputs drift slowly around a common value, as real sequences do;
    without, every step is independent. Bugs: ``last_step`` (dW from the last step only),
    ``shifted`` (each step's delta paired with the next step's input).
    """
    rng = _rng(7)
    x = rng.normal(size=(T + 1, N, D))
    if drift:
        x = x[:1] + 0.3 * x
    W, b = rng.normal(size=(D, K)), rng.normal(size=K)
    c = rng.normal(size=(T + 1, N, K))

    def fn(W: np.ndarray, b: np.ndarray) -> float:
        return float(np.sum(c * np.tanh(x @ W + b)))

    def grad(W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dz = c * (1 - np.tanh(x @ W + b) ** 2)
        if bug == "last_step":
            dW = x[-1].T @ dz[-1]
        elif bug == "shifted":
            dW = np.einsum("tnd,tnk->dk", np.roll(x, -1, axis=0), dz)
        else:
            dW = np.einsum("tnd,tnk->dk", x, dz)
        return dW, dz.sum(axis=(0, 1))

    notes = {
        "W": {"axes": ["input", "unit"], "group": "affine"},
        "b": {"axes": ["unit"], "group": "affine"},
    }
    return gradcheck.check_grad(fn, grad, {"W": W, "b": b}, annotations=notes)


# ---- an element-wise factor ------------------------------------------------------------------


def tanh_check(bug: str | None, **options: Any) -> CheckResult:
    """loss = sum(c * tanh(x)). Bug ``no_deriv``: the gradient leaves out 1 - tanh(x)**2."""
    rng = _rng(8)
    x, c = rng.normal(size=(N, K)), rng.normal(size=(N, K))

    def fn(x: np.ndarray) -> float:
        return float(np.sum(c * np.tanh(x)))

    def grad(x: np.ndarray) -> tuple[np.ndarray]:
        return (c if bug == "no_deriv" else c * (1 - np.tanh(x) ** 2),)

    return gradcheck.check_grad(fn, grad, {"x": x}, **options)
