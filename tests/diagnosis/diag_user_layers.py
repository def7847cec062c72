"""Layers with bugs as users met them, where the diagnosis used to state wrong things.

Each function runs one check of a small layer with a planted bug and returns the CheckResult;
data come from a local generator with a fixed seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import gradcheck
from gradcheck import CheckResult


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(0.5 * z)


def leak_forgotten(scale: float) -> CheckResult:
    """h = tanh(z) + 0.01 z, out = h @ W2: the backward pass leaves out the 0.01 path (~1%)."""
    rng = np.random.default_rng(0)
    N, D, H, C = 6, 4, 5, 3
    x, W1, b1 = (scale * rng.normal(size=s) for s in ((N, D), (D, H), (H,)))
    W2 = rng.normal(size=(H, C))

    def forward(x: Any, W1: Any, b1: Any, W2: Any) -> Any:
        z = x @ W1 + b1
        h = np.tanh(z) + 0.01 * z
        return h @ W2, (x, z, h, W1, W2)

    def backward(dout: Any, cache: Any) -> Any:
        x, z, h, W1, W2 = cache
        dz = (dout @ W2.T) * (1 - np.tanh(z) ** 2)  # the 0.01 * z path is missing
        return dz @ W1.T, x.T @ dz, dz.sum(0), h.T @ dout

    inputs = {"x": x, "W1": W1, "b1": b1, "W2": W2}
    return gradcheck.check_layer(forward, backward, inputs)


def nce_frequent_word() -> CheckResult:
    """Negative sampling where word 0 dominates the bias gradient and is drawn twice as a
    negative; ``db[neg] += ...`` keeps one draw, a 1% error on the largest element."""
    rng = np.random.default_rng(1)
    N, D, V = 12, 4, 10
    h, W, b = rng.normal(size=(N, D)), 0.3 * rng.normal(size=(V, D)), rng.normal(size=V)
    b[0] = -5.0
    target = np.where(rng.random(N) < 0.8, 0, rng.integers(1, V, size=N))
    neg = np.array([0, 3, 0, 6, 8])

    def loss_fn(p: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
        W, b = p["W"], p["b"]
        pos = np.sum(h * W[target], 1) + b[target]
        sneg = h @ W[neg].T + b[neg]
        loss = -np.sum(np.log(_sigmoid(pos))) - np.sum(np.log(_sigmoid(-sneg)))
        gpos, gneg = _sigmoid(pos) - 1, _sigmoid(sneg)
        dW, db = np.zeros_like(W), np.zeros_like(b)
        np.add.at(dW, target, gpos[:, None] * h)
        np.add.at(db, target, gpos)
        np.add.at(dW, neg, gneg.T @ h)
        db[neg] += gneg.sum(0)  # buffered: the second draw of word 0 is lost
        return float(loss), {"W": dW, "b": db}

    return gradcheck.check_loss(loss_fn, {"W": W, "b": b})


def small_square(factors: np.ndarray, axes: list[str]) -> CheckResult:
    """A 2x2 input whose analytic gradient is the true one times ``factors``, element-wise."""
    w = np.array([[0.7, -1.2], [0.4, 0.9]])
    return gradcheck.check_grad(
        lambda w: float(np.sum(np.sin(w))),
        lambda w: (np.cos(w) * factors,),
        {"w": w},
        annotations={"w": {"axes": axes}},
    )


def packed_gates(second_bug: bool) -> CheckResult:
    """A cell with packed gates i, f, o, g; gate i's bias gradient is taken from gate f's delta,
    and with ``second_bug`` gate f's sigmoid derivative is also wrong."""
    rng = np.random.default_rng(2)
    N, D, H = 5, 3, 2
    x, W, b = rng.normal(size=(N, D)), rng.normal(size=(D, 4 * H)), rng.normal(size=4 * H)
    c_prev = rng.normal(size=(N, H))

    def forward(W: Any, b: Any) -> Any:
        a = x @ W + b
        i, f, o = _sigmoid(a[:, :H]), _sigmoid(a[:, H : 2 * H]), _sigmoid(a[:, 2 * H : 3 * H])
        g = np.tanh(a[:, 3 * H :])
        c = f * c_prev + i * g
        return o * np.tanh(c), (i, f, o, g, c)

    def backward(dh: Any, cache: Any) -> Any:
        i, f, o, g, c = cache
        tc = np.tanh(c)
        dc = dh * o * (1 - tc**2)
        dai = dc * g * i * (1 - i)
        daf = dc * c_prev * (f if second_bug else f * (1 - f))
        dao, dag = dh * tc * o * (1 - o), dc * i * (1 - g * g)
        da = np.concatenate([dai, daf, dao, dag], 1)
        db = da.sum(0)
        db[:H] = daf.sum(0)  # b_i from the forget gate's delta
        return x.T @ da, db

    gates = ("gate", "ifog")
    notes = {"W": {"axes": ["input", gates]}, "b": {"axes": [gates]}}
    return gradcheck.check_layer(forward, backward, {"W": W, "b": b}, annotations=notes)


def dense_and_conv(rows: int, cols: int, block: slice) -> CheckResult:
    """A dense layer W (rows, cols) with a 1% error in a block of columns of its gradient, and a
    1-d convolution kernel k (4, 2, 3) whose filter 2 has its gradient's sign flipped."""
    rng = np.random.default_rng(3)
    N, F, C, K, L = 8, 4, 2, 3, 9
    xd = rng.normal(size=(N, rows)) / np.sqrt(rows)
    W, cd = rng.normal(size=(rows, cols)), rng.normal(size=(N, cols))
    xc, k = rng.normal(size=(N, C, L)), rng.normal(size=(F, C, K))
    cc = rng.normal(size=(N, F, L - K + 1))

    def conv(k: np.ndarray) -> np.ndarray:
        return np.stack(
            [np.einsum("ncl,fcl->nf", xc[:, :, i : i + K], k) for i in range(L - K + 1)], -1
        )

    def loss_fn(p: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
        W, k = p["W"], p["k"]
        z, y = np.tanh(xd @ W), np.tanh(conv(k))
        loss = float(np.sum(cd * z) + np.sum(cc * y))
        dW = xd.T @ (cd * (1 - z**2))
        dW[:, block] *= 1.01
        dy = cc * (1 - y**2)
        dk = sum(
            np.einsum("nf,ncl->fcl", dy[:, :, i], xc[:, :, i : i + K]) for i in range(L - K + 1)
        )
        dk[2] *= -1
        return loss, {"W": dW, "k": dk}

    return gradcheck.check_loss(loss_fn, {"W": W, "k": k}, mode="full")


def partial_sum_positive() -> CheckResult:
    """z_t = x_t @ W over T = 5 steps of positive data; dW sums steps 2.. only."""
    rng = np.random.default_rng(4)
    xs, cs, W = rng.random(size=(5, 3, 4)), rng.random(size=(5, 3, 3)), rng.random(size=(4, 3))

    def loss_fn(p: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
        loss = float(np.sum(cs * (xs @ p["W"])))
        return loss, {"W": np.einsum("tnd,tnk->dk", xs[2:], cs[2:])}

    return gradcheck.check_loss(loss_fn, {"W": W})


def dropped_carry_into_weight() -> CheckResult:
    """h_t = 0.6 h_{t-1} + x_t @ W; dW leaves out what step t+1 carries back."""
    rng = np.random.default_rng(5)
    T = 5
    xs, cs, W = rng.random(size=(T, 3, 4)), rng.random(size=(T, 3, 3)), rng.random(size=(4, 3))

    def loss_fn(p: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
        hs, h = [], np.zeros((3, 3))
        for t in range(T):
            h = 0.6 * h + xs[t] @ p["W"]
            hs.append(h)
        loss = float(sum(np.sum(cs[t] * hs[t]) for t in range(T)))
        dW = sum(xs[t].T @ cs[t] for t in range(T))  # the 0.6 carry is left out
        return loss, {"W": dW}

    return gradcheck.check_loss(loss_fn, {"W": W})


def column_bias_last_step(bias_shape: str, annotate: bool) -> CheckResult:
    """z_t = Wx x_t + bh over T = 4 steps, column-vector convention; dWx from the last step only.

    ``bias_shape``: ``"column"`` (H, 1), ``"row"`` (1, H) or ``"flat"`` (H,).
    """
    rng = np.random.default_rng(6)
    T, D, H, N = 4, 3, 4, 2
    X = rng.normal(size=(T, D, N))
    X = X[:1] + 0.3 * X  # slowly drifting inputs, as real sequences
    Wx, cc = rng.normal(size=(H, D)), rng.normal(size=(T, H, N))
    shape = {"column": (H, 1), "row": (1, H), "flat": (H,)}[bias_shape]
    bh = rng.normal(size=shape)

    def loss_fn(p: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
        z = np.einsum("hd,tdn->thn", p["Wx"], X) + p["bh"].reshape(H, 1)
        dz = cc * (1 - np.tanh(z) ** 2)
        grads = {"Wx": dz[-1] @ X[-1].T, "bh": dz.sum(axis=(0, 2)).reshape(shape)}
        return float(np.sum(cc * np.tanh(z))), grads

    bias_axes = {"column": ["hidden", None], "row": [None, "hidden"], "flat": ["hidden"]}
    notes = {
        "Wx": {"axes": ["hidden", "input"], "group": "cell"},
        "bh": {"axes": bias_axes[bias_shape], "group": "cell"},
    }
    return gradcheck.check_loss(
        loss_fn, {"Wx": Wx, "bh": bh}, annotations=notes if annotate else {}
    )


def conv_kernel_overwritten() -> CheckResult:
    """A 2-d convolution (weight of rank 4, bias (F,), one group): ``dw[f] = ...`` instead of
    ``+=`` keeps only the last position's contribution."""
    rng = np.random.default_rng(7)
    N, C, H, W, F, K = 2, 2, 4, 4, 3, 3
    x, w, b = rng.normal(size=(N, C, H, W)), rng.normal(size=(F, C, K, K)), rng.normal(size=F)
    x = x.mean(axis=(2, 3), keepdims=True) + 0.3 * x

    def forward(w: Any, b: Any) -> Any:
        out = np.empty((N, F, H - K + 1, W - K + 1))
        for i in range(H - K + 1):
            for j in range(W - K + 1):
                patch = x[:, :, i : i + K, j : j + K]
                out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
        return out, None

    def backward(dout: Any, cache: Any) -> Any:
        dw = np.zeros_like(w)
        for f in range(F):
            for i in range(H - K + 1):
                for j in range(W - K + 1):
                    dw[f] = np.tensordot(dout[:, f, i, j], x[:, :, i : i + K, j : j + K], 1)
        return dw, dout.sum(axis=(0, 2, 3))

    notes = {
        "w": {"axes": ["filter", "channel", None, None], "group": "conv"},
        "b": {"axes": ["filter"], "group": "conv"},
    }
    return gradcheck.check_layer(forward, backward, {"w": w, "b": b}, annotations=notes)


def mean_over_batch_and_time(scale: float, **options: Any) -> CheckResult:
    """loss = sum(c * tanh(x @ w)) / (N * T) over flattened rows; the gradient times ``scale``.

    x is (N * T, D): no axis carries N or T.
    """
    rng = np.random.default_rng(8)
    N, T, D, K = 3, 5, 2, 3
    x, w, c = rng.normal(size=(N * T, D)), rng.normal(size=(D, K)), rng.normal(size=(N * T, K))

    def fn(x: np.ndarray, w: np.ndarray) -> float:
        return float(np.sum(c * np.tanh(x @ w))) / (N * T)

    def grad(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dz = scale * c * (1 - np.tanh(x @ w) ** 2) / (N * T)
        return dz @ w.T, x.T @ dz

    return gradcheck.check_grad(fn, grad, {"x": x, "w": w}, **options)
