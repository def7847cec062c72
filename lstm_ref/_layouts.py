"""Converters between the packed weights of lstm_ref and the layouts of the documents.

One LSTM layer's weights ``Wx (D, 4H)``, ``Wh (H, 4H)``, ``b (4H,)`` (packed, gate order
i, f, o, g, row-vector convention ``a = x Wx + h Wh + b``) convert to and from:

============== ======== ======================================== =============================
layout         document keys (gate letters as the document)       shapes
============== ======== ======================================== =============================
``packed``     000      ``Wx``, ``Wh``, ``b``                     (D, 4H), (H, 4H), (4H,)
``per_gate_col`` 001    ``Wix Wfx Wox Wcx``; ``Wih Wfh Woh Wch``; (H, D); (H, H); (H, 1)
                        ``bi bf bo bc``                           (column vectors: a = W x + b)
``per_gate_row`` 004    ``W_xi W_xf W_xo W_xc``; ``W_hi .. W_hc``; (D, H); (H, H); (H,)
                        ``b_i b_f b_o b_c``
``concat_xh``  002      ``Wi Wf Wo Wg``; ``bi bf bo bg``          (D+H, H) acting on [x, h]; (H,)
``concat_hx``  003      ``Wf Wi Wc Wo``; ``bf bi bc bo``          (H+D, H) acting on [h, x]; (1, H)
``torch``      nn.LSTM  ``weight_ih``, ``weight_hh``,             (4H, D), (4H, H), (4H,), (4H,)
                        ``bias_ih``, ``bias_hh``                  gate order i, f, g, o
============== ======== ======================================== =============================

Document 002 does not name its four maps; ``Wi .. Wg`` is our choice. Document 001
writes the candidate gate g as "c" (``Wcx``), and so do 003 and 004 (``Wc``, ``W_xc``).

Functions (``layout`` is a name from the table, ``weights`` a dict with its keys):

======================================= =================================================
``to_layout(layout, Wx, Wh, b)``        packed weights -> dict of the layout
``from_layout(layout, weights)``        dict of the layout -> ``(Wx, Wh, b)``
``grads_to_layout(layout, dWx, dWh, db)`` packed gradients -> gradients in the layout
``grads_from_layout(layout, grads)``    gradients in the layout -> ``(dWx, dWh, db)``
``params_to_torch(params)``             model params -> ``(state_dict, h0, c0)``
``params_from_torch(sd, h0, c0)``       inverse of ``params_to_torch``
``grads_to_torch(grads)``               model grads -> ``(state_dict_grads, dh0, dc0)``
``grads_from_torch(sd_grads, dh0, dc0)`` inverse of ``grads_to_torch``
======================================= =================================================

Weights and gradients
---------------------
Every layout except ``torch`` only moves entries (slices, transposes, reshapes and
concatenations), so conversions are exact in both directions, bit for bit. A gradient
moves exactly like its weight: if ``p' = Pi p`` for a permutation ``Pi``, then
``dL/dp' = Pi dL/dp``; ``grads_to_layout`` equals ``to_layout`` there.

PyTorch's two biases are the exception, and there converting a gradient is *not* the
same function as converting a weight. nn.LSTM adds ``bias_ih + bias_hh`` where we add
``b``:

* weights to torch: ``bias_ih = b`` and ``bias_hh`` is all zeros (negative zeros, so that
  ``bias_ih + bias_hh`` gives back ``b`` bit for bit, signed zeros included);
* weights from torch: ``b = bias_ih + bias_hh`` (so a torch -> packed -> torch round trip
  is exact only when ``bias_hh`` is zero; the forward pass is the same either way);
* gradients to torch: ``d bias_ih = d bias_hh = db`` (the loss depends on the sum only);
* gradients from torch: ``db = d bias_ih``, after checking that ``d bias_hh`` equals it
  up to rounding (relative difference at most ``sqrt(eps)`` of the dtype; torch sums the
  two over time in different orders, so they need not be bitwise equal).

The model-level functions also move ``fc.W`` (H, C) to nn.Linear's ``weight`` (C, H) and
stack the per-layer initial states into nn.LSTM's ``(L, N, H)`` tensors. lstm_ref does not
import torch: the state dict holds numpy arrays (wrap them with ``torch.from_numpy``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import numpy as np

from ._errors import ArgumentError
from ._lstm import check_weights
from ._model import check_params
from ._types import Array
from ._validation import check_choice, check_dims, check_same_dtype, check_shape, float_array

__all__ = [
    "LAYOUTS",
    "from_layout",
    "grads_from_layout",
    "grads_from_torch",
    "grads_to_layout",
    "grads_to_torch",
    "params_from_torch",
    "params_to_torch",
    "to_layout",
]

#: Names accepted by :func:`to_layout` and friends.
LAYOUTS = ("packed", "per_gate_col", "per_gate_row", "concat_xh", "concat_hx", "torch")

_PACKED = ("i", "f", "o", "g")  # gate order of the packed blocks
_TORCH = ("i", "f", "g", "o")  # gate order of nn.LSTM
# Gate letters as each document writes them, in packed order i, f, o, g.
_LETTERS = {
    "per_gate_col": ("i", "f", "o", "c"),
    "per_gate_row": ("i", "f", "o", "c"),
    "concat_xh": ("i", "f", "o", "g"),
    "concat_hx": ("i", "f", "o", "c"),
}

Spec = list[tuple[str, tuple[int, ...], str]]  # (key, shape, symbolic shape)


def _spec(layout: str, D: int, H: int) -> Spec:
    """Keys and shapes of one layer's weights in ``layout``."""
    if layout == "packed":
        return [
            ("Wx", (D, 4 * H), "(D, 4H)"),
            ("Wh", (H, 4 * H), "(H, 4H)"),
            ("b", (4 * H,), "(4H,)"),
        ]
    if layout == "torch":
        return [
            ("weight_ih", (4 * H, D), "(4H, D)"),
            ("weight_hh", (4 * H, H), "(4H, H)"),
            ("bias_ih", (4 * H,), "(4H,)"),
            ("bias_hh", (4 * H,), "(4H,)"),
        ]
    spec: Spec = []
    for n in _LETTERS[layout]:
        if layout == "per_gate_col":
            spec += [
                (f"W{n}x", (H, D), "(H, D)"),
                (f"W{n}h", (H, H), "(H, H)"),
                (f"b{n}", (H, 1), "(H, 1)"),
            ]
        elif layout == "per_gate_row":
            spec += [
                (f"W_x{n}", (D, H), "(D, H)"),
                (f"W_h{n}", (H, H), "(H, H)"),
                (f"b_{n}", (H,), "(H,)"),
            ]
        elif layout == "concat_xh":
            spec += [(f"W{n}", (D + H, H), "(D+H, H)"), (f"b{n}", (H,), "(H,)")]
        else:  # concat_hx
            spec += [(f"W{n}", (H + D, H), "(H+D, H)"), (f"b{n}", (1, H), "(1, H)")]
    return spec


def _sizes(layout: str, arrays: Mapping[str, Array]) -> tuple[int, int]:
    """Read D and H off the arrays of ``layout`` (before their shapes are checked)."""
    if layout == "packed":
        check_dims("Wh", arrays["Wh"], "(H, 4H)")
        check_dims("Wx", arrays["Wx"], "(D, 4H)")
        return arrays["Wx"].shape[0], arrays["Wh"].shape[0]
    if layout == "torch":
        check_dims("weight_hh", arrays["weight_hh"], "(4H, H)")
        check_dims("weight_ih", arrays["weight_ih"], "(4H, D)")
        return arrays["weight_ih"].shape[1], arrays["weight_hh"].shape[1]
    n = _LETTERS[layout][0]
    if layout == "per_gate_col":
        check_dims(f"W{n}x", arrays[f"W{n}x"], "(H, D)")
        return arrays[f"W{n}x"].shape[1], arrays[f"W{n}x"].shape[0]
    if layout == "per_gate_row":
        check_dims(f"W_x{n}", arrays[f"W_x{n}"], "(D, H)")
        return arrays[f"W_x{n}"].shape
    symbolic = "(D+H, H)" if layout == "concat_xh" else "(H+D, H)"
    W = arrays[f"W{n}"]
    check_dims(f"W{n}", W, symbolic)
    if W.shape[0] <= W.shape[1]:
        raise ArgumentError(
            f"W{n} has shape {W.shape} but must be {symbolic} with D >= 1: it needs more "
            f"rows than columns"
        )
    return W.shape[0] - W.shape[1], W.shape[1]


def _check_layout(layout: str, weights: object, what: str) -> tuple[dict[str, Array], int, int]:
    """Validate the keys, dtypes and shapes of a layout dict; return it with D and H."""
    check_choice("layout", layout, LAYOUTS)
    if not isinstance(weights, Mapping):
        raise ArgumentError(f"{what} must be a dict of arrays, got {type(weights).__name__}")
    expected = [key for key, _, _ in _spec(layout, 1, 1)]
    missing = [key for key in expected if key not in weights]
    extra = [key for key in weights if key not in expected]
    if missing or extra:
        raise ArgumentError(
            f"{what} for layout {layout!r} must have exactly the keys {expected}; "
            f"missing {missing}, unexpected {extra}"
        )
    arrays = {key: float_array(key, weights[key]) for key in expected}
    check_same_dtype(*arrays.items())
    D, H = _sizes(layout, arrays)
    for key, shape, symbolic in _spec(layout, D, H):
        check_dims(key, arrays[key], symbolic)
        check_shape(key, arrays[key], shape, symbolic, f"the {layout} weights have D={D}, H={H}")
    return arrays, D, H


def _blocks(W: Array, H: int) -> dict[str, Array]:
    """The four gate blocks (views) of a packed array's last axis, keyed i, f, o, g."""
    return {gate: W[..., k * H : (k + 1) * H] for k, gate in enumerate(_PACKED)}


def _torch_order(W: Array, H: int) -> Array:
    """Reorder the packed last axis from i, f, o, g to nn.LSTM's i, f, g, o (a copy)."""
    blocks = _blocks(W, H)
    return np.concatenate([blocks[gate] for gate in _TORCH], axis=-1)


def _from_torch_order(W: Array, H: int) -> Array:
    """Reorder nn.LSTM's i, f, g, o on the last axis into packed i, f, o, g (a copy)."""
    blocks = {gate: W[..., k * H : (k + 1) * H] for k, gate in enumerate(_TORCH)}
    return np.concatenate([blocks[gate] for gate in _PACKED], axis=-1)


def _to(layout: str, Wx: Array, Wh: Array, b: Array) -> dict[str, Array]:
    H = Wh.shape[0]
    if layout == "packed":
        return {"Wx": Wx.copy(), "Wh": Wh.copy(), "b": b.copy()}
    if layout == "torch":
        return {
            "weight_ih": np.ascontiguousarray(_torch_order(Wx, H).T),
            "weight_hh": np.ascontiguousarray(_torch_order(Wh, H).T),
            "bias_ih": _torch_order(b, H),
            "bias_hh": np.full(4 * H, -0.0, dtype=b.dtype),
        }
    out: dict[str, Array] = {}
    bx, bh, bb = _blocks(Wx, H), _blocks(Wh, H), _blocks(b, H)
    for gate, n in zip(_PACKED, _LETTERS[layout], strict=True):
        if layout == "per_gate_col":
            out[f"W{n}x"] = np.ascontiguousarray(bx[gate].T)
            out[f"W{n}h"] = np.ascontiguousarray(bh[gate].T)
            out[f"b{n}"] = bb[gate].reshape(H, 1).copy()
        elif layout == "per_gate_row":
            out[f"W_x{n}"] = bx[gate].copy()
            out[f"W_h{n}"] = bh[gate].copy()
            out[f"b_{n}"] = bb[gate].copy()
        elif layout == "concat_xh":
            out[f"W{n}"] = np.concatenate([bx[gate], bh[gate]], axis=0)
            out[f"b{n}"] = bb[gate].copy()
        else:  # concat_hx
            out[f"W{n}"] = np.concatenate([bh[gate], bx[gate]], axis=0)
            out[f"b{n}"] = bb[gate].reshape(1, H).copy()
    return out


def _from(
    layout: str, w: Mapping[str, Array], D: int, H: int, torch_bias: Callable[..., Array]
) -> tuple[Array, Array, Array]:
    dtype = next(iter(w.values())).dtype
    if layout == "packed":
        return w["Wx"].copy(), w["Wh"].copy(), w["b"].copy()
    if layout == "torch":
        return (
            _from_torch_order(w["weight_ih"].T, H),
            _from_torch_order(w["weight_hh"].T, H),
            _from_torch_order(torch_bias(w["bias_ih"], w["bias_hh"]), H),
        )
    Wx = np.empty((D, 4 * H), dtype=dtype)
    Wh = np.empty((H, 4 * H), dtype=dtype)
    b = np.empty(4 * H, dtype=dtype)
    bx, bh, bb = _blocks(Wx, H), _blocks(Wh, H), _blocks(b, H)
    for gate, n in zip(_PACKED, _LETTERS[layout], strict=True):
        if layout == "per_gate_col":
            bx[gate][...] = w[f"W{n}x"].T
            bh[gate][...] = w[f"W{n}h"].T
            bb[gate][...] = w[f"b{n}"][:, 0]
        elif layout == "per_gate_row":
            bx[gate][...] = w[f"W_x{n}"]
            bh[gate][...] = w[f"W_h{n}"]
            bb[gate][...] = w[f"b_{n}"]
        elif layout == "concat_xh":
            bx[gate][...] = w[f"W{n}"][:D]
            bh[gate][...] = w[f"W{n}"][D:]
            bb[gate][...] = w[f"b{n}"]
        else:  # concat_hx
            bh[gate][...] = w[f"W{n}"][:H]
            bx[gate][...] = w[f"W{n}"][H:]
            bb[gate][...] = w[f"b{n}"][0]
    return Wx, Wh, b


def _sum_biases(bias_ih: Array, bias_hh: Array) -> Array:
    return bias_ih + bias_hh


def _check_equal_bias_grads(name_ih: str, name_hh: str) -> Callable[[Array, Array], Array]:
    def pick(d_ih: Array, d_hh: Array) -> Array:
        info = np.finfo(d_ih.real.dtype)
        largest = max(float(np.abs(d_ih).max()), float(np.abs(d_hh).max()))
        scale = max(largest, float(info.tiny))
        diff = float(np.abs(d_ih - d_hh).max())
        if diff > np.sqrt(float(info.eps)) * scale:
            raise ArgumentError(
                f"the gradients of {name_ih} and {name_hh} differ by up to {diff:.3g} "
                f"(largest entry {scale:.3g}); they must be equal because nn.LSTM only uses "
                f"their sum - are they from the same backward pass?"
            )
        return d_ih

    return pick


def to_layout(layout: str, Wx: Array, Wh: Array, b: Array) -> dict[str, Array]:
    """Convert one layer's packed weights to another layout (see the module table).

    Parameters
    ----------
    layout : str
        One of :data:`LAYOUTS`.
    Wx : ndarray (D, 4H)
    Wh : ndarray (H, 4H)
    b : ndarray (4H,)

    Returns
    -------
    dict
        New arrays keyed as the layout's document names them. For ``"torch"``,
        ``bias_ih = b`` (in torch's gate order) and ``bias_hh`` is zeros.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import from_layout, to_layout
    >>> rng = np.random.default_rng(0)
    >>> Wx, Wh, b = rng.normal(size=(3, 8)), rng.normal(size=(2, 8)), rng.normal(size=8)
    >>> w = to_layout("per_gate_col", Wx, Wh, b)
    >>> sorted(w)[:6], w["Wfx"].shape, w["bf"].shape
    (['Wch', 'Wcx', 'Wfh', 'Wfx', 'Wih', 'Wix'], (2, 3), (2, 1))
    >>> all(np.array_equal(p, q) for p, q in zip(from_layout("per_gate_col", w), (Wx, Wh, b)))
    True
    """
    check_choice("layout", layout, LAYOUTS)
    Wx = float_array("Wx", Wx)
    Wh = float_array("Wh", Wh)
    check_dims("Wh", Wh, "(H, 4H)")
    check_dims("Wx", Wx, "(D, 4H)")
    D, H = Wx.shape[0], Wh.shape[0]
    Wx, Wh, b = check_weights(D, H, Wx, Wh, b, f"Wx has D={D} rows and Wh has H={H} rows")
    check_same_dtype(("Wx", Wx), ("Wh", Wh), ("b", b))
    return _to(layout, Wx, Wh, b)


def from_layout(layout: str, weights: Mapping[str, Array]) -> tuple[Array, Array, Array]:
    """Convert one layer's weights from ``layout`` to packed ``(Wx, Wh, b)``.

    Parameters
    ----------
    layout : str
        One of :data:`LAYOUTS`.
    weights : dict
        Exactly the keys of the layout (see the module table).

    Returns
    -------
    Wx : ndarray (D, 4H)
    Wh : ndarray (H, 4H)
    b : ndarray (4H,)
        New arrays. For ``"torch"``, ``b = bias_ih + bias_hh``.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import from_layout
    >>> H, D = 2, 3
    >>> w = {f"W{g}": np.zeros((H + D, H)) for g in "fico"}
    >>> w.update({f"b{g}": np.ones((1, H)) for g in "fico"})
    >>> Wx, Wh, b = from_layout("concat_hx", w)
    >>> Wx.shape, Wh.shape, b
    ((3, 8), (2, 8), array([1., 1., 1., 1., 1., 1., 1., 1.]))
    """
    arrays, D, H = _check_layout(layout, weights, "weights")
    return _from(layout, arrays, D, H, _sum_biases)


def grads_to_layout(layout: str, dWx: Array, dWh: Array, db: Array) -> dict[str, Array]:
    """Convert one layer's packed gradients to the gradients of another layout.

    Identical to :func:`to_layout` except for ``"torch"``, where both ``bias_ih`` and
    ``bias_hh`` receive ``db`` (the loss depends on their sum only).

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import grads_to_layout, to_layout
    >>> dWx, dWh, db = np.ones((3, 8)), np.ones((2, 8)), np.arange(8.0)
    >>> grads_to_layout("torch", dWx, dWh, db)["bias_hh"]  # H = 2, torch order i, f, g, o
    array([0., 1., 2., 3., 6., 7., 4., 5.])
    >>> to_layout("torch", dWx, dWh, db)["bias_hh"]
    array([-0., -0., -0., -0., -0., -0., -0., -0.])
    """
    check_choice("layout", layout, LAYOUTS)
    dWx = float_array("dWx", dWx)
    dWh = float_array("dWh", dWh)
    check_dims("dWh", dWh, "(H, 4H)")
    check_dims("dWx", dWx, "(D, 4H)")
    D, H = dWx.shape[0], dWh.shape[0]
    db = float_array("db", db)
    because = f"dWx has D={D} rows and dWh has H={H} rows"
    check_shape("dWx", dWx, (D, 4 * H), "(D, 4H)", because)
    check_shape("dWh", dWh, (H, 4 * H), "(H, 4H)", because)
    check_dims("db", db, "(4H,)")
    check_shape("db", db, (4 * H,), "(4H,)", because)
    check_same_dtype(("dWx", dWx), ("dWh", dWh), ("db", db))
    out = _to(layout, dWx, dWh, db)
    if layout == "torch":
        out["bias_hh"] = out["bias_ih"].copy()
    return out


def grads_from_layout(layout: str, grads: Mapping[str, Array]) -> tuple[Array, Array, Array]:
    """Convert one layer's gradients from ``layout`` to packed ``(dWx, dWh, db)``.

    Identical to :func:`from_layout` except for ``"torch"``, where ``db`` is the gradient
    of ``bias_ih``, after checking that the gradient of ``bias_hh`` equals it up to
    rounding (:class:`ArgumentError` otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import grads_from_layout, grads_to_layout
    >>> g = grads_to_layout("torch", np.ones((3, 8)), np.ones((2, 8)), np.arange(8.0))
    >>> grads_from_layout("torch", g)[2]
    array([0., 1., 2., 3., 4., 5., 6., 7.])
    """
    arrays, D, H = _check_layout(layout, grads, "grads")
    return _from(layout, arrays, D, H, _check_equal_bias_grads("bias_ih", "bias_hh"))


# ----------------------------------------------------------------------------------------
# Whole-model conversion to and from nn.LSTM + nn.Linear.
# ----------------------------------------------------------------------------------------

_TORCH_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _torch_layer_count(state_dict: object, prefix: str, fc_prefix: str) -> int:
    if not isinstance(state_dict, Mapping):
        raise ArgumentError(f"state_dict must be a dict of arrays, got {type(state_dict).__name__}")
    pattern = re.compile(re.escape(prefix) + r"(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)")
    layers = set()
    for key in state_dict:
        match = pattern.fullmatch(key) if isinstance(key, str) else None
        if match:
            layers.add(int(match[2]))
        elif key not in (fc_prefix + "weight", fc_prefix + "bias"):
            raise ArgumentError(
                f"unexpected key {key!r}; expected {prefix}weight_ih_l{{k}}, "
                f"{prefix}weight_hh_l{{k}}, {prefix}bias_ih_l{{k}}, {prefix}bias_hh_l{{k}}, "
                f"{fc_prefix}weight and {fc_prefix}bias (check prefix and fc_prefix)"
            )
    L = max(layers) + 1 if layers else 0
    expected = [f"{prefix}{n}_l{k}" for k in range(L) for n in _TORCH_NAMES]
    expected += [fc_prefix + "weight", fc_prefix + "bias"]
    missing = [key for key in expected if key not in state_dict]
    if missing or L == 0:
        raise ArgumentError(f"state_dict is missing {missing or [prefix + 'weight_ih_l0']}")
    return L


def _model_to_torch(
    tensors: Mapping[str, Array], prefix: str, fc_prefix: str, grads: bool
) -> tuple[dict[str, Array], Array, Array]:
    dims = check_params(tensors, need_fc=True)
    sd: dict[str, Array] = {}
    for k in range(dims.L):
        p = f"layer{k}."
        layer = _to("torch", tensors[p + "Wx"], tensors[p + "Wh"], tensors[p + "b"])
        if grads:
            layer["bias_hh"] = layer["bias_ih"].copy()
        for name in _TORCH_NAMES:
            sd[f"{prefix}{name}_l{k}"] = layer[name]
    sd[fc_prefix + "weight"] = np.ascontiguousarray(tensors["fc.W"].T)
    sd[fc_prefix + "bias"] = tensors["fc.b"].copy()
    h0 = np.stack([tensors[f"layer{k}.h0"] for k in range(dims.L)])
    c0 = np.stack([tensors[f"layer{k}.c0"] for k in range(dims.L)])
    return sd, h0, c0


def _model_from_torch(
    sd: Mapping[str, Array],
    states: tuple[tuple[str, object], tuple[str, object]],
    prefix: str,
    fc_prefix: str,
    grads: bool,
) -> dict[str, Array]:
    L = _torch_layer_count(sd, prefix, fc_prefix)
    stacked = []
    for name, value in states:
        arr = float_array(name, value)
        check_dims(name, arr, "(L, N, H)")
        check_shape(name, arr, (L, *arr.shape[1:]), "(L, N, H)", f"there are L={L} layers")
        stacked.append(arr)
    out: dict[str, Array] = {}
    for k in range(L):
        layer = {name: sd[f"{prefix}{name}_l{k}"] for name in _TORCH_NAMES}
        arrays, D, H = _check_layout("torch", layer, f"layer {k} of the state_dict")
        if grads:
            pick = _check_equal_bias_grads(f"{prefix}bias_ih_l{k}", f"{prefix}bias_hh_l{k}")
            Wx, Wh, b = _from("torch", arrays, D, H, pick)
        else:
            Wx, Wh, b = _from("torch", arrays, D, H, _sum_biases)
        out[f"layer{k}.Wx"], out[f"layer{k}.Wh"], out[f"layer{k}.b"] = Wx, Wh, b
        out[f"layer{k}.h0"] = stacked[0][k].copy()
        out[f"layer{k}.c0"] = stacked[1][k].copy()
    W = float_array(fc_prefix + "weight", sd[fc_prefix + "weight"])
    check_dims(fc_prefix + "weight", W, "(C, H)")
    out["fc.W"] = np.ascontiguousarray(W.T)
    out["fc.b"] = float_array(fc_prefix + "bias", sd[fc_prefix + "bias"]).copy()
    check_params(out, need_fc=True)  # shapes and dtypes across layers, states and fc
    return out


def params_to_torch(
    params: Mapping[str, Array], *, prefix: str = "lstm.", fc_prefix: str = "fc."
) -> tuple[dict[str, Array], Array, Array]:
    """Convert model params to an nn.LSTM + nn.Linear state dict and initial states.

    Parameters
    ----------
    params : dict
        lstm_ref params (``layer{k}.*``, ``fc.W``, ``fc.b``).
    prefix, fc_prefix : str
        Prepended to nn.LSTM's and nn.Linear's parameter names, as in the state dict of a
        module with attributes ``lstm`` and ``fc``.

    Returns
    -------
    state_dict : dict
        ``{prefix}weight_ih_l{k}`` (4H, D_k), ``{prefix}weight_hh_l{k}`` (4H, H),
        ``{prefix}bias_ih_l{k}`` = b, ``{prefix}bias_hh_l{k}`` = zeros (4H,), in torch's
        gate order i, f, g, o; ``{fc_prefix}weight`` (C, H), ``{fc_prefix}bias`` (C,).
    h0, c0 : ndarray (L, N, H)
        The initial states, stacked as nn.LSTM expects them.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import init_params, params_to_torch
    >>> params = init_params(np.random.default_rng(0), N=2, D=3, H=4, C=5, L=2)
    >>> sd, h0, c0 = params_to_torch(params)
    >>> sd["lstm.weight_ih_l1"].shape, sd["fc.weight"].shape, h0.shape
    ((16, 4), (5, 4), (2, 2, 4))
    """
    return _model_to_torch(params, prefix, fc_prefix, grads=False)


def params_from_torch(
    state_dict: Mapping[str, Array],
    h0: Array,
    c0: Array,
    *,
    prefix: str = "lstm.",
    fc_prefix: str = "fc.",
) -> dict[str, Array]:
    """Inverse of :func:`params_to_torch`: ``b = bias_ih + bias_hh`` for each layer.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import init_params, params_from_torch, params_to_torch
    >>> params = init_params(np.random.default_rng(0), N=2, D=3, H=4, C=5, L=2)
    >>> back = params_from_torch(*params_to_torch(params))
    >>> list(back) == list(params), all(np.array_equal(back[k], params[k]) for k in params)
    (True, True)
    """
    return _model_from_torch(state_dict, (("h0", h0), ("c0", c0)), prefix, fc_prefix, False)


def grads_to_torch(
    grads: Mapping[str, Array], *, prefix: str = "lstm.", fc_prefix: str = "fc."
) -> tuple[dict[str, Array], Array, Array]:
    """Convert model gradients to the gradients of the nn.LSTM + nn.Linear parameters.

    Like :func:`params_to_torch`, except that the gradients of both ``bias_ih_l{k}`` and
    ``bias_hh_l{k}`` are ``db``. Returns ``(state_dict_grads, dh0, dc0)``.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import grads_to_torch, init_params
    >>> g = init_params(np.random.default_rng(0), N=2, D=3, H=4, C=5)
    >>> sd, dh0, dc0 = grads_to_torch(g)
    >>> bool(np.array_equal(sd["lstm.bias_ih_l0"], sd["lstm.bias_hh_l0"]))
    True
    """
    return _model_to_torch(grads, prefix, fc_prefix, grads=True)


def grads_from_torch(
    state_dict_grads: Mapping[str, Array],
    dh0: Array,
    dc0: Array,
    *,
    prefix: str = "lstm.",
    fc_prefix: str = "fc.",
) -> dict[str, Array]:
    """Inverse of :func:`grads_to_torch`: ``db`` is the gradient of ``bias_ih_l{k}``.

    Raises :class:`ArgumentError` if the gradients of ``bias_ih_l{k}`` and
    ``bias_hh_l{k}`` differ by more than rounding.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import grads_from_torch, grads_to_torch, init_params
    >>> g = init_params(np.random.default_rng(0), N=2, D=3, H=4, C=5)
    >>> back = grads_from_torch(*grads_to_torch(g))
    >>> all(np.array_equal(back[k], g[k]) for k in g)
    True
    """
    return _model_from_torch(
        state_dict_grads, (("dh0", dh0), ("dc0", dc0)), prefix, fc_prefix, True
    )
