"""Layers written as users write them, for ``bench/user_layers.py``.

Hand-written numpy layers in the style of course code (cs231n): a forward pass returning a
cache, a backward pass, each with one realistic bug. They were written against gradcheck's
public API only, to try the checker on code its authors did not shape to it, and their
backward passes were verified against long-double central differences, not with gradcheck.

Every spec: ``make(seed, dtype)`` -> dict of inputs (forward's positional order), ``wrt``
(names checked), ``forward``/``backward`` (correct), ``bug`` (buggy backward),
``cot(seed, dtype, inputs)`` -> cotangent or None (the library's), ``complex_ok``.
check_grad-style specs have ``kind="grad"``: ``fn``, ``grad``, ``bug``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

erf = np.vectorize(math.erf, otypes=[float])


@dataclass(frozen=True)
class Spec:
    """A layer: its inputs, its correct and buggy backward passes, its cotangents."""

    name: str
    make: Callable[..., Any]
    forward: Callable[..., Any] | None = None
    backward: Callable[..., Any] | None = None
    bug: Callable[..., Any] | None = None
    wrt: list[str] | None = None
    cot: Callable[..., Any] | None = None
    complex_ok: bool = True
    kind: str = "layer"
    fn: Callable[..., Any] | None = None
    grad: Callable[..., Any] | None = None
    note: str = ""


def _randn_cot(out_shape_fn):
    def cot(seed, dtype, inputs):
        if seed % 2 == 0:
            return None  # library default cotangent
        rng = np.random.RandomState(1000 + seed)
        return rng.randn(*out_shape_fn(inputs)).astype(dtype)

    return cot


# ---------------------------------------------------------------- layer norm
def ln_forward(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = (xc**2).mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd
    out = gamma * xhat + beta
    return out, (xhat, rstd, gamma)


def ln_backward(dout, cache):
    xhat, rstd, gamma = cache
    dgamma = (dout * xhat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dxhat = dout * gamma
    dx = rstd * (
        dxhat - dxhat.mean(-1, keepdims=True) - xhat * (dxhat * xhat).mean(-1, keepdims=True)
    )
    return dx, dgamma, dbeta


def ln_backward_bug(dout, cache):  # forgot the xhat * mean(dxhat * xhat) term
    xhat, rstd, gamma = cache
    dgamma = (dout * xhat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dxhat = dout * gamma
    dx = rstd * (dxhat - dxhat.mean(-1, keepdims=True))
    return dx, dgamma, dbeta


def ln_make(seed, dtype):
    rng = np.random.RandomState(seed)
    N, D = 4, 6
    x = rng.randn(N, D) * 2 + 1
    if seed % 2 == 0:
        gamma, beta = np.ones(D), np.zeros(D)
    else:
        gamma, beta = rng.randn(D), rng.randn(D) * 0.1
    return {"x": x.astype(dtype), "gamma": gamma.astype(dtype), "beta": beta.astype(dtype)}


LAYERNORM = Spec(
    "layernorm",
    ln_make,
    ln_forward,
    ln_backward,
    ln_backward_bug,
    cot=_randn_cot(lambda i: i["x"].shape),
)
LAYERNORM_ONES = Spec(
    "layernorm_onescot",
    ln_make,
    ln_forward,
    ln_backward,
    None,
    cot=lambda s, dt, i: np.ones(i["x"].shape, dtype=dt),
    note="cotangent = ones (true dx == 0)",
)


# ---------------------------------------------------------------- embedding
def emb_forward(W, ids):
    out = W[ids]
    return out, (ids, W.shape)


def emb_backward(dout, cache):
    ids, shape = cache
    dW = np.zeros(shape)  # cs231n style: float64 regardless of W's dtype
    np.add.at(dW, ids, dout)
    return dW, None


def emb_backward_bug(dout, cache):
    ids, shape = cache
    dW = np.zeros(shape)
    dW[ids] = dout  # fancy assignment: repeated ids keep only the last write
    return dW, None


def emb_make(seed, dtype):
    rng = np.random.RandomState(seed)
    V, D, N, T = 8, 4, 3, 5
    W = rng.randn(V, D) * (0.01 if seed % 2 else 1.0)
    ids = rng.randint(0, V, size=(N, T))
    ids[1, 2] = ids[0, 0]  # at least one repeat
    return {"W": W.astype(dtype), "ids": ids}


EMBEDDING = Spec(
    "embedding",
    emb_make,
    emb_forward,
    emb_backward,
    emb_backward_bug,
    wrt=["W"],
    cot=_randn_cot(lambda i: i["ids"].shape + (i["W"].shape[1],)),
)


# ---------------------------------------------------------------- attention
def make_attn(fill):
    def attn_forward(q, k, v, mask):
        d = q.shape[-1]
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(d)
        scores = np.where(mask[:, None, :], scores, fill)
        scores = scores - scores.max(axis=-1, keepdims=True)
        p = np.exp(scores)
        p = p / p.sum(axis=-1, keepdims=True)
        out = p @ v
        return out, (q, k, v, mask, p)

    def attn_backward(dout, cache):
        q, k, v, mask, p = cache
        d = q.shape[-1]
        dv = p.transpose(0, 2, 1) @ dout
        dp = dout @ v.transpose(0, 2, 1)
        ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
        ds = np.where(mask[:, None, :], ds, 0.0)
        ds = ds / np.sqrt(d)
        dq = ds @ k
        dk = ds.transpose(0, 2, 1) @ q
        return dq, dk, dv, None

    def attn_backward_bug(dout, cache):  # recomputes softmax in backward, forgets the mask
        q, k, v, mask, _ = cache
        d = q.shape[-1]
        s = q @ k.transpose(0, 2, 1) / np.sqrt(d)
        s = s - s.max(axis=-1, keepdims=True)
        p = np.exp(s)
        p = p / p.sum(axis=-1, keepdims=True)
        dv = p.transpose(0, 2, 1) @ dout
        dp = dout @ v.transpose(0, 2, 1)
        ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True)) / np.sqrt(d)
        return ds @ k, ds.transpose(0, 2, 1) @ q, dv, None

    return attn_forward, attn_backward, attn_backward_bug


def attn_make(seed, dtype):
    rng = np.random.RandomState(seed)
    B, Tq, Tk, d = 2, 3, 5, 4
    q, k, v = rng.randn(B, Tq, d), rng.randn(B, Tk, d), rng.randn(B, Tk, d)
    lengths = np.array([Tk, 3])
    mask = np.arange(Tk)[None, :] < lengths[:, None]
    return {"q": q.astype(dtype), "k": k.astype(dtype), "v": v.astype(dtype), "mask": mask}


_f, _b, _bb = make_attn(-1e9)
ATTENTION = Spec(
    "attention_1e9",
    attn_make,
    _f,
    _b,
    _bb,
    wrt=["q", "k", "v"],
    note="np.sqrt(d) upcasts float32 to float64",
)
_f2, _b2, _bb2 = make_attn(-np.inf)
ATTENTION_INF = Spec(
    "attention_inf",
    attn_make,
    _f2,
    _b2,
    _bb2,
    wrt=["q", "k", "v"],
    cot=_randn_cot(lambda i: i["q"].shape[:2] + (i["v"].shape[2],)),
)


# ---------------------------------------------------------------- conv1d
def conv_forward(x, w, b):
    N, C, L = x.shape
    F, _, K = w.shape
    Lout = L - K + 1
    cols = []
    for i in range(Lout):
        cols.append(np.einsum("nck,fck->nf", x[:, :, i : i + K], w) + b)
    out = np.stack(cols, axis=-1)
    return out, (x, w)


def conv_backward(dout, cache):
    x, w = cache
    K = w.shape[2]
    Lout = dout.shape[2]
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2))
    for i in range(Lout):
        dx[:, :, i : i + K] += np.einsum("nf,fck->nck", dout[:, :, i], w)
        dw += np.einsum("nf,nck->fck", dout[:, :, i], x[:, :, i : i + K])
    return dx, dw, db


def conv_backward_bug(dout, cache):  # off-by-one: dw loop misses the last output position
    x, w = cache
    K = w.shape[2]
    Lout = dout.shape[2]
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2))
    for i in range(Lout):
        dx[:, :, i : i + K] += np.einsum("nf,fck->nck", dout[:, :, i], w)
    for i in range(Lout - 1):
        dw += np.einsum("nf,nck->fck", dout[:, :, i], x[:, :, i : i + K])
    return dx, dw, db


def conv_backward_bug_db(dout, cache):  # one bias element scaled by 1.01
    dx, dw, db = conv_backward(dout, cache)
    db = db.copy()
    db[1] *= 1.01
    return dx, dw, db


def conv_make(seed, dtype, zero_w=False):
    rng = np.random.RandomState(seed)
    N, C, L, F, K = 2, 3, 8, 4, 3
    x = rng.randn(N, C, L)
    w = np.zeros((F, C, K)) if zero_w else rng.randn(F, C, K) / np.sqrt(C * K)
    b = np.zeros(F)
    return {"x": x.astype(dtype), "w": w.astype(dtype), "b": b.astype(dtype)}


CONV = Spec(
    "conv1d",
    conv_make,
    conv_forward,
    conv_backward,
    conv_backward_bug,
    cot=_randn_cot(lambda i: (2, 4, 6)),
)
CONV_DB = Spec(
    "conv1d_db1.01",
    conv_make,
    conv_forward,
    conv_backward,
    conv_backward_bug_db,
    cot=_randn_cot(lambda i: (2, 4, 6)),
)
CONV_ZERO = Spec(
    "conv1d_zeroW",
    lambda s, dt: conv_make(s, dt, zero_w=True),
    conv_forward,
    conv_backward,
    None,
    cot=_randn_cot(lambda i: (2, 4, 6)),
)


# ---------------------------------------------------------------- GRU, 5 steps
def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def gru_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    H = h0.shape[1]
    h = h0
    hs, steps = [], []
    for t in range(T):
        ax = x[:, t, :] @ Wx + b
        ah = h @ Wh
        r = sigmoid(ax[:, :H] + ah[:, :H])
        z = sigmoid(ax[:, H : 2 * H] + ah[:, H : 2 * H])
        n = np.tanh(ax[:, 2 * H :] + r * ah[:, 2 * H :])
        h_new = (1 - z) * n + z * h
        steps.append((x[:, t, :], h, r, z, n, ah[:, 2 * H :]))
        h = h_new
        hs.append(h)
    return np.stack(hs, axis=1), (steps, Wx, Wh)


def _gru_backward(dout, cache, carry=True):
    steps, Wx, Wh = cache
    N, T, H = dout.shape
    D = Wx.shape[0]
    dx = np.zeros((N, T, D), dtype=dout.dtype)
    dWx, dWh = np.zeros_like(Wx), np.zeros_like(Wh)
    db = np.zeros(3 * H, dtype=Wx.dtype)
    dh = np.zeros((N, H), dtype=dout.dtype)
    for t in reversed(range(T)):
        xt, hprev, r, z, n, ahn = steps[t]
        dh = dh + dout[:, t, :]
        dn = dh * (1 - z)
        dz = dh * (hprev - n)
        dhprev = dh * z if carry else np.zeros_like(dh)
        dan = dn * (1 - n**2)
        dr = dan * ahn
        dahn = dan * r
        dar = dr * r * (1 - r)
        daz = dz * z * (1 - z)
        dax = np.concatenate([dar, daz, dan], axis=1)
        dah = np.concatenate([dar, daz, dahn], axis=1)
        dx[:, t, :] = dax @ Wx.T
        dWx += xt.T @ dax
        db += dax.sum(axis=0)
        dWh += hprev.T @ dah
        dhprev = dhprev + dah @ Wh.T
        dh = dhprev
    return dx, dh, dWx, dWh, db


def gru_backward(dout, cache):
    return _gru_backward(dout, cache, True)


def gru_backward_bug(dout, cache):  # dropped the direct z * dh carry into h_{t-1}
    return _gru_backward(dout, cache, False)


def gru_make(seed, dtype):
    rng = np.random.RandomState(seed)
    N, T, D, H = 2, 5, 3, 4
    x = rng.randn(N, T, D)
    h0 = np.zeros((N, H))
    Wx = rng.randn(D, 3 * H) / np.sqrt(D)
    Wh = rng.randn(H, 3 * H) / np.sqrt(H)
    b = np.zeros(3 * H)
    return {k: v.astype(dtype) for k, v in dict(x=x, h0=h0, Wx=Wx, Wh=Wh, b=b).items()}


GRU = Spec(
    "gru5",
    gru_make,
    gru_forward,
    gru_backward,
    gru_backward_bug,
    cot=_randn_cot(lambda i: (2, 5, 4)),
)


# ---------------------------------------------------------------- vanilla RNN, 5 steps
def rnn_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    h = h0
    hs, caches = [], []
    for t in range(T):
        h_new = np.tanh(x[:, t, :] @ Wx + h @ Wh + b)
        caches.append((x[:, t, :], h, h_new))
        h = h_new
        hs.append(h)
    return np.stack(hs, axis=1), (caches, Wx, Wh)


def _rnn_backward(dout, cache, transpose_bug=False):
    caches, Wx, Wh = cache
    N, T, H = dout.shape
    dx = np.zeros((N, T, Wx.shape[0]), dtype=dout.dtype)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H, dtype=Wx.dtype)
    dh = np.zeros((N, H), dtype=dout.dtype)
    for t in reversed(range(T)):
        xt, hprev, hn = caches[t]
        da = (dh + dout[:, t, :]) * (1 - hn**2)
        dx[:, t, :] = da @ Wx.T
        dWx += xt.T @ da
        dWh += (da.T @ hprev) if transpose_bug else (hprev.T @ da)
        db += da.sum(axis=0)
        dh = da @ Wh.T
    return dx, dh, dWx, dWh, db


RNN = Spec(
    "rnn5",
    lambda s, dt: _rnn_make(s, dt),
    rnn_forward,
    lambda d, c: _rnn_backward(d, c),
    lambda d, c: _rnn_backward(d, c, True),
    cot=_randn_cot(lambda i: (3, 5, 4)),
)


def _rnn_make(seed, dtype):
    rng = np.random.RandomState(seed)
    N, T, D, H = 3, 5, 3, 4
    d = dict(
        x=rng.randn(N, T, D),
        h0=rng.randn(N, H) * 0.1,
        Wx=rng.randn(D, H) / np.sqrt(D),
        Wh=rng.randn(H, H) / np.sqrt(H),
        b=np.zeros(H),
    )
    return {k: v.astype(dtype) for k, v in d.items()}


# ---------------------------------------------------------------- softmax CE + label smoothing
def sce_loss(logits, y, smoothing=0.1):
    N, C = logits.shape
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    q = np.full((N, C), smoothing / C)
    q[np.arange(N), y] += 1 - smoothing
    return -(q * logp).sum() / N


def sce_grad(logits, y, smoothing=0.1):
    N, C = logits.shape
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    q = np.full((N, C), smoothing / C)
    q[np.arange(N), y] += 1 - smoothing
    return (p - q) / N, None


def sce_grad_bug(logits, y, smoothing=0.1):  # forgot smoothing in the gradient (plain one-hot)
    N, C = logits.shape
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(N), y] -= 1
    return p / N, None


def sce_make(seed, dtype):
    rng = np.random.RandomState(seed)
    N, C = 5, 4
    logits = rng.randn(N, C) * (5.0 if seed % 2 else 1.0)
    y = rng.randint(0, C, size=N)
    return {"logits": logits.astype(dtype), "y": y}


SCE = Spec(
    "softmax_ce_ls",
    sce_make,
    kind="grad",
    fn=sce_loss,
    grad=sce_grad,
    bug=sce_grad_bug,
    wrt=["logits"],
)


# ---------------------------------------------------------------- dropout with a fixed mask
P_KEEP = 0.8


def dropout_forward(x, mask):
    out = x * mask / P_KEEP
    return out, mask


def dropout_backward(dout, mask):
    return dout * mask / P_KEEP, None


def dropout_backward_bug(dout, mask):  # forgot the 1/p_keep scale
    return dout * mask, None


def dropout_make(seed, dtype):
    rng = np.random.RandomState(seed)
    x = rng.randn(4, 6)
    mask = rng.rand(4, 6) < P_KEEP
    return {"x": x.astype(dtype), "mask": mask}


DROPOUT = Spec(
    "dropout",
    dropout_make,
    dropout_forward,
    dropout_backward,
    dropout_backward_bug,
    wrt=["x"],
    cot=_randn_cot(lambda i: i["x"].shape),
)


# ---------------------------------------------------------------- max-pool 1-D (k=3, stride 2)
KP, SP = 3, 2


def mp_forward(x):
    N, C, L = x.shape
    Lout = (L - KP) // SP + 1
    out = np.zeros((N, C, Lout), dtype=x.dtype)
    arg = np.zeros((N, C, Lout), dtype=int)
    for i in range(Lout):
        win = x[:, :, i * SP : i * SP + KP]
        out[:, :, i] = win.max(axis=-1)
        arg[:, :, i] = win.argmax(axis=-1) + i * SP
    return out, (x.shape, arg)


def mp_backward(dout, cache):
    shape, arg = cache
    N, C, Lout = dout.shape
    dx = np.zeros(shape, dtype=dout.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(Lout):
                dx[n, c, arg[n, c, i]] += dout[n, c, i]
    return (dx,)


def mp_backward_bug(dout, cache):  # vectorized assignment: overlapping windows overwrite
    shape, arg = cache
    N, C, Lout = dout.shape
    dx = np.zeros(shape, dtype=dout.dtype)
    nn, cc = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
    for i in range(Lout):
        dx[nn, cc, arg[:, :, i]] = dout[:, :, i]
    return (dx,)


def mp_make(seed, dtype, relu=False):
    rng = np.random.RandomState(seed)
    x = rng.randn(2, 3, 9)
    if relu:
        x = np.maximum(x, 0)
    return {"x": x.astype(dtype)}


MAXPOOL = Spec(
    "maxpool1d",
    mp_make,
    mp_forward,
    mp_backward,
    mp_backward_bug,
    complex_ok=False,
    cot=_randn_cot(lambda i: (2, 3, 4)),
)
MAXPOOL_RELU = Spec(
    "maxpool1d_relu_ties",
    lambda s, dt: mp_make(s, dt, True),
    mp_forward,
    mp_backward,
    mp_backward_bug,
    complex_ok=False,
    cot=_randn_cot(lambda i: (2, 3, 4)),
)


# ---------------------------------------------------------------- GELU (tanh approximation)
GC = math.sqrt(2 / math.pi)


def gelu_forward(x):
    u = GC * (x + 0.044715 * x**3)
    t = np.tanh(u)
    return 0.5 * x * (1 + t), (x, t)


def gelu_backward(dout, cache):
    x, t = cache
    du = GC * (1 + 3 * 0.044715 * x**2)
    return (dout * (0.5 * (1 + t) + 0.5 * x * (1 - t**2) * du),)


def gelu_backward_bug(dout, cache):  # derivative of the exact (erf) GELU, not of the tanh approx
    x, t = cache
    phi = np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
    Phi = 0.5 * (1 + erf(x / math.sqrt(2)))
    return ((dout * (Phi + x * phi)).astype(x.dtype),)


def gelu_make(seed, dtype):
    rng = np.random.RandomState(seed)
    return {"x": (rng.randn(4, 6) * 2).astype(dtype)}


GELU = Spec(
    "gelu_tanh",
    gelu_make,
    gelu_forward,
    gelu_backward,
    gelu_backward_bug,
    cot=_randn_cot(lambda i: i["x"].shape),
)


def gelu_backward_bug2(dout, cache):  # one element scaled by 1.01
    (dx,) = gelu_backward(dout, cache)
    dx = dx.copy()
    dx[1, 2] *= 1.01
    return (dx,)


GELU_101 = Spec(
    "gelu_1.01",
    gelu_make,
    gelu_forward,
    gelu_backward,
    gelu_backward_bug2,
    cot=_randn_cot(lambda i: i["x"].shape),
)


# ---------------------------------------------------------------- zero-init linear + layer norm
def linln_forward(x, W, b, gamma, beta):
    h = x @ W + b
    out, ln_cache = ln_forward(h, gamma, beta)
    return out, (x, W, ln_cache)


def linln_backward(dout, cache):
    x, W, ln_cache = cache
    dh, dgamma, dbeta = ln_backward(dout, ln_cache)
    return dh @ W.T, x.T @ dh, dh.sum(axis=0), dgamma, dbeta


def linln_backward_bug(dout, cache):  # layer-norm backward forgot the mean term in dh
    x, W, (xhat, rstd, gamma) = cache
    dxhat = dout * gamma
    dh = rstd * (dxhat - xhat * (dxhat * xhat).mean(-1, keepdims=True))
    return dh @ W.T, x.T @ dh, dh.sum(axis=0), (dout * xhat).sum(0), dout.sum(0)


def linln_make(seed, dtype):
    rng = np.random.RandomState(seed)
    N, D, H = 4, 3, 5
    d = dict(
        x=rng.randn(N, D), W=np.zeros((D, H)), b=np.zeros(H), gamma=np.ones(H), beta=np.zeros(H)
    )
    return {k: v.astype(dtype) for k, v in d.items()}


LINLN_ZERO = Spec(
    "linear0_layernorm",
    linln_make,
    linln_forward,
    linln_backward,
    linln_backward_bug,
    cot=_randn_cot(lambda i: (4, 5)),
)


# ---------------------------------------------------------------- zero-initialised dense layer
def dense_forward(x, W, b):
    return x @ W + b, (x, W)


def dense_backward(dout, cache):
    x, W = cache
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def dense_backward_bug(dout, cache):  # a row of the batch left out of the bias gradient
    x, W = cache
    return dout @ W.T, x.T @ dout, dout[:-1].sum(axis=0)


def dense0_make(seed, dtype):
    rng = np.random.RandomState(seed)
    d = dict(x=rng.randn(64, 16), W=np.zeros((16, 8)), b=np.zeros(8))
    return {k: v.astype(dtype) for k, v in d.items()}


def _centred_cot(seed, dtype, inputs):  # a normalisation after the layer centres it over the batch
    d = np.random.RandomState(1000 + seed).randn(64, 8)
    return (d - d.mean(axis=0)).astype(dtype)


DENSE0_CENTRED = Spec(
    "dense0_centred_cot",
    dense0_make,
    dense_forward,
    dense_backward,
    dense_backward_bug,
    cot=_centred_cot,
)


# ---------------------------------------------------------------- ReLU after a ReLU
def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, x):
    return (dout * (x > 0),)


def relu_backward_bug(dout, x):  # the mask taken from the cotangent, not the input
    return (dout * (dout > 0),)


def relu_make(seed, dtype):
    rng = np.random.RandomState(seed)
    return {"x": np.maximum(rng.randn(4, 8), 0).astype(dtype)}  # half the inputs exactly 0


RELU = Spec(
    "relu_on_relu",
    relu_make,
    relu_forward,
    relu_backward,
    relu_backward_bug,
    complex_ok=False,
    cot=_randn_cot(lambda i: i["x"].shape),
)


ORDINARY = [
    RELU,
    DENSE0_CENTRED,
    LAYERNORM,
    LAYERNORM_ONES,
    EMBEDDING,
    ATTENTION,
    ATTENTION_INF,
    CONV,
    CONV_DB,
    CONV_ZERO,
    GRU,
    RNN,
    SCE,
    DROPOUT,
    MAXPOOL,
    MAXPOOL_RELU,
    GELU,
    GELU_101,
    LINLN_ZERO,
]


# ---------------------------------------------------------------- harder regimes, larger shapes


def _cast(d, dtype):
    return {k: (v.astype(dtype) if v.dtype.kind == "f" else v) for k, v in d.items()}


def ln_offset(seed, dtype):  # raw, un-normalised features with a large offset
    rng = np.random.RandomState(seed)
    return _cast(dict(x=rng.randn(8, 16) * 0.5 + 50, gamma=np.ones(16), beta=np.zeros(16)), dtype)


def ln_padrows(seed, dtype):  # padded positions are all-zero rows (var = 0)
    rng = np.random.RandomState(seed)
    x = rng.randn(6, 8)
    x[4:] = 0.0
    return _cast(dict(x=x, gamma=rng.randn(8), beta=np.zeros(8)), dtype)


def ln_large(seed, dtype):
    rng = np.random.RandomState(seed)
    return _cast(dict(x=rng.randn(32, 64), gamma=np.ones(64), beta=np.zeros(64)), dtype)


def attn_sat(seed, dtype):  # large logits (no 1/sqrt(d)-friendly scale) + one fully padded row
    rng = np.random.RandomState(seed)
    B, Tq, Tk, d = 3, 3, 5, 4
    q, k, v = rng.randn(B, Tq, d) * 3, rng.randn(B, Tk, d) * 3, rng.randn(B, Tk, d)
    lengths = np.array([Tk, 2, 0])
    mask = np.arange(Tk)[None, :] < lengths[:, None]
    return _cast(dict(q=q, k=k, v=v, mask=mask), dtype)


def attn_large(seed, dtype):
    rng = np.random.RandomState(seed)
    B, T, d = 4, 12, 16
    q, k, v = rng.randn(B, T, d), rng.randn(B, T, d), rng.randn(B, T, d)
    lengths = rng.randint(3, T + 1, size=B)
    mask = np.arange(T)[None, :] < lengths[:, None]
    return _cast(dict(q=q, k=k, v=v, mask=mask), dtype)


def conv_large(seed, dtype):
    rng = np.random.RandomState(seed)
    N, C, Lx, F, K = 4, 8, 32, 16, 5
    return _cast(
        dict(x=rng.randn(N, C, Lx), w=rng.randn(F, C, K) / np.sqrt(C * K), b=np.zeros(F)), dtype
    )


def emb_large(seed, dtype):  # big vocabulary, most rows unused
    rng = np.random.RandomState(seed)
    V, D = 500, 16
    W = rng.randn(V, D) / np.sqrt(D)
    ids = rng.randint(0, 40, size=(8, 20))  # Zipf-ish: only low ids used, many repeats
    return {"W": W.astype(dtype), "ids": ids}


def sce_conf(seed, dtype):
    rng = np.random.RandomState(seed)
    N, C = 16, 10
    y = rng.randint(0, C, size=N)
    logits = rng.randn(N, C) * 3
    logits[np.arange(N), y] += 15  # a trained, confident classifier
    return {"logits": logits.astype(dtype), "y": y}


def gelu_wide(seed, dtype):
    rng = np.random.RandomState(seed)
    return {"x": (rng.randn(8, 16) * 6).astype(dtype)}


def gru_sat(seed, dtype):
    rng = np.random.RandomState(seed)
    N, T, D, H = 2, 5, 3, 4
    d = dict(
        x=rng.randn(N, T, D) * 2,
        h0=rng.randn(N, H) * 0.5,
        Wx=rng.randn(D, 3 * H) * 3 / np.sqrt(D),
        Wh=rng.randn(H, 3 * H) * 3 / np.sqrt(H),
        b=rng.randn(3 * H),
    )
    return _cast(d, dtype)


def gru_large(seed, dtype):
    rng = np.random.RandomState(seed)
    N, T, D, H = 4, 5, 16, 24
    d = dict(
        x=rng.randn(N, T, D),
        h0=np.zeros((N, H)),
        Wx=rng.randn(D, 3 * H) / np.sqrt(D),
        Wh=rng.randn(H, 3 * H) / np.sqrt(H),
        b=np.zeros(3 * H),
    )
    return _cast(d, dtype)


def dropout_large(seed, dtype):
    rng = np.random.RandomState(seed)
    return {"x": rng.randn(32, 64).astype(dtype), "mask": rng.rand(32, 64) < P_KEEP}


def linln_large(seed, dtype):
    rng = np.random.RandomState(seed)
    N, D, H = 16, 32, 48
    d = dict(
        x=rng.randn(N, D), W=np.zeros((D, H)), b=np.zeros(H), gamma=np.ones(H), beta=np.zeros(H)
    )
    return _cast(d, dtype)


def _attn_cot(i):
    return i["q"].shape[:2] + (i["v"].shape[2],)


# each the layer of its base spec (same forward, backward and bug) on other data
HARDER = [
    replace(LAYERNORM, name="ln_offset50", make=ln_offset),
    replace(LAYERNORM, name="ln_padrows", make=ln_padrows),
    replace(LAYERNORM, name="ln_large", make=ln_large),
    replace(ATTENTION, name="attn_sat_len0", make=attn_sat, cot=_randn_cot(_attn_cot)),
    replace(ATTENTION, name="attn_large", make=attn_large, cot=_randn_cot(_attn_cot)),
    replace(CONV, name="conv_large", make=conv_large, cot=_randn_cot(lambda i: (4, 16, 28))),
    replace(EMBEDDING, name="emb_large", make=emb_large),
    replace(SCE, name="sce_confident", make=sce_conf),
    replace(GELU, name="gelu_wide", make=gelu_wide),
    replace(GRU, name="gru_saturated", make=gru_sat),
    replace(GRU, name="gru_large", make=gru_large, cot=_randn_cot(lambda i: (4, 5, 24))),
    replace(DROPOUT, name="dropout_large", make=dropout_large),
    replace(
        LINLN_ZERO, name="linear0_ln_large", make=linln_large, cot=_randn_cot(lambda i: (16, 48))
    ),
]


ALL = ORDINARY + HARDER
BY_NAME = {s.name: s for s in ALL}
