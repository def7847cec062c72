"""One LSTM layer: a single time step and a whole sequence, forward and backward.

Equations (row-vector convention of document 000, packed gate order i, f, o, g)::

    a_t = x_t Wx + h_{t-1} Wh + b                      (N, 4H)
    i, f, o = sigmoid(a_t[:, :H]), sigmoid(a_t[:, H:2H]), sigmoid(a_t[:, 2H:3H])
    g = tanh(a_t[:, 3H:])
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Backward, for one step, with ``dh`` the total gradient reaching ``h_t`` (upstream plus the
carry from step t+1) and ``dc_next`` the carry reaching ``c_t`` from step t+1::

    dc   = dh * ((1 - tanh(c_t) * tanh(c_t)) * o) + dc_next
    da_i = dc * ((1 - i) * i * g)           da_f = dc * ((1 - f) * f * c_{t-1})
    da_o = dh * ((1 - o) * o * tanh(c_t))   da_g = dc * ((1 - g * g) * i)
    dc_{t-1} = dc * f                       dh_{t-1} = da Wh^T

(products evaluated left to right, exactly in this grouping: ``lstm_ref.mutants``
reproduces it), and, summed over all steps in one matrix product each,
``dx = da Wx^T``, ``dWx = x^T da``, ``dWh = h_{t-1}^T da`` and ``db = sum(da)``.

Implementation notes
--------------------
The public functions are batch-first and row-vector, as above. Inside, the recurrence
runs *feature-major* (the column-vector convention of document 001): per step the gate
pre-activations are ``a_t^T = Wh^T h_{t-1}^T + (Wx^T x_t^T + b)``, a (4H, N) block in
which every gate is one contiguous (H, N) slab, so all element-wise work runs on
contiguous memory (numpy is several times slower on the strided column slices of an
(N, 4H) block). The input projection of all T steps is one matrix product
``[Wx; b]^T [x, 1]^T`` of shapes (4H, D+1) @ (D+1, T*N) (the bias rides along as a
column of ones), and the backward pass forms ``dx``, ``[dWx; db]`` and ``dWh`` with one
product each over all steps. The only Python loops are over time steps (and, in the
backward pass, over chunks of steps whose local derivatives are evaluated together).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from ._activations import activate_gates, gate_prescale
from ._errors import ArgumentError
from ._types import Array
from ._validation import check_dims, check_same_dtype, check_shape, float_array
from ._workspace import scratch

__all__ = [
    "LSTMCache",
    "lstm_backward",
    "lstm_forward",
    "lstm_step_backward",
    "lstm_step_forward",
]

# Elements of the (Tc, 4H, N) chunk of local derivatives evaluated at once in the backward
# pass: large enough to amortise numpy's per-call overhead over many small time steps,
# small enough to stay in cache for big layers.
_CHUNK_ELEMENTS = 1 << 15


@dataclass(frozen=True, eq=False)
class LSTMCache:
    """What the forward pass of one LSTM layer keeps for its backward pass.

    Returned by :func:`lstm_forward` and :func:`lstm_step_forward` (a step cache is a
    sequence cache with ``T == 1``). Treat it as opaque and read-only except for the
    documented accessors ``cT`` and ``hT`` and the size properties. The arrays are
    time-major and feature-major (see the module notes).

    Attributes
    ----------
    x_aug : ndarray (T*N, D+1)
        The layer input, time-major rows (row ``t*N + n`` is ``x[n, t]``), followed by a
        column of ones that carries the bias through the input projection.
    Wx : ndarray (D, 4H)
    Wh : ndarray (H, 4H)
        The weights the forward pass used (the caller's arrays, not copies).
    gates : ndarray (T, 4H, N)
        Gate activations of every step; ``gates[t, k*H:(k+1)*H]`` is gate k of i, f, o, g.
    c : ndarray (T+1, H, N)
        Cell states, ``c[0] = c0.T`` and ``c[t+1] = c_t.T``.
    tanh_c : ndarray (T, H, N)
        ``tanh(c_t).T``.
    h : ndarray (T+1, H, N)
        Hidden states, ``h[0] = h0.T`` and ``h[t+1] = h_t.T``.
    """

    x_aug: Array
    Wx: Array
    Wh: Array
    gates: Array
    c: Array
    tanh_c: Array
    h: Array

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of the forward pass."""
        return self.gates.dtype

    @property
    def N(self) -> int:
        """Batch size."""
        return int(self.h.shape[2])

    @property
    def T(self) -> int:
        """Number of time steps."""
        return int(self.gates.shape[0])

    @property
    def D(self) -> int:
        """Input features."""
        return int(self.Wx.shape[0])

    @property
    def H(self) -> int:
        """Hidden units."""
        return int(self.Wh.shape[0])

    @property
    def cT(self) -> Array:
        """Final cell state ``c_T``, shape (N, H), as a read-only view.

        Pass it as ``c0`` to the next chunk of a truncated-BPTT run; the gradient with
        respect to it enters :func:`lstm_backward` as ``dcT``.
        """
        view: Array = self.c[-1].T
        view.flags.writeable = False
        return view

    @property
    def hT(self) -> Array:
        """Final hidden state ``h_T`` (equal to ``h[:, -1]``), shape (N, H), read-only."""
        view: Array = self.h[-1].T
        view.flags.writeable = False
        return view


# ----------------------------------------------------------------------------------------
# Unchecked kernels, shared by the step, sequence and stacked entry points.
# ----------------------------------------------------------------------------------------


def augment(x_tnd: Array) -> Array:
    """Rows (T*N, D+1) of a time-major input (T, N, D), with a last column of ones."""
    T, N, D = x_tnd.shape
    x_aug = np.empty((T * N, D + 1), dtype=x_tnd.dtype)
    x_aug[:, :D].reshape(T, N, D)[...] = x_tnd
    x_aug[:, D] = 1
    return x_aug


def forward_cols(
    x_aug: Array, N: int, T: int, h0T: Array, c0T: Array, Wx: Array, Wh: Array, b: Array
) -> LSTMCache:
    """Forward pass over ``x_aug`` (T*N, D+1); ``h0T``, ``c0T`` are (H, N). No checks."""
    D, H = Wx.shape[0], Wh.shape[0]
    H2, H3 = 2 * H, 3 * H
    dtype = x_aug.dtype
    scale = gate_prescale(H, dtype)
    W_aug = np.empty((D + 1, 4 * H), dtype=dtype)
    np.multiply(Wx, scale, out=W_aug[:D])
    np.multiply(b, scale, out=W_aug[D])
    # Input projection (and bias) of every time step in one product: (4H, T*N).
    projection = np.matmul(W_aug.T, x_aug.T, out=scratch("projection", (4 * H, T * N), dtype))
    WhT_scaled = np.ascontiguousarray((Wh * scale).T)
    # Everything the cache keeps, in one block: one allocation instead of four also lets
    # the allocator reuse the memory of the previous call without new page faults.
    sizes = (T * 4 * H * N, (T + 1) * H * N, (T + 1) * H * N, T * H * N)
    block = np.empty(sum(sizes), dtype=dtype)
    ends = list(itertools.accumulate(sizes))
    gates = block[: ends[0]].reshape(T, 4 * H, N)
    c = block[ends[0] : ends[1]].reshape(T + 1, H, N)
    h = block[ends[1] : ends[2]].reshape(T + 1, H, N)
    tanh_c = block[ends[2] :].reshape(T, H, N)
    c[0] = c0T
    h[0] = h0T
    ig = scratch("ig", (H, N), dtype)
    with np.errstate(over="ignore"):  # exp(-a) -> inf gives sigmoid 0, see _activations
        for t in range(T):
            a = gates[t]
            np.matmul(WhT_scaled, h[t], out=a)
            a += projection[:, t * N : (t + 1) * N]
            activate_gates(a, H)
            c_t = c[t + 1]
            np.multiply(a[H:H2], c[t], out=c_t)  # f * c_{t-1}
            np.multiply(a[:H], a[H3:], out=ig)  # i * g
            c_t += ig
            np.tanh(c_t, out=tanh_c[t])
            np.multiply(a[H2:H3], tanh_c[t], out=h[t + 1])  # o * tanh(c_t)
    return LSTMCache(x_aug=x_aug, Wx=Wx, Wh=Wh, gates=gates, c=c, tanh_c=tanh_c, h=h)


def local_derivatives(cache: LSTMCache, t0: int, t1: int, Q: Array, P: Array) -> None:
    """Fill the step-local backward factors of steps ``t0 <= t < t1`` (no recurrence).

    ``Q`` (t1-t0, 4, H, N) receives, per gate, the factor that multiplies ``dc`` (gates
    i, f, g) or ``dh`` (gate o) to give the pre-activation gradient; ``P`` (t1-t0, H, N)
    receives ``(1 - tanh(c_t)^2) * o``, the factor of the path from ``h_t`` to ``c_t``.
    """
    G = cache.gates[t0:t1].reshape(t1 - t0, 4, cache.H, cache.N)
    i, o, g = G[:, 0], G[:, 2], G[:, 3]  # f enters through the carry dc * f
    tanh_c = cache.tanh_c[t0:t1]
    sig = Q[:, :3]
    np.subtract(1, G[:, :3], out=sig)
    sig *= G[:, :3]  # (1 - s) * s for the sigmoid gates i, f, o
    Q[:, 0] *= g
    Q[:, 1] *= cache.c[t0:t1]  # c_{t-1}
    Q[:, 2] *= tanh_c
    q_g = Q[:, 3]
    np.multiply(g, g, out=q_g)
    np.subtract(1, q_g, out=q_g)
    q_g *= i
    np.multiply(tanh_c, tanh_c, out=P)
    np.subtract(1, P, out=P)
    P *= o


def backward_cols(
    dh_seq: Array, cache: LSTMCache, dcT: Array | None, dx_layout: str | None
) -> tuple[Array | None, Array, Array, Array, Array, Array]:
    """Backward pass; ``dh_seq`` is (T, H, N) and ``dcT`` (H, N) or None. No checks.

    Returns ``(dx, dh0T, dWx, dWh, db, dc0T)`` with ``dh0T``, ``dc0T`` (H, N) and ``dx``
    as time-major rows (T*N, D) for ``dx_layout="rows"``, as columns (D, T*N) for
    ``"cols"`` (the layout of the previous layer's ``dh_seq``), or None (not computed).
    """
    T, N, H, D = cache.T, cache.N, cache.H, cache.D
    dtype = cache.dtype
    forget = cache.gates.reshape(T, 4, H, N)[:, 1]
    Wh = cache.Wh
    dA = scratch("dA", (4 * H, T * N), dtype)  # pre-activation gradients, all steps
    chunk = max(1, min(T, _CHUNK_ELEMENTS // (N * 4 * H)))
    Q = scratch("Q", (chunk, 4, H, N), dtype)
    P = scratch("P", (chunk, H, N), dtype)
    da = scratch("da", (4, H, N), dtype)
    da_rows = da.reshape(4 * H, N)
    dh_next = np.zeros((H, N), dtype=dtype)  # carry into h_t from step t+1
    dc_next = np.zeros((H, N), dtype=dtype) if dcT is None else dcT.copy()
    dh = scratch("dh", (H, N), dtype)
    dc = scratch("dc", (H, N), dtype)
    dc_if = dc[None]
    for t1 in range(T, 0, -chunk):
        t0 = max(0, t1 - chunk)
        local_derivatives(cache, t0, t1, Q[: t1 - t0], P[: t1 - t0])
        for t in range(t1 - 1, t0 - 1, -1):
            q = Q[t - t0]
            np.add(dh_seq[t], dh_next, out=dh)
            np.multiply(dh, P[t - t0], out=dc)
            dc += dc_next
            np.multiply(dc_if, q[:2], out=da[:2])  # gates i and f
            np.multiply(dh, q[2], out=da[2])  # gate o
            np.multiply(dc, q[3], out=da[3])  # gate g
            np.multiply(dc, forget[t], out=dc_next)
            np.matmul(Wh, da_rows, out=dh_next)
            dA[:, t * N : (t + 1) * N] = da_rows
    if dx_layout == "rows":
        dx: Array | None = np.matmul(dA.T, cache.Wx.T)
    elif dx_layout == "cols":
        dx = np.matmul(cache.Wx, dA)
    else:
        dx = None
    dW_aug = np.matmul(cache.x_aug.T, dA.T)  # [dWx; db], (D+1, 4H)
    h_prev = scratch("h_prev", (H, T * N), dtype)
    h_prev.reshape(H, T, N)[...] = cache.h[:T].transpose(1, 0, 2)
    dWh = np.matmul(h_prev, dA.T)
    return dx, dh_next, dW_aug[:D], dWh, dW_aug[D], dc_next


# ----------------------------------------------------------------------------------------
# Argument checks.
# ----------------------------------------------------------------------------------------


def check_weights(
    D: int, H: int, Wx: object, Wh: object, b: object, source: str
) -> tuple[Array, Array, Array]:
    """Check Wx (D, 4H), Wh (H, 4H) and b (4H,) given D and H; ``source`` says why."""
    Wx = float_array("Wx", Wx)
    Wh = float_array("Wh", Wh)
    b = float_array("b", b)
    check_dims("Wx", Wx, "(D, 4H)")
    check_dims("Wh", Wh, "(H, 4H)")
    check_dims("b", b, "(4H,)")
    check_shape("Wx", Wx, (D, 4 * H), "(D, 4H)", source)
    check_shape("Wh", Wh, (H, 4 * H), "(H, 4H)", source)
    check_shape("b", b, (4 * H,), "(4H,)", source)
    return Wx, Wh, b


def _check_state(name: str, arr: object, N: int, H: int, because: str) -> Array:
    arr = float_array(name, arr)
    check_dims(name, arr, "(N, H)")
    check_shape(name, arr, (N, H), "(N, H)", because)
    return arr


def _check_cache(cache: object, function: str) -> LSTMCache:
    if not isinstance(cache, LSTMCache):
        raise ArgumentError(
            f"cache must be the LSTMCache returned by the matching forward function, got "
            f"{type(cache).__name__}; call {function} with the cache of the forward pass"
        )
    return cache


def check_backward_args(
    dh: object, cache: object, dcT: object
) -> tuple[LSTMCache, Array, Array | None]:
    """Validate the arguments of :func:`lstm_backward` (shared with lstm_ref.mutants)."""
    cache = _check_cache(cache, "lstm_backward")
    N, T, H = cache.N, cache.T, cache.H
    dh = float_array("dh", dh)
    check_dims("dh", dh, "(N, T, H)")
    check_shape("dh", dh, (N, T, H), "(N, T, H)", f"the forward pass had N={N}, T={T} and H={H}")
    ref = ("cache", cache.gates)
    check_same_dtype(ref, ("dh", dh))
    if dcT is not None:
        dcT = _check_state("dcT", dcT, N, H, f"the forward pass had N={N} and H={H}")
        check_same_dtype(ref, ("dcT", dcT))
    return cache, dh, dcT


# ----------------------------------------------------------------------------------------
# Public API.
# ----------------------------------------------------------------------------------------


def lstm_step_forward(
    x: Array, prev_h: Array, prev_c: Array, Wx: Array, Wh: Array, b: Array
) -> tuple[Array, Array, LSTMCache]:
    """Forward pass of one LSTM time step.

    Parameters
    ----------
    x : ndarray (N, D)
        Input of this step.
    prev_h, prev_c : ndarray (N, H)
        Hidden and cell state of the previous step.
    Wx : ndarray (D, 4H)
    Wh : ndarray (H, 4H)
    b : ndarray (4H,)
        Packed weights and bias, gate order i, f, o, g.

    Returns
    -------
    next_h, next_c : ndarray (N, H)
        ``c = f * prev_c + i * g`` and ``h = o * tanh(c)``.
    cache : LSTMCache
        For :func:`lstm_step_backward`.

    Raises
    ------
    ShapeError, DTypeError
        On wrong shapes, non-float arrays or mixed dtypes.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import lstm_step_forward, lstm_step_backward
    >>> rng = np.random.default_rng(0)
    >>> N, D, H = 2, 3, 4
    >>> x, h, c = rng.normal(size=(N, D)), rng.normal(size=(N, H)), rng.normal(size=(N, H))
    >>> Wx, Wh, b = rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), np.zeros(4 * H)
    >>> next_h, next_c, cache = lstm_step_forward(x, h, c, Wx, Wh, b)
    >>> next_h.shape, next_c.shape
    ((2, 4), (2, 4))
    >>> grads = lstm_step_backward(np.ones((N, H)), np.zeros((N, H)), cache)
    >>> [g.shape for g in grads]  # dx, dprev_h, dprev_c, dWx, dWh, db
    [(2, 3), (2, 4), (2, 4), (3, 16), (4, 16), (16,)]
    """
    x = float_array("x", x)
    check_dims("x", x, "(N, D)")
    N, D = x.shape
    prev_h = float_array("prev_h", prev_h)
    check_dims("prev_h", prev_h, "(N, H)")
    check_shape("prev_h", prev_h, (N, prev_h.shape[1]), "(N, H)", f"x has N={N} rows")
    H = prev_h.shape[1]
    prev_c = _check_state("prev_c", prev_c, N, H, f"x has N={N} rows and prev_h has H={H} units")
    Wx, Wh, b = check_weights(D, H, Wx, Wh, b, f"x has D={D} features and prev_h has H={H} units")
    check_same_dtype(
        ("x", x), ("prev_h", prev_h), ("prev_c", prev_c), ("Wx", Wx), ("Wh", Wh), ("b", b)
    )
    cache = forward_cols(augment(x[None]), N, 1, prev_h.T, prev_c.T, Wx, Wh, b)
    return cache.h[1].T.copy(), cache.c[1].T.copy(), cache


def lstm_step_backward(
    dnext_h: Array, dnext_c: Array, cache: LSTMCache
) -> tuple[Array, Array, Array, Array, Array, Array]:
    """Backward pass of one LSTM time step.

    Parameters
    ----------
    dnext_h, dnext_c : ndarray (N, H)
        Upstream gradients of ``next_h`` and ``next_c``.
    cache : LSTMCache
        From :func:`lstm_step_forward`.

    Returns
    -------
    dx : ndarray (N, D)
    dprev_h, dprev_c : ndarray (N, H)
    dWx : ndarray (D, 4H)
    dWh : ndarray (H, 4H)
    db : ndarray (4H,)
        Gradients in the order of :func:`lstm_step_forward`'s arguments.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import lstm_step_forward, lstm_step_backward
    >>> z = np.zeros((1, 2))
    >>> _, _, cache = lstm_step_forward(z, z, z, np.zeros((2, 8)), np.zeros((2, 8)), np.zeros(8))
    >>> dx, dh, dc, dWx, dWh, db = lstm_step_backward(np.ones((1, 2)), z, cache)
    >>> dc  # dh * o * (1 - tanh(c)^2) * f with o = f = 0.5 and c = 0
    array([[0.25, 0.25]])
    """
    cache = _check_cache(cache, "lstm_step_backward")
    if cache.T != 1:
        raise ArgumentError(
            f"cache comes from a sequence of T={cache.T} steps; lstm_step_backward needs "
            f"the cache of lstm_step_forward (use lstm_backward for sequences)"
        )
    N, H = cache.N, cache.H
    because = f"the forward step had N={N} rows and H={H} units"
    dnext_h = _check_state("dnext_h", dnext_h, N, H, because)
    dnext_c = _check_state("dnext_c", dnext_c, N, H, because)
    ref = ("cache", cache.gates)
    check_same_dtype(ref, ("dnext_h", dnext_h), ("dnext_c", dnext_c))
    dx, dprev_hT, dWx, dWh, db, dprev_cT = backward_cols(dnext_h.T[None], cache, dnext_c.T, "rows")
    return cast(Array, dx), dprev_hT.T.copy(), dprev_cT.T.copy(), dWx, dWh, db


def lstm_forward(
    x: Array, h0: Array, Wx: Array, Wh: Array, b: Array, c0: Array | None = None
) -> tuple[Array, LSTMCache]:
    """Forward pass of an LSTM layer over a whole sequence (batch-first).

    Parameters
    ----------
    x : ndarray (N, T, D)
        Input sequence.
    h0 : ndarray (N, H)
        Initial hidden state.
    Wx : ndarray (D, 4H)
    Wh : ndarray (H, 4H)
    b : ndarray (4H,)
        Packed weights and bias, gate order i, f, o, g.
    c0 : ndarray (N, H), optional
        Initial cell state; ``None`` means zeros.

    Returns
    -------
    h : ndarray (N, T, H)
        Hidden states of all steps (a new array).
    cache : LSTMCache
        For :func:`lstm_backward`; ``cache.cT`` is the final cell state (N, H) and
        ``cache.hT`` the final hidden state.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import lstm_forward, lstm_backward
    >>> rng = np.random.default_rng(0)
    >>> N, T, D, H = 2, 5, 3, 4
    >>> x, h0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H))
    >>> Wx, Wh, b = rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), np.zeros(4 * H)
    >>> h, cache = lstm_forward(x, h0, Wx, Wh, b)
    >>> h.shape, cache.cT.shape
    ((2, 5, 4), (2, 4))
    >>> dx, dh0, dWx, dWh, db, dc0 = lstm_backward(np.ones_like(h), cache, dcT=np.ones((N, H)))
    >>> dx.shape, dWx.shape, dc0.shape
    ((2, 5, 3), (3, 16), (2, 4))
    """
    x = float_array("x", x)
    check_dims("x", x, "(N, T, D)")
    N, T, D = x.shape
    h0 = float_array("h0", h0)
    check_dims("h0", h0, "(N, H)")
    check_shape("h0", h0, (N, h0.shape[1]), "(N, H)", f"x has N={N} sequences")
    H = h0.shape[1]
    if c0 is None:
        c0 = np.zeros((N, H), dtype=h0.dtype)
    else:
        c0 = _check_state("c0", c0, N, H, f"x has N={N} sequences and h0 has H={H} units")
    Wx, Wh, b = check_weights(D, H, Wx, Wh, b, f"x has D={D} features and h0 has H={H} units")
    check_same_dtype(("x", x), ("h0", h0), ("c0", c0), ("Wx", Wx), ("Wh", Wh), ("b", b))
    cache = forward_cols(augment(x.transpose(1, 0, 2)), N, T, h0.T, c0.T, Wx, Wh, b)
    return cache.h[1:].transpose(2, 0, 1).copy(), cache


def lstm_backward(
    dh: Array, cache: LSTMCache, dcT: Array | None = None
) -> tuple[Array, Array, Array, Array, Array, Array]:
    """Backward pass of an LSTM layer over a whole sequence (batch-first).

    Parameters
    ----------
    dh : ndarray (N, T, H)
        Upstream gradient of every hidden state ``h[:, t]``.
    cache : LSTMCache
        From :func:`lstm_forward`.
    dcT : ndarray (N, H), optional
        Upstream gradient of the final cell state ``cache.cT`` (truncated BPTT, where the
        next chunk started from it); ``None`` means zeros.

    Returns
    -------
    dx : ndarray (N, T, D)
    dh0 : ndarray (N, H)
    dWx : ndarray (D, 4H)
    dWh : ndarray (H, 4H)
    db : ndarray (4H,)
    dc0 : ndarray (N, H)
        Gradients in the order of :func:`lstm_forward`'s arguments (``c0`` last).

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import lstm_forward, lstm_backward
    >>> x, h0 = np.ones((1, 3, 2)), np.zeros((1, 2))
    >>> h, cache = lstm_forward(x, h0, np.zeros((2, 8)), np.zeros((2, 8)), np.zeros(8))
    >>> grads = lstm_backward(np.zeros_like(h), cache)
    >>> [float(abs(g).max()) for g in grads]
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """
    cache, dh, dcT = check_backward_args(dh, cache, dcT)
    dh_seq = scratch("dh_seq", (cache.T, cache.H, cache.N), cache.dtype)
    dh_seq[...] = dh.transpose(1, 2, 0)
    dx_rows, dh0T, dWx, dWh, db, dc0T = backward_cols(
        dh_seq, cache, None if dcT is None else dcT.T, "rows"
    )
    dx = cast(Array, dx_rows).reshape(cache.T, cache.N, cache.D).transpose(1, 0, 2).copy()
    return dx, dh0T.T.copy(), dWx, dWh, db, dc0T.T.copy()
