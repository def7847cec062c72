"""A zoo of layers with the backward-pass bugs people write, outside the LSTM.

Every case is a small numpy layer written in the cs231n style (``forward -> (out, cache)``,
``backward(dout, cache)``) or a loss, with a correct backward pass and one (sometimes two)
planted mistakes written the way they are written in practice: a statistic treated as a
constant in a normalisation's backward pass, an attention score left unscaled, a kernel
flipped, ``dW[ids] += dout`` with repeated ids, a mask forgotten, a loss gradient not averaged.

Each :class:`Case` also says which finding kinds would be a *correct* name for its bug
(``accepted``): a top finding of another kind is counted as a wrong finding. The accepted kinds
were written down with the layers, before the diagnosis was run on them; an empty set means that
no kind of the vocabulary describes the bug, so the right outcome is no finding at all.

Which inputs and elements a bug makes wrong is not written by hand: ``bench/diagnosis_zoo.py``
compares the buggy backward pass with the correct one at the same point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import gradcheck

Array = np.ndarray


@dataclass(frozen=True)
class Case:
    """One planted bug: its family, a check runner and the kinds that name it correctly."""

    name: str
    family: str
    run: Callable[[str | None, str | None], gradcheck.CheckResult]
    bug: str
    accepted: frozenset[str]
    note: str
    variant: str | None = None

    def check(self, buggy: bool) -> gradcheck.CheckResult:
        """The check of the buggy (or the correct) backward pass, on the same forward pass."""
        return self.run(self.bug if buggy else None, self.variant)


def _softmax(s: Array, axis: int = -1) -> Array:
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sigmoid(z: Array) -> Array:
    return 0.5 + 0.5 * np.tanh(0.5 * z)


# ---- normalisation ----------------------------------------------------------------------------


def batchnorm(bug: str | None, variant: str | None) -> gradcheck.CheckResult:
    """Training-mode batch normalisation of x (N, D) with gamma, beta (D,).

    Variant ``small_var``: features of small variance, eps 1e-3.
    """
    rng = np.random.default_rng(10)
    N, D = 6, 4
    small = variant == "small_var"
    eps = 1e-3 if small else 1e-5
    x = rng.normal(loc=1.0, scale=0.1 if small else 2.0, size=(N, D))
    gamma, beta = rng.normal(size=D), rng.normal(size=D)

    def forward(x: Array, gamma: Array, beta: Array) -> tuple[Array, Any]:
        mu = x.mean(axis=0)
        var = x.var(axis=0)
        std = np.sqrt(var + eps)
        xhat = (x - mu) / std
        return gamma * xhat + beta, (x, xhat, mu, var, std, gamma)

    def backward(dout: Array, cache: Any) -> tuple[Array, Array, Array]:
        x, xhat, mu, var, std, gamma = cache
        dbeta = dout.mean(axis=0) if bug == "dbeta_mean" else dout.sum(axis=0)
        dgamma = np.sum(dout * (x if bug == "dgamma_x" else xhat), axis=0)
        dxhat = dout * gamma
        if bug == "dx_no_stats":
            return dxhat / std, dgamma, dbeta
        if bug == "eps_backward":
            var_b = var  # eps forgotten in the backward pass
            std = np.sqrt(var)
        else:
            var_b = var + eps
        half = 0.5 if bug == "dvar_sign" else -0.5
        dvar = np.sum(dxhat * (x - mu), axis=0) * half * var_b**-1.5
        dmu = np.sum(-dxhat / std, axis=0) + dvar * np.mean(-2.0 * (x - mu), axis=0)
        n_var = N - 1 if bug == "unbiased" else N
        dx = dxhat / std + dvar * 2.0 * (x - mu) / n_var + dmu / N
        return dx, dgamma, dbeta

    inputs = {"x": x, "gamma": gamma, "beta": beta}
    return gradcheck.check_layer(forward, backward, inputs)


def layernorm(bug: str | None, variant: str | None) -> gradcheck.CheckResult:
    """Layer normalisation over the features of x (N, D), with gamma, beta (D,)."""
    rng = np.random.default_rng(11)
    N, D = 5, 6
    eps = 1e-5
    x = rng.normal(size=(N, D))
    gamma, beta = 1 + 0.3 * rng.normal(size=D), 0.3 * rng.normal(size=D)

    def forward(x: Array, gamma: Array, beta: Array) -> tuple[Array, Any]:
        mu = x.mean(axis=1, keepdims=True)
        std = np.sqrt(x.var(axis=1, keepdims=True) + eps)
        xhat = (x - mu) / std
        return gamma * xhat + beta, (xhat, std, gamma)

    def backward(dout: Array, cache: Any) -> tuple[Array, Array, Array]:
        xhat, std, gamma = cache
        dbeta = dout.sum(axis=0)
        dgamma = dout.sum(axis=0) if bug == "dgamma_no_xhat" else np.sum(dout * xhat, axis=0)
        dxhat = dout * gamma
        # the batch-norm formula reused: statistics over axis 0 instead of the feature axis
        ax, n = (0, N) if bug == "stats_axis" else (1, D)
        dx = (
            n * dxhat
            - dxhat.sum(axis=ax, keepdims=True)
            - xhat * np.sum(dxhat * xhat, axis=ax, keepdims=True)
        ) / (n * std)
        return dx, dgamma, dbeta

    return gradcheck.check_layer(forward, backward, {"x": x, "gamma": gamma, "beta": beta})


# ---- attention -------------------------------------------------------------------------------


def attention(bug: str | None, variant: str | None) -> gradcheck.CheckResult:
    """Single-head scaled dot-product attention: softmax(Q K^T / sqrt(d)) V, Q, K, V (T, d).

    Variant ``causal``: step t attends to steps 0..t only.
    """
    rng = np.random.default_rng(12)
    T, d = 4, 3
    q, k, v = (rng.normal(size=(T, d)) for _ in range(3))
    causal = variant == "causal"
    allowed = np.tril(np.ones((T, T), dtype=bool))

    def forward(q: Array, k: Array, v: Array) -> tuple[Array, Any]:
        s = q @ k.T / np.sqrt(d)
        p = _softmax(np.where(allowed, s, -np.inf) if causal else s)
        return p @ v, (q, k, v, s, p)

    def backward(dout: Array, cache: Any) -> tuple[Array, Array, Array]:
        q, k, v, s, p = cache
        if bug == "mask_recompute":
            p = _softmax(s)  # recomputed from the cached scores, without the mask
        dv = p @ dout if bug == "dv_no_transpose" else p.T @ dout
        dp = dout @ v.T
        if bug == "softmax_diag":
            ds = p * (1 - p) * dp
        else:
            ds = p * (dp - np.sum(dp * p, axis=1, keepdims=True))
        if bug != "no_scale":
            ds = ds / np.sqrt(d)
        dq = ds @ k
        dk = ds @ q if bug == "dk_no_transpose" else ds.T @ q
        if bug == "order":
            return dk, dq, dv
        return dq, dk, dv

    return gradcheck.check_layer(forward, backward, {"q": q, "k": k, "v": v})


# ---- convolution ------------------------------------------------------------------------------


def conv1d(bug: str | None, variant: str | None) -> gradcheck.CheckResult:
    """Naive 1-d convolution (cross-correlation), x (N, C, L), w (F, C, K), b (F,), pad 1."""
    rng = np.random.default_rng(13)
    N, C, L, F, K, pad = 2, 3, 7, 4, 3, 1
    x, w, b = rng.normal(size=(N, C, L)), rng.normal(size=(F, C, K)), rng.normal(size=F)
    L_out = L + 2 * pad - K + 1

    def forward(x: Array, w: Array, b: Array) -> tuple[Array, Any]:
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
        out = np.empty((N, F, L_out))
        for n in range(N):
            for f in range(F):
                for i in range(L_out):
                    out[n, f, i] = np.sum(xp[n, :, i : i + K] * w[f]) + b[f]
        return out, (xp, w)

    def backward(dout: Array, cache: Any) -> tuple[Array, Array, Array]:
        xp, w = cache
        dxp, dw = np.zeros_like(xp), np.zeros_like(w)
        db = dout.mean(axis=(0, 2)) if bug == "db_mean" else dout.sum(axis=(0, 2))
        stop = L_out - 1 if bug == "last_position" else L_out
        for n in range(N):
            for f in range(F):
                for i in range(stop):
                    window = xp[n, :, i : i + K]
                    if bug == "dw_flipped":
                        window = window[:, ::-1]
                    if bug == "dw_sign":
                        dw[f] -= dout[n, f, i] * window
                    else:
                        dw[f] += dout[n, f, i] * window
                    dxp[n, :, i : i + K] += dout[n, f, i] * w[f]
        dx = dxp[:, :, :L] if bug == "dx_crop" else dxp[:, :, pad:-pad]
        return dx, dw, db

    notes = {"x": {"axes": ["batch", "channel", "time"]}}
    return gradcheck.check_layer(forward, backward, {"x": x, "w": w, "b": b}, annotations=notes)


def conv2d(bug: str | None, variant: str | None) -> gradcheck.CheckResult:
    """Naive 2-d convolution, x (N, C, H, W), w (F, C, 3, 3), b (F,), stride 1, no padding."""
    rng = np.random.default_rng(14)
    N, C, H, W, F, K = 2, 2, 5, 5, 3, 3
    x, w, b = rng.normal(size=(N, C, H, W)), rng.normal(size=(F, C, K, K)), rng.normal(size=F)
    Ho, Wo = H - K + 1, W - K + 1

    def forward(x: Array, w: Array, b: Array) -> tuple[Array, Any]:
        out = np.empty((N, F, Ho, Wo))
        for i in range(Ho):
            for j in range(Wo):
                patch = x[:, :, i : i + K, j : j + K]
                out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
        return out, (x, w)

    def backward(dout: Array, cache: Any) -> tuple[Array, Array, Array]:
        x, w = cache
        dx, dw = np.zeros_like(x), np.zeros_like(w)
        db = dout.sum(axis=(0, 2, 3))
        for n in range(N):
            for f in range(F):
                for i in range(Ho):
                    for j in range(Wo):
                        patch = x[n, :, i : i + K, j : j + K]
                        if bug == "dw_flipped":
                            patch = patch[:, ::-1, ::-1]
                        if bug == "dw_overwrite":
                            dw[f] = dout[n, f, i, j] * patch
                        else:
                            dw[f] += dout[n, f, i, j] * patch
                        dx[n, :, i : i + K, j : j + K] += dout[n, f, i, j] * w[f]
        return dx, dw, db

    return gradcheck.check_layer(forward, backward, {"x": x, "w": w, "b": b})


# ---- embeddings --------------------------------------------------------------------------------


def embedding(bug: str | None, variant: str | None) -> gradcheck.CheckResult:
    """A lookup table W (V, D) read at integer ids (N, T) with repeats.

    Variants: ``padding`` (id 0 is padding: its rows of the output are zero), ``scaled`` (the
    output is multiplied by sqrt(D), as in transformers).
    """
    rng = np.random.default_rng(15)
    V, D, N, T = 8, 3, 2, 5
    ids = rng.integers(0, V, size=(N, T))
    ids[0, :2] = 5  # a repeated id, as in any real sentence
    ids[1, 0] = 0
    W = rng.normal(size=(V, D))
    padding = variant == "padding"
    scale = np.sqrt(D) if variant == "scaled" else 1.0

    def forward(ids: Array, W: Array) -> tuple[Array, Any]:
        out = W[ids] * scale
        if padding:
            out = out * (ids != 0)[..., None]
        return out, ids

    def backward(dout: Array, ids: Any) -> tuple[None, Array]:
        dW = np.zeros_like(W)
        if padding and bug != "padding":
            dout = dout * (ids != 0)[..., None]
        if bug != "scale":
            dout = dout * scale
        if bug == "buffered":
            dW[ids] += dout
        elif bug == "assign":
            dW[ids] = dout
        else:
            np.add.at(dW, ids, dout)
        return None, dW

    return gradcheck.check_layer(forward, backward, {"ids": ids, "W": W}, wrt=["W"])


# ---- masks -----------------------------------------------------------------------------------


def dropout(bug: str | None, variant: str | None) -> gradcheck.CheckResult:
    """Inverted dropout with keep probability 0.8 (a fixed seed: the same mask every call)."""
    rng = np.random.default_rng(16)
    x = rng.normal(size=(4, 6))
    keep = 0.8

    def forward(x: Array) -> tuple[Array, Any]:
        mask = np.random.default_rng(0).random(x.shape) < keep
        return x * mask / keep, mask

    def backward(dout: Array, mask: Any) -> tuple[Array]:
        if bug == "no_mask":
            return (dout / keep,)
        if bug == "no_scale":
            return (dout * mask,)
        return (dout * mask / keep,)

    return gradcheck.check_layer(forward, backward, {"x": x})


def relu(bug: str | None, variant: str | None) -> gradcheck.CheckResult:
    """ReLU on x (5, 4); variant ``leaky``: leaky ReLU with slope 0.1."""
    rng = np.random.default_rng(17)
    x = rng.normal(size=(5, 4))
    leak = 0.1 if variant == "leaky" else 0.0

    def forward(x: Array) -> tuple[Array, Any]:
        return np.where(x > 0, x, leak * x), x

    def backward(dout: Array, x: Any) -> tuple[Array]:
        if bug == "no_mask":
            return (dout,)
        if bug == "leaky_as_relu":
            return (dout * (x > 0),)
        return (dout * np.where(x > 0, 1.0, leak),)

    return gradcheck.check_layer(forward, backward, {"x": x})


def sequence_loss(bug: str | None, variant: str | None) -> gradcheck.CheckResult:
    """Softmax cross-entropy over logits (N, T, C), padded steps masked, mean over real steps."""
    rng = np.random.default_rng(18)
    N, T, C = 3, 4, 3
    logits = rng.normal(size=(N, T, C))
    y = rng.integers(0, C, size=(N, T))
    lengths = np.array([4, 2, 3])
    mask = np.arange(T)[None, :] < lengths[:, None]

    def loss_fn(p: dict[str, Array]) -> tuple[float, dict[str, Array]]:
        s = p["logits"]
        prob = _softmax(s)
        logp = np.log(np.take_along_axis(prob, y[..., None], axis=-1))[..., 0]
        loss = -np.sum(mask * logp) / mask.sum()
        d = prob.copy()
        np.put_along_axis(d, y[..., None], np.take_along_axis(d, y[..., None], -1) - 1, -1)
        if bug == "no_mask":
            d = d / mask.sum()
        elif bug == "mean_over_all":
            d = d * mask[..., None] / (N * T)
        else:
            d = d * mask[..., None] / mask.sum()
        return float(loss), {"logits": d}

    notes = {"logits": {"axes": ["batch", "time", "class"]}}
    return gradcheck.check_loss(loss_fn, {"logits": logits}, annotations=notes)


# ---- losses ----------------------------------------------------------------------------------


def classification_loss(bug: str | None, variant: str | None) -> gradcheck.CheckResult:
    """Softmax cross-entropy on scores (N, C); variants ``smoothed`` (label smoothing 0.1) and
    ``weighted`` (class weights)."""
    rng = np.random.default_rng(19)
    N, C = 5, 4
    scores = rng.normal(size=(N, C))
    y = rng.integers(0, C, size=N)
    smooth = 0.1 if variant == "smoothed" else 0.0
    weights = np.array([1.0, 2.0, 0.5, 1.5]) if variant == "weighted" else np.ones(C)
    target = (1 - smooth) * np.eye(C)[y] + smooth / C

    def loss_fn(p: dict[str, Array]) -> tuple[float, dict[str, Array]]:
        s = p["scores"]
        prob = _softmax(s)
        per_row = -np.sum(target * np.log(prob), axis=1)
        loss = np.sum(weights[y] * per_row) / N
        if bug == "smoothing_ignored":
            ds = (prob - np.eye(C)[y]) / N
        elif bug == "weights_ignored":
            ds = (prob - target) / N
        elif bug == "not_averaged":
            ds = prob - target
        else:
            ds = weights[y][:, None] * (prob - target) / N
        return float(loss), {"scores": ds}

    return gradcheck.check_loss(loss_fn, {"scores": scores})


def regression_loss(bug: str | None, variant: str | None) -> gradcheck.CheckResult:
    """Mean squared error between predictions (N, K) and targets; variant ``huber`` (delta 1)."""
    rng = np.random.default_rng(20)
    pred = rng.normal(size=(6, 3))
    target = pred + rng.normal(scale=0.7, size=(6, 3))
    huber = variant == "huber"

    def loss_fn(p: dict[str, Array]) -> tuple[float, dict[str, Array]]:
        r = p["pred"] - target
        n = r.size
        if huber:
            a = np.abs(r)
            loss = np.sum(np.where(a <= 1, 0.5 * r * r, a - 0.5)) / n
            # the bug: the quadratic branch's gradient everywhere
            grad = r / n if bug == "huber_branch" else np.where(a <= 1, r, np.sign(r)) / n
            return float(loss), {"pred": grad}
        loss = np.sum(r * r) / n
        grad = r / n if bug == "mse_no_2" else 2 * r / n
        return float(loss), {"pred": grad}

    return gradcheck.check_loss(loss_fn, {"pred": pred})


def logistic_loss(bug: str | None, variant: str | None) -> gradcheck.CheckResult:
    """Binary cross-entropy with logits z (N,) against labels in {0, 1}."""
    rng = np.random.default_rng(21)
    z = rng.normal(size=8)
    y = (rng.random(8) < 0.5).astype(float)

    def loss_fn(p: dict[str, Array]) -> tuple[float, dict[str, Array]]:
        s = _sigmoid(p["z"])
        loss = -np.mean(y * np.log(s) + (1 - y) * np.log(1 - s))
        dz = (y - s) / len(z) if bug == "sign" else (s - y) / len(z)
        return float(loss), {"z": dz}

    return gradcheck.check_loss(loss_fn, {"z": z})


def svm_loss(bug: str | None, variant: str | None) -> gradcheck.CheckResult:
    """Multiclass hinge loss on scores (N, C), margin 1, averaged over the batch."""
    rng = np.random.default_rng(22)
    N, C = 5, 4
    scores = rng.normal(scale=1.5, size=(N, C))
    y = rng.integers(0, C, size=N)

    def loss_fn(p: dict[str, Array]) -> tuple[float, dict[str, Array]]:
        s = p["scores"]
        margins = np.maximum(0, s - s[np.arange(N), y][:, None] + 1)
        margins[np.arange(N), y] = 0
        loss = margins.sum() / N
        ds = (margins > 0).astype(float)
        if bug == "count":
            ds[np.arange(N), y] -= 1  # one, instead of the number of positive margins
        else:
            ds[np.arange(N), y] -= ds.sum(axis=1)
        return float(loss), {"scores": ds / N}

    return gradcheck.check_loss(loss_fn, {"scores": scores})


def nce_loss(bug: str | None, variant: str | None) -> gradcheck.CheckResult:
    """Negative sampling: logistic loss of the true word and K shared sampled words (repeats)."""
    rng = np.random.default_rng(23)
    N, D, V = 3, 4, 10
    h = rng.normal(size=(N, D))
    W, b = 0.5 * rng.normal(size=(V, D)), 0.5 * rng.normal(size=V)
    target = np.array([1, 4, 7])
    neg = np.array([2, 9, 2, 5])  # word 2 sampled twice

    def loss_fn(p: dict[str, Array]) -> tuple[float, dict[str, Array]]:
        W, b, h = p["W"], p["b"], p["h"]
        pos = np.sum(h * W[target], axis=1) + b[target]
        sneg = h @ W[neg].T + b[neg]
        loss = -np.sum(np.log(_sigmoid(pos))) - np.sum(np.log(_sigmoid(-sneg)))
        gpos = _sigmoid(pos) - 1  # (N,)
        gneg = _sigmoid(sneg)  # (N, K)
        dW, db = np.zeros_like(W), np.zeros_like(b)
        np.add.at(dW, target, gpos[:, None] * h)
        np.add.at(db, target, gpos)
        if bug == "buffered":
            dW[neg] += gneg.T @ h
            db[neg] += gneg.sum(axis=0)
        else:
            np.add.at(dW, neg, gneg.T @ h)
            np.add.at(db, neg, gneg.sum(axis=0))
        dh = gpos[:, None] * W[target] + gneg @ W[neg]
        return float(loss), {"W": dW, "b": db, "h": dh}

    return gradcheck.check_loss(loss_fn, {"W": W, "b": b, "h": h})


# ---- recurrent, column-vector convention --------------------------------------------------------


def rnn(bug: str | None, variant: str | None) -> gradcheck.CheckResult:
    """Vanilla RNN, h_t = tanh(Wxh x_t + Whh h_{t-1} + bh), states (H, N), bias (H, 1)."""
    rng = np.random.default_rng(24)
    T, D, H, N = 4, 3, 4, 2
    x = rng.normal(size=(T, D, N))
    h0 = 0.5 * rng.normal(size=(H, N))
    Wxh, Whh = rng.normal(size=(H, D)) / np.sqrt(D), rng.normal(size=(H, H)) / np.sqrt(H)
    bh = 0.1 * rng.normal(size=(H, 1))

    def forward(x: Array, h0: Array, Wxh: Array, Whh: Array, bh: Array) -> tuple[Array, Any]:
        hs = [h0]
        for t in range(T):
            hs.append(np.tanh(Wxh @ x[t] + Whh @ hs[-1] + bh))
        return np.stack(hs[1:]), (x, hs, Wxh, Whh)

    def backward(dhs: Array, cache: Any) -> tuple[Array, ...]:
        x, hs, Wxh, Whh = cache
        dx, dWxh, dWhh = np.zeros_like(x), np.zeros_like(Wxh), np.zeros_like(Whh)
        dbh = np.zeros((H, 1))
        dh_next = np.zeros((H, N))
        for t in reversed(range(T)):
            dh = dhs[t] if bug == "no_carry" else dhs[t] + dh_next
            h = hs[t + 1]
            da = dh * (1 - h) if bug == "tanh_deriv" else dh * (1 - h * h)
            dx[t] = Wxh.T @ da
            if bug != "dWxh_last" or t == T - 1:
                dWxh += da @ x[t].T
            dWhh += da @ hs[t].T
            dbh += da.sum(axis=1, keepdims=True)
            dh_next = Whh.T @ da
        dh0 = np.zeros_like(dh_next) if bug == "dh0_zero" else dh_next
        return dx, dh0, dWxh, dWhh, dbh

    inputs = {"x": x, "h0": h0, "Wxh": Wxh, "Whh": Whh, "bh": bh}
    notes = {"x": {"axes": ["time", "input", "batch"]}}
    return gradcheck.check_layer(forward, backward, inputs, annotations=notes)


def gated_unit(bug: str | None, variant: str | None) -> gradcheck.CheckResult:
    """y = sigmoid(Wg x + bg) * tanh(Wc x + bc), one matrix per gate, x (D, N), biases (H, 1)."""
    rng = np.random.default_rng(25)
    D, H, N = 3, 4, 5
    x = rng.normal(size=(D, N))
    Wg, Wc = rng.normal(size=(H, D)), rng.normal(size=(H, D))
    bg, bc = rng.normal(size=(H, 1)), rng.normal(size=(H, 1))

    def forward(x: Array, Wg: Array, bg: Array, Wc: Array, bc: Array) -> tuple[Array, Any]:
        g = _sigmoid(Wg @ x + bg)
        c = np.tanh(Wc @ x + bc)
        return g * c, (x, g, c, Wg, Wc)

    def backward(dy: Array, cache: Any) -> tuple[Array, ...]:
        x, g, c, Wg, Wc = cache
        # the second bug: the sigmoid derivative written as sigmoid(z)
        dsig = g if bug == "bias_copied_and_sigmoid" else g * (1 - g)
        dg_pre = dy * c * dsig
        dc_pre = dy * g * (1 - c * c)
        dWg, dbg = dg_pre @ x.T, dg_pre.sum(axis=1, keepdims=True)
        dWc = dc_pre @ x.T
        if bug in ("bias_copied", "bias_copied_and_sigmoid"):
            dbc = dg_pre.sum(axis=1, keepdims=True)  # the line above, copied
        else:
            dbc = dc_pre.sum(axis=1, keepdims=True)
        dx = Wg.T @ dg_pre + Wc.T @ dc_pre
        return dx, dWg, dbg, dWc, dbc

    inputs = {"x": x, "Wg": Wg, "bg": bg, "Wc": Wc, "bc": bc}
    return gradcheck.check_layer(forward, backward, inputs)


# ---- affine -------------------------------------------------------------------------------------


def affine(bug: str | None, variant: str | None) -> gradcheck.CheckResult:
    """out = x W + b with x (N, D), W (D, M), b (M,), N = D = M = 4 (square arrays)."""
    rng = np.random.default_rng(26)
    x, W, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4)), rng.normal(size=4)

    def forward(x: Array, W: Array, b: Array) -> tuple[Array, Any]:
        return x @ W + b, (x, W)

    def backward(dout: Array, cache: Any) -> tuple[Array, Array, Array]:
        x, W = cache
        dW = dout.T @ x if bug == "dW_transposed" else x.T @ dout
        db = dout.sum(axis=1) if bug == "db_axis" else dout.sum(axis=0)
        return dout @ W.T, dW, db

    return gradcheck.check_layer(forward, backward, {"x": x, "W": W, "b": b})


def regularised_affine(bug: str | None, variant: str | None) -> gradcheck.CheckResult:
    """A linear classifier's loss with an L2 penalty 0.5 * 0.01 * |W|^2 on W (D, C)."""
    rng = np.random.default_rng(27)
    N, D, C = 8, 5, 3
    x, y = rng.normal(size=(N, D)), rng.integers(0, C, size=N)
    W, b = 0.1 * rng.normal(size=(D, C)), np.zeros(C)
    lam = 0.01

    def loss_fn(p: dict[str, Array]) -> tuple[float, dict[str, Array]]:
        W, b = p["W"], p["b"]
        prob = _softmax(x @ W + b)
        loss = -np.mean(np.log(prob[np.arange(N), y])) + 0.5 * lam * np.sum(W * W)
        ds = prob.copy()
        ds[np.arange(N), y] -= 1
        ds /= N
        dW = x.T @ ds
        if bug != "reg_forgotten":
            dW += lam * W
        return float(loss), {"W": dW, "b": ds.sum(axis=0)}

    return gradcheck.check_loss(loss_fn, {"W": W, "b": b})


def _case(
    runner: Callable[[str | None, str | None], gradcheck.CheckResult],
    bug: str,
    accepted: tuple[str, ...],
    note: str,
    family: str,
    variant: str | None = None,
) -> Case:
    name = f"{runner.__name__}.{bug}"
    return Case(name, family, runner, bug, frozenset(accepted), note, variant)


CASES: tuple[Case, ...] = (
    _case(batchnorm, "dx_no_stats", ("missing_term",), "mean and variance as constants", "norm"),
    _case(batchnorm, "dbeta_mean", ("constant_ratio",), "dbeta averaged, not summed", "norm"),
    _case(batchnorm, "dgamma_x", ("wrong_input",), "dgamma from x instead of xhat", "norm"),
    _case(batchnorm, "dvar_sign", ("missing_term",), "+0.5 in dvar", "norm"),
    _case(batchnorm, "unbiased", ("missing_term",), "N - 1 in the variance term", "norm"),
    _case(
        batchnorm,
        "eps_backward",
        ("missing_term",),
        "eps left out of backward",
        "norm",
        "small_var",
    ),
    _case(layernorm, "stats_axis", ("missing_term",), "batch-norm axis reused", "norm"),
    _case(layernorm, "dgamma_no_xhat", ("wrong_input",), "dgamma = dbeta's line", "norm"),
    _case(attention, "no_scale", ("constant_ratio",), "1/sqrt(d) left out", "attention"),
    _case(attention, "softmax_diag", ("missing_term",), "softmax Jacobian's diagonal", "attention"),
    _case(attention, "dv_no_transpose", ("wrong_input",), "P @ dout for dV", "attention"),
    _case(attention, "dk_no_transpose", ("wrong_input",), "ds @ q for dK", "attention"),
    _case(attention, "order", ("wrong_input", "swapped_blocks"), "dk, dq returned", "attention"),
    _case(
        attention,
        "mask_recompute",
        ("missing_term", "unmasked"),
        "mask not re-applied",
        "mask",
        "causal",
    ),
    _case(conv1d, "dw_flipped", ("reversed",), "kernel flipped in dw", "conv"),
    _case(conv1d, "db_mean", ("constant_ratio",), "db averaged", "conv"),
    _case(
        conv1d,
        "last_position",
        ("time_range", "missing_term", "block", "wrong_elements"),
        "loop stops one position early",
        "conv",
    ),
    _case(conv1d, "dw_sign", ("constant_ratio",), "-= in dw", "conv"),
    _case(conv1d, "dx_crop", (), "padding cropped at the wrong offset", "conv"),
    _case(conv2d, "dw_flipped", ("reversed",), "kernel rotated 180 degrees in dw", "conv"),
    _case(conv2d, "dw_overwrite", ("time_range", "missing_term"), "dw[f] = ... not +=", "conv"),
    _case(
        embedding,
        "buffered",
        ("block", "wrong_elements", "missing_term"),
        "dW[ids] += dout with repeated ids",
        "embedding",
    ),
    _case(
        embedding,
        "assign",
        ("block", "wrong_elements", "missing_term"),
        "dW[ids] = dout with repeated ids",
        "embedding",
    ),
    _case(
        embedding,
        "padding",
        ("unmasked", "block", "wrong_elements"),
        "padding row gets gradient",
        "mask",
        "padding",
    ),
    _case(embedding, "scale", ("constant_ratio",), "sqrt(D) left out", "embedding", "scaled"),
    _case(dropout, "no_mask", ("unmasked",), "mask left out of backward", "mask"),
    _case(dropout, "no_scale", ("constant_ratio",), "1/keep left out of backward", "mask"),
    _case(relu, "no_mask", ("unmasked",), "dx = dout", "mask"),
    _case(
        relu,
        "leaky_as_relu",
        ("missing_term", "wrong_elements"),
        "leak slope missing in backward",
        "mask",
        "leaky",
    ),
    _case(sequence_loss, "no_mask", ("unmasked",), "padded steps get gradient", "mask"),
    _case(sequence_loss, "mean_over_all", ("constant_ratio",), "divided by N*T, not count", "loss"),
    _case(classification_loss, "not_averaged", ("constant_ratio",), "no 1/N", "loss"),
    _case(
        classification_loss,
        "smoothing_ignored",
        ("missing_term",),
        "one-hot target",
        "loss",
        "smoothed",
    ),
    _case(
        classification_loss,
        "weights_ignored",
        ("missing_term", "block"),
        "class weights left out",
        "loss",
        "weighted",
    ),
    _case(regression_loss, "mse_no_2", ("constant_ratio",), "factor 2 missing", "loss"),
    _case(
        regression_loss,
        "huber_branch",
        ("wrong_elements", "missing_term", "block"),
        "quadratic branch everywhere",
        "loss",
        "huber",
    ),
    _case(logistic_loss, "sign", ("constant_ratio",), "y - p instead of p - y", "loss"),
    _case(
        svm_loss,
        "count",
        ("wrong_elements", "missing_term", "block"),
        "-1 instead of -count",
        "loss",
    ),
    _case(
        nce_loss,
        "buffered",
        ("wrong_elements", "block", "missing_term"),
        "db[neg] += with a repeated sample",
        "loss",
    ),
    _case(rnn, "no_carry", ("missing_term", "time_range"), "dh_next dropped", "recurrent"),
    _case(rnn, "dWxh_last", ("time_range", "missing_term"), "dWxh from last step", "recurrent"),
    _case(rnn, "dh0_zero", ("all_zero",), "zeros for dh0", "recurrent"),
    _case(rnn, "tanh_deriv", ("missing_term",), "1 - h for tanh'", "recurrent"),
    _case(gated_unit, "bias_copied", ("wrong_input", "block"), "dbc from dg_pre", "recurrent"),
    _case(
        gated_unit,
        "bias_copied_and_sigmoid",
        ("wrong_input", "missing_term", "block"),
        "dbc copied, sigmoid' as sigmoid",
        "recurrent",
    ),
    _case(affine, "dW_transposed", ("transposed",), "dout.T @ x", "affine"),
    _case(affine, "db_axis", (), "db summed over the wrong axis (N == M)", "affine"),
    _case(regularised_affine, "reg_forgotten", ("missing_term",), "L2 term left out", "affine"),
)
