"""Document 000's network: a stack of L LSTM layers, a fully connected layer and a loss.

Parameters live in one flat dict with these names (other parts of the project rely on
them), for ``k = 0 .. L-1`` with layer 0 at the bottom:

============== ============ ==============================================
name           shape        meaning
============== ============ ==============================================
``layer{k}.Wx`` (D_k, 4H)    input weights; ``D_0 = D``, ``D_k = H`` above
``layer{k}.Wh`` (H, 4H)      recurrent weights
``layer{k}.b``  (4H,)        bias
``layer{k}.h0`` (N, H)       initial hidden state (a parameter: its gradient is checked)
``layer{k}.c0`` (N, H)       initial cell state (likewise)
``fc.W``        (H, C)       output layer weights
``fc.b``        (C,)         output layer bias
============== ============ ==============================================

Packed gate order is i, f, o, g. The number of layers L is inferred from the names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import DTypeLike

from ._errors import ArgumentError
from ._layers import (
    affine_rows,
    affine_rows_backward,
    mse_loss_unchecked,
    softmax_loss_unchecked,
)
from ._lstm import LSTMCache, augment, backward_cols, forward_cols
from ._types import Array, IntArray
from ._validation import (
    SUPPORTED_DTYPES,
    check_choice,
    check_dims,
    check_labels,
    check_same_dtype,
    check_shape,
    float_array,
)

__all__ = [
    "HEADS",
    "OBJECTIVES",
    "StackedLSTMCache",
    "init_params",
    "loss",
    "stacked_lstm_backward",
    "stacked_lstm_forward",
]

#: Values of ``loss(..., head=...)``: the output layer reads the last step or every step.
HEADS = ("last", "every")
#: Values of ``loss(..., objective=...)``.
OBJECTIVES = ("softmax", "mse")

LAYER_FIELDS = ("Wx", "Wh", "b", "h0", "c0")
FC_KEYS = ("fc.W", "fc.b")
_LAYER_KEY = re.compile(r"layer(\d+)\.(\w+)")


@dataclass(frozen=True)
class Dims:
    """Sizes read off a params dict (C is 0 when the dict has no output layer)."""

    L: int
    N: int
    D: int
    H: int
    C: int
    dtype: np.dtype[Any]


@dataclass(frozen=True, eq=False)
class StackedLSTMCache:
    """What :func:`stacked_lstm_forward` keeps for :func:`stacked_lstm_backward`.

    Attributes
    ----------
    layers : tuple of LSTMCache
        One per layer, bottom first; ``layers[k].cT`` and ``layers[k].hT`` are layer k's
        final cell and hidden states.
    """

    layers: tuple[LSTMCache, ...]


# ----------------------------------------------------------------------------------------
# Parameter checks.
# ----------------------------------------------------------------------------------------


def layer_count(names: object) -> int:
    """Return L for a collection of parameter names, or raise ArgumentError on bad names."""
    if not isinstance(names, Mapping):
        raise ArgumentError(
            f"params must be a dict of arrays keyed 'layer{{k}}.Wx', ..., 'fc.W', 'fc.b', "
            f"got {type(names).__name__}"
        )
    layers: set[int] = set()
    for key in names:
        match = _LAYER_KEY.fullmatch(key) if isinstance(key, str) else None
        if match and match[2] in LAYER_FIELDS and str(int(match[1])) == match[1]:
            layers.add(int(match[1]))
        elif key not in FC_KEYS:
            raise ArgumentError(
                f"unexpected parameter name {key!r}; names are 'layer{{k}}.Wx', "
                f"'layer{{k}}.Wh', 'layer{{k}}.b', 'layer{{k}}.h0', 'layer{{k}}.c0' for "
                f"k = 0..L-1 and 'fc.W', 'fc.b'"
            )
    if not layers:
        raise ArgumentError("params has no LSTM layer: expected 'layer0.Wx' and friends")
    L = max(layers) + 1
    missing = [
        f"layer{k}.{f}" for k in range(L) for f in LAYER_FIELDS if f"layer{k}.{f}" not in names
    ]
    if missing:
        raise ArgumentError(
            f"params has names up to layer{L - 1} but is missing {', '.join(missing)}"
        )
    return L


def check_params(params: Mapping[str, Any], *, need_fc: bool) -> Dims:
    """Validate names, dtypes and shapes of a params dict and return its sizes."""
    L = layer_count(params)
    has_fc = [key in params for key in FC_KEYS]
    if need_fc and not all(has_fc):
        raise ArgumentError(f"params is missing {[k for k in FC_KEYS if k not in params]}")
    if any(has_fc) and not all(has_fc):
        raise ArgumentError("params must have both fc.W and fc.b, or neither")
    arrays = {key: float_array(key, value) for key, value in params.items()}
    first = ("layer0.Wx", arrays["layer0.Wx"])
    check_same_dtype(first, *arrays.items())

    Wh0 = arrays["layer0.Wh"]
    check_dims("layer0.Wh", Wh0, "(H, 4H)")
    H = Wh0.shape[0]
    check_shape("layer0.Wh", Wh0, (H, 4 * H), "(H, 4H)", f"it has H={H} rows")
    Wx0 = arrays["layer0.Wx"]
    check_dims("layer0.Wx", Wx0, "(D, 4H)")
    D = Wx0.shape[0]
    h00 = arrays["layer0.h0"]
    check_dims("layer0.h0", h00, "(N, H)")
    N = h00.shape[0]
    for k in range(L):
        units = f"layer0.Wh has H={H} units"
        if k == 0:
            check_shape("layer0.Wx", Wx0, (D, 4 * H), "(D, 4H)", units)
        else:
            name = f"layer{k}.Wx"
            check_dims(name, arrays[name], "(H, 4H)")
            check_shape(
                name,
                arrays[name],
                (H, 4 * H),
                "(H, 4H)",
                f"layer {k} reads layer {k - 1}'s hidden state and {units}",
            )
        for field, expected, symbolic in (
            ("Wh", (H, 4 * H), "(H, 4H)"),
            ("b", (4 * H,), "(4H,)"),
            ("h0", (N, H), "(N, H)"),
            ("c0", (N, H), "(N, H)"),
        ):
            name = f"layer{k}.{field}"
            check_dims(name, arrays[name], symbolic)
            because = units if field in ("Wh", "b") else f"layer0.h0 has N={N} rows and {units}"
            check_shape(name, arrays[name], expected, symbolic, because)
    C = 0
    if all(has_fc):
        W, b = arrays["fc.W"], arrays["fc.b"]
        check_dims("fc.W", W, "(H, C)")
        C = W.shape[1]
        check_shape("fc.W", W, (H, C), "(H, C)", f"the top LSTM layer has H={H} units")
        check_dims("fc.b", b, "(C,)")
        check_shape("fc.b", b, (C,), "(C,)", f"fc.W has C={C} columns")
    return Dims(L=L, N=N, D=D, H=H, C=C, dtype=Wx0.dtype)


def _check_input(x: object, dims: Dims, params: Mapping[str, Array]) -> Array:
    x = float_array("x", x)
    check_dims("x", x, "(N, T, D)")
    N, T, D = x.shape
    check_shape(
        "x",
        x,
        (dims.N, T, dims.D),
        "(N, T, D)",
        f"layer0.h0 has N={dims.N} rows and layer0.Wx has D={dims.D} rows",
    )
    check_same_dtype(("layer0.Wx", params["layer0.Wx"]), ("x", x))
    return x


def _check_target(
    y: object, dims: Dims, params: Mapping[str, Array], T: int, head: str, objective: str
) -> Array | IntArray:
    N, C = dims.N, dims.C
    if objective == "softmax":
        if head == "last":
            because = f"head='last' gives scores of shape (N, C) = {(N, C)}"
            return check_labels("y", y, (N,), "(N,)", C, because)
        because = f"head='every' gives scores of shape (N, T, C) = {(N, T, C)}"
        return check_labels("y", y, (N, T), "(N, T)", C, because)
    y = float_array("y", y)
    expected, symbolic = ((N, C), "(N, C)") if head == "last" else ((N, T, C), "(N, T, C)")
    check_dims("y", y, symbolic)
    check_shape("y", y, expected, symbolic, f"the mse targets of head={head!r} match the scores")
    check_same_dtype(("layer0.Wx", params["layer0.Wx"]), ("y", y))
    return y


def check_loss_args(
    params: Mapping[str, Array], x: object, y: object, head: str, objective: str
) -> tuple[Dims, Array, Array | IntArray]:
    """Validate the arguments of :func:`loss` (shared with lstm_ref.mutants)."""
    check_choice("head", head, HEADS)
    check_choice("objective", objective, OBJECTIVES)
    dims = check_params(params, need_fc=True)
    x = _check_input(x, dims, params)
    return dims, x, _check_target(y, dims, params, x.shape[1], head, objective)


# ----------------------------------------------------------------------------------------
# Unchecked kernels (also used by lstm_ref.mutants).
# ----------------------------------------------------------------------------------------


def stacked_forward_cols(
    x_aug: Array, N: int, T: int, params: Mapping[str, Array], L: int
) -> list[LSTMCache]:
    """Run the L layers over ``x_aug`` (T*N, D+1); layer k reads layer k-1's h."""
    caches = []
    for k in range(L):
        p = f"layer{k}."
        cache = forward_cols(
            x_aug, N, T, params[p + "h0"].T, params[p + "c0"].T, params[p + "Wx"],
            params[p + "Wh"], params[p + "b"],
        )  # fmt: skip
        caches.append(cache)
        if k + 1 < L:
            x_aug = augment(cache.h[1:].transpose(0, 2, 1))
    return caches


def stacked_backward_cols(
    dh_seq: Array, caches: list[LSTMCache] | tuple[LSTMCache, ...], want_dx: bool
) -> tuple[Array | None, dict[str, Array]]:
    """Backward through the layers, top to bottom; ``dh_seq`` (T, H, N) is the top's.

    Returns the input gradient as time-major rows (T*N, D) (None unless ``want_dx``) and
    the layer gradients.
    """
    grads: dict[str, Array] = {}
    dx = None
    for k in reversed(range(len(caches))):
        cache = caches[k]
        layout = "cols" if k > 0 else "rows" if want_dx else None
        dx, dh0T, dWx, dWh, db, dc0T = backward_cols(dh_seq, cache, None, layout)
        p = f"layer{k}."
        grads[p + "Wx"], grads[p + "Wh"], grads[p + "b"] = dWx, dWh, db
        grads[p + "h0"], grads[p + "c0"] = dh0T.T.copy(), dc0T.T.copy()
        if k > 0:  # layer k's input gradient is layer k-1's upstream dh
            dxT = cast(Array, dx).reshape(cache.D, cache.T, cache.N)
            dh_seq = np.ascontiguousarray(dxT.transpose(1, 0, 2))
    return dx, grads


def scores_unchecked(
    params: Mapping[str, Array], x: Array, L: int, head: str
) -> tuple[Array, Array, list[LSTMCache]]:
    """Forward pass of the model up to the scores: ``(scores, fc input, caches)``.

    The fc input is h_T of the top layer (N, H) for ``head="last"``, or the time-major
    rows (T*N, H) of all its hidden states for ``head="every"``.
    """
    N, T, _ = x.shape
    caches = stacked_forward_cols(augment(x.transpose(1, 0, 2)), N, T, params, L)
    top = caches[-1]
    W, b = params["fc.W"], params["fc.b"]
    if head == "last":
        feats = top.h[T].T
        return affine_rows(feats, W, b), feats, caches
    feats = np.ascontiguousarray(top.h[1:].transpose(0, 2, 1)).reshape(T * N, top.H)
    scores = affine_rows(feats, W, b).reshape(T, N, W.shape[1]).transpose(1, 0, 2)
    return scores, feats, caches


def loss_unchecked(
    params: Mapping[str, Array],
    x: Array,
    y: Array | IntArray,
    L: int,
    head: str,
    objective: str,
) -> tuple[Any, dict[str, Array]]:
    """The whole model, forward and backward, without argument checks."""
    value, grads, _ = model_backward(params, x, y, L, head, objective, want_dx=False)
    return value, grads


def model_backward(
    params: Mapping[str, Array],
    x: Array,
    y: Array | IntArray,
    L: int,
    head: str,
    objective: str,
    *,
    want_dx: bool,
) -> tuple[Any, dict[str, Array], Array | None]:
    """``(loss, grads, dx)`` of the model; ``dx`` (N, T, D) only with ``want_dx``. No checks."""
    N, T, D = x.shape
    scores, feats, caches = scores_unchecked(params, x, L, head)
    H, W = caches[-1].H, params["fc.W"]
    if objective == "softmax":
        value, dscores = softmax_loss_unchecked(scores, y)
    else:
        value, dscores = mse_loss_unchecked(scores, y)
    if head == "last":
        dfeats, dW, db = affine_rows_backward(dscores, feats, W)
        dh_seq = np.zeros((T, H, N), dtype=x.dtype)
        dh_seq[T - 1] = dfeats.T
    else:
        dscores_rows = np.ascontiguousarray(dscores.transpose(1, 0, 2)).reshape(T * N, -1)
        dfeats, dW, db = affine_rows_backward(dscores_rows, feats, W)
        dh_seq = np.ascontiguousarray(dfeats.reshape(T, N, H).transpose(0, 2, 1))
    dx_rows, grads = stacked_backward_cols(dh_seq, caches, want_dx=want_dx)
    grads["fc.W"], grads["fc.b"] = dW, db
    dx = None
    if dx_rows is not None:
        dx = dx_rows.reshape(T, N, D).transpose(1, 0, 2).copy()
    return value, {key: grads[key] for key in params}, dx


def loss_value(
    params: Mapping[str, Array],
    x: Array,
    y: Array | IntArray,
    *,
    head: str = "last",
    objective: str = "softmax",
) -> Any:
    """The loss of :func:`loss` without the backward pass (validated the same way)."""
    dims, x, y = check_loss_args(params, x, y, head, objective)
    scores = scores_unchecked(params, x, dims.L, head)[0]
    if objective == "softmax":
        return softmax_loss_unchecked(scores, y)[0]
    return mse_loss_unchecked(scores, y)[0]


# ----------------------------------------------------------------------------------------
# Public API.
# ----------------------------------------------------------------------------------------


def stacked_lstm_forward(x: Array, params: Mapping[str, Array]) -> tuple[Array, StackedLSTMCache]:
    """Forward pass of L stacked LSTM layers (document 000's network without its head).

    Parameters
    ----------
    x : ndarray (N, T, D)
        Input sequence, batch-first.
    params : dict
        ``layer{k}.Wx`` (D or H, 4H), ``layer{k}.Wh`` (H, 4H), ``layer{k}.b`` (4H,),
        ``layer{k}.h0`` and ``layer{k}.c0`` (N, H) for k = 0..L-1; ``fc.W``/``fc.b`` may be
        present and are ignored.

    Returns
    -------
    h : ndarray (N, T, H)
        Hidden states of the top layer.
    cache : StackedLSTMCache
        For :func:`stacked_lstm_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import init_params, stacked_lstm_forward, stacked_lstm_backward
    >>> params = init_params(np.random.default_rng(0), N=2, D=3, H=4, C=2, L=3)
    >>> x = np.random.default_rng(1).normal(size=(2, 5, 3))
    >>> h, cache = stacked_lstm_forward(x, params)
    >>> h.shape, len(cache.layers)
    ((2, 5, 4), 3)
    >>> dx, grads = stacked_lstm_backward(np.ones_like(h), cache)
    >>> dx.shape, sorted(grads)[:3]
    ((2, 5, 3), ['layer0.Wh', 'layer0.Wx', 'layer0.b'])
    """
    dims = check_params(params, need_fc=False)
    x = _check_input(x, dims, params)
    N, T, _ = x.shape
    caches = stacked_forward_cols(augment(x.transpose(1, 0, 2)), N, T, params, dims.L)
    return caches[-1].h[1:].transpose(2, 0, 1).copy(), StackedLSTMCache(tuple(caches))


def stacked_lstm_backward(dh: Array, cache: StackedLSTMCache) -> tuple[Array, dict[str, Array]]:
    """Backward pass of :func:`stacked_lstm_forward`, top layer first.

    Each layer's backward starts with zero carries (``dprev_h = dprev_c = 0`` at the last
    step), and layer k's input gradient is the upstream ``dh`` of layer k-1.

    Parameters
    ----------
    dh : ndarray (N, T, H)
        Upstream gradient of the top layer's hidden states.
    cache : StackedLSTMCache

    Returns
    -------
    dx : ndarray (N, T, D)
    grads : dict
        Gradients keyed like the params: ``layer{k}.Wx``, ``.Wh``, ``.b``, ``.h0``,
        ``.c0``.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import init_params, stacked_lstm_forward, stacked_lstm_backward
    >>> params = init_params(np.random.default_rng(0), N=2, D=3, H=4, C=2, L=2)
    >>> h, cache = stacked_lstm_forward(np.ones((2, 5, 3)), params)
    >>> dx, grads = stacked_lstm_backward(np.zeros_like(h), cache)
    >>> float(abs(grads["layer0.Wx"]).max())
    0.0
    """
    if not isinstance(cache, StackedLSTMCache):
        raise ArgumentError(
            f"cache must be the StackedLSTMCache returned by stacked_lstm_forward, got "
            f"{type(cache).__name__}"
        )
    top = cache.layers[-1]
    N, T, H = top.N, top.T, top.H
    dh = float_array("dh", dh)
    check_dims("dh", dh, "(N, T, H)")
    check_shape("dh", dh, (N, T, H), "(N, T, H)", f"the forward pass had N={N}, T={T}, H={H}")
    check_same_dtype(("cache", top.gates), ("dh", dh))
    dh_seq = np.ascontiguousarray(dh.transpose(1, 2, 0))
    dx_rows, grads = stacked_backward_cols(dh_seq, cache.layers, want_dx=True)
    dx = cast(Array, dx_rows).reshape(T, N, cache.layers[0].D).transpose(1, 0, 2).copy()
    order = [f"layer{k}.{f}" for k in range(len(cache.layers)) for f in LAYER_FIELDS]
    return dx, {key: grads[key] for key in order}


def loss(
    params: Mapping[str, Array],
    x: Array,
    y: Array | IntArray,
    *,
    head: str = "last",
    objective: str = "softmax",
) -> tuple[Any, dict[str, Array]]:
    """Loss of document 000's network and its gradient for every parameter (cs231n style).

    The stacked LSTM reads ``x``; the fully connected layer ``fc`` reads the top layer's
    last hidden state (``head="last"``: scores (N, C)) or every hidden state
    (``head="every"``: scores (N, T, C)); the loss is :func:`softmax_loss` of the scores
    against integer labels, or :func:`mse_loss` against float targets.

    Parameters
    ----------
    params : dict
        See the module table: ``layer{k}.Wx/Wh/b/h0/c0`` and ``fc.W`` (H, C), ``fc.b`` (C,).
    x : ndarray (N, T, D)
    y : ndarray
        ``objective="softmax"``: integer labels (N,) for ``head="last"``, (N, T) for
        ``head="every"``. ``objective="mse"``: float targets (N, C) or (N, T, C), in the
        params' dtype.
    head : {"last", "every"}
    objective : {"softmax", "mse"}

    Returns
    -------
    loss : numpy scalar, dtype of the params
    grads : dict
        Exactly the keys of ``params`` (same order), each gradient the shape and dtype of
        its parameter.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import init_params, loss
    >>> rng = np.random.default_rng(0)
    >>> params = init_params(rng, N=4, D=2, H=5, C=3, L=2)
    >>> x, y = rng.normal(size=(4, 6, 2)), rng.integers(0, 3, size=4)
    >>> value, grads = loss(params, x, y)
    >>> value.dtype, list(grads) == list(params), grads["layer1.Wh"].shape
    (dtype('float64'), True, (5, 20))
    """
    dims, x, y = check_loss_args(params, x, y, head, objective)
    return loss_unchecked(params, x, y, dims.L, head, objective)


def init_params(
    rng: np.random.Generator,
    *,
    N: int,
    D: int,
    H: int,
    C: int,
    L: int = 1,
    dtype: DTypeLike = np.float64,
    scale: float = 1.0,
) -> dict[str, Array]:
    """Random parameters for :func:`loss` (document 000's network: N=32, D=2, H=30, C=2, L=3).

    Weight matrices are drawn from ``N(0, scale**2 / fan_in)`` (fan_in = D for
    ``layer0.Wx``, H for every other matrix); biases and the initial states h0, c0 from
    ``N(0, (scale / 2)**2)``. Nothing is zero, so no gradient term vanishes by accident.
    Values are drawn in float64 from ``rng`` (never numpy's global state) in the order of
    the returned dict, then cast to ``dtype`` (complex dtypes get zero imaginary parts).

    Parameters
    ----------
    rng : numpy.random.Generator
    N, D, H, C, L : int
        Batch, input features, hidden units, classes (or regression outputs), layers.
    dtype : float32, float64, complex64 or complex128
    scale : float

    Returns
    -------
    dict
        ``layer{k}.Wx``, ``layer{k}.Wh``, ``layer{k}.b``, ``layer{k}.h0``, ``layer{k}.c0``
        for k = 0..L-1, then ``fc.W``, ``fc.b``.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import init_params
    >>> params = init_params(np.random.default_rng(0), N=32, D=2, H=30, C=2, L=3)
    >>> for name in ("layer0.Wx", "layer1.Wx", "layer2.c0", "fc.W", "fc.b"):
    ...     print(name, params[name].shape, params[name].dtype)
    layer0.Wx (2, 120) float64
    layer1.Wx (30, 120) float64
    layer2.c0 (32, 30) float64
    fc.W (30, 2) float64
    fc.b (2,) float64
    """
    if not isinstance(rng, np.random.Generator):
        raise ArgumentError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got "
            f"{type(rng).__name__}; lstm_ref never uses numpy's global random state"
        )
    for name, value in (("N", N), ("D", D), ("H", H), ("C", C), ("L", L)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
            raise ArgumentError(f"{name} must be a positive integer, got {value!r}")
    dt = np.dtype(dtype)
    if dt not in SUPPORTED_DTYPES:
        raise ArgumentError(f"dtype must be float32, float64, complex64 or complex128, got {dt}")
    half = scale / 2

    def draw(shape: tuple[int, ...], std: float) -> Array:
        return (rng.standard_normal(shape) * std).astype(dt)

    params: dict[str, Array] = {}
    for k in range(L):
        fan_in = D if k == 0 else H
        params[f"layer{k}.Wx"] = draw((fan_in, 4 * H), scale / math.sqrt(fan_in))
        params[f"layer{k}.Wh"] = draw((H, 4 * H), scale / math.sqrt(H))
        params[f"layer{k}.b"] = draw((4 * H,), half)
        params[f"layer{k}.h0"] = draw((N, H), half)
        params[f"layer{k}.c0"] = draw((N, H), half)
    params["fc.W"] = draw((H, C), scale / math.sqrt(H))
    params["fc.b"] = draw((C,), half)
    return params
