"""The parameter layouts of the documents and of PyTorch: one table, and the conversions it drives.

lstm_ref computes with one layer's weights *packed*: ``Wx (D, 4H)``, ``Wh (H, 4H)``,
``b (4H,)``, gate order i, f, o, g, row-vector convention ``a = x Wx + h Wh + b``. The
documents store the same numbers differently; :data:`TABLE` describes each way as one
:class:`Layout` entry, and every conversion below is derived from the entry:

============== ======== ======================================== =============================
layout         document keys (gate letters as the document)       shapes
============== ======== ======================================== =============================
``packed``     000      ``Wx``, ``Wh``, ``b``                     (D, 4H), (H, 4H), (4H,)
``per_gate_col`` 001    ``Wix Wfx Wox Wcx``; ``Wih Wfh Woh Wch``; (H, D); (H, H); (H, 1)
                        ``bi bf bo bc``                           (column vectors: a = W x + b)
``per_gate_row`` 004    ``W_xi W_xf W_xo W_xc``; ``W_hi .. W_hc``; (D, H); (H, H); (H,)
                        ``b_i b_f b_o b_c``
``concat_xh``  002      ``Wi Wf Wo Wg``; ``bi bf bo bg``          (D+H, H) acting on [x, h]; (H,)
``concat_hx``  003      ``Wi Wf Wo Wc``; ``bi bf bo bc``          (H+D, H) acting on [h, x]; (1, H)
``torch``      nn.LSTM  ``weight_ih``, ``weight_hh``,             (4H, D), (4H, H), (4H,), (4H,)
                        ``bias_ih``, ``bias_hh``                  gate order i, f, g, o
============== ======== ======================================== =============================

Document 002 does not name its four maps; ``Wi .. Wg`` is our choice. Document 001
writes the candidate gate g as "c" (``Wcx``), and so do 003 and 004 (``Wc``, ``W_xc``).

How an entry describes a parameter
----------------------------------
Each :class:`LayoutParam` is a block of the packed weights: the rows of the packed arrays
named in ``parts`` (``Wx`` gives D rows, ``Wh`` H rows, ``b`` one row), stacked in that
order, and the gate columns named in ``gates`` (H columns each), side by side in that
order. That (rows, len(gates) * H) matrix is stored transposed when ``transposed`` is set
(the column-vector convention), then reshaped to ``shape``. Document 003's ``Wf`` is the
rows of ``Wh`` then ``Wx`` and the columns of gate f, ``(H+D, H)``; nn.LSTM's
``weight_ih`` is the rows of ``Wx`` and the gate columns i, f, g, o, transposed to
``(4H, D)``. ``axes`` names the axes of the stored array for reports
(:func:`lstm_ref.annotations`).

A parameter that covers the same block as an earlier one is *added* to it by the model:
nn.LSTM's ``bias_hh`` next to ``bias_ih``. Converting weights and converting gradients
then differ:

* weights to the layout: the first parameter gets the block, the later ones zeros
  (negative zeros, so that ``bias_ih + bias_hh`` gives back ``b`` bit for bit, signed
  zeros included);
* weights from the layout: the block is their sum (so a torch -> packed -> torch round trip
  is exact only when ``bias_hh`` is zero; the forward pass is the same either way);
* gradients to the layout: every one of them gets the block's gradient (the loss depends
  on the sum only);
* gradients from the layout: the first one's gradient, after checking that the others
  equal it up to rounding (relative difference at most ``sqrt(eps)`` of the dtype; torch
  sums the two over time in different orders, so they need not be bitwise equal).

Every other conversion only moves entries (slices, transposes, reshapes and
concatenations), so it is exact in both directions, bit for bit. A gradient moves exactly
like its weight: if ``p' = Pi p`` for a permutation ``Pi``, then ``dL/dp' = Pi dL/dp``.

Adding a layout is adding one entry to :data:`TABLE`; the entry is checked when the module
is imported (every packed entry covered, shapes consistent with the blocks).

Functions (``layout`` is a name from :data:`LAYOUTS`, ``weights`` a dict with its keys)
----------------------------------------------------------------------------------------
======================================= =================================================
``get_layout(layout)``                  the :class:`Layout` entry (a clear error otherwise)
``to_layout(layout, Wx, Wh, b)``        packed weights -> dict of the layout
``from_layout(layout, weights)``        dict of the layout -> ``(Wx, Wh, b)``
``grads_to_layout(layout, dWx, dWh, db)`` packed gradients -> gradients in the layout
``grads_from_layout(layout, grads)``    gradients in the layout -> ``(dWx, dWh, db)``
``Layout.unpack(params)``, ``.pack``    whole-model params: ``layer{k}.{key}`` <-> packed
``Layout.unpack_grads``, ``.pack_grads`` the same for gradients
``Layout.wrap(loss_fn)``                a packed-params loss as a loss of layout params
``params_to_torch(params)``             model params -> ``(state_dict, h0, c0)``
``params_from_torch(sd, h0, c0)``       inverse of ``params_to_torch``
``grads_to_torch(grads)``               model grads -> ``(state_dict_grads, dh0, dc0)``
``grads_from_torch(sd_grads, dh0, dc0)`` inverse of ``grads_to_torch``
======================================= =================================================

The torch model-level functions also move ``fc.W`` (H, C) to nn.Linear's ``weight`` (C, H)
and stack the per-layer initial states into nn.LSTM's ``(L, N, H)`` tensors. lstm_ref does
not import torch: the state dict holds numpy arrays (wrap them with ``torch.from_numpy``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeAlias

import numpy as np

from ._errors import ArgumentError
from ._lstm import check_weights
from ._model import FC_KEYS, check_params
from ._types import Array
from ._validation import check_dims, check_same_dtype, check_shape, float_array

__all__ = [
    "GATES",
    "LAYOUTS",
    "TABLE",
    "Layout",
    "LayoutParam",
    "from_layout",
    "get_layout",
    "grads_from_layout",
    "grads_from_torch",
    "grads_to_layout",
    "grads_to_torch",
    "params_from_torch",
    "params_to_torch",
    "to_layout",
]

#: The packed gate order.
GATES = ("i", "f", "o", "g")
#: An axis of an annotation: a name, None, or ``(name, labels)`` for an axis split into
#: ``len(labels)`` equal blocks (see :func:`lstm_ref.annotations`).
Axis: TypeAlias = str | None | tuple[str, tuple[str, ...]]
#: The packed gate axis of length 4H: four consecutive blocks of H, gates i, f, o, g.
GATE_AXIS: Axis = ("gate", GATES)

_PARTS = ("Wx", "Wh", "b")
_DIM = re.compile(r"(\d*)([DH])|(\d+)")
_LAYER_NAME = re.compile(r"layer(\d+)\.(.+)")
_STATES = ("h0", "c0")


def _parse_dim(text: str) -> tuple[int, int, int]:
    """``"D+H"`` -> (1, 1, 0), ``"4H"`` -> (0, 4, 0), ``"1"`` -> (0, 0, 1): a*D + b*H + c."""
    a = b = c = 0
    for term in text.split("+"):
        match = _DIM.fullmatch(term.strip())
        if match is None:
            raise ValueError(f"cannot read the dimension {text!r}")
        if match[3]:
            c += int(match[3])
        elif match[2] == "D":
            a += int(match[1] or 1)
        else:
            b += int(match[1] or 1)
    return a, b, c


@dataclass(frozen=True)
class LayoutParam:
    """One parameter of a layout: which block of the packed weights it holds, and how.

    Attributes
    ----------
    key : str
        Its name in the layout (``"Wfh"``, ``"weight_ih"``...).
    shape : str
        Its shape in letters D and H, e.g. ``"(H+D, H)"``, ``"(4H,)"``, ``"(H, 1)"``.
    parts : tuple of str
        Rows: the packed arrays ``"Wx"`` (D rows), ``"Wh"`` (H rows) or ``"b"`` (one row),
        stacked in this order.
    gates : tuple of str
        Columns: gate blocks of H columns from ``"i", "f", "o", "g"``, in this order.
    transposed : bool
        Stored as the transpose of the (rows, columns) matrix (column-vector convention).
    axes : tuple
        The axis names of the stored array, for reports (see :func:`lstm_ref.annotations`).
    """

    key: str
    shape: str
    parts: tuple[str, ...]
    gates: tuple[str, ...]
    transposed: bool = False
    axes: tuple[Axis, ...] = ()

    @property
    def dims(self) -> tuple[tuple[int, int, int], ...]:
        """The shape as coefficients ``(a, b, c)`` of ``a*D + b*H + c``, per axis."""
        return tuple(_parse_dim(d) for d in self.shape.strip("()").split(",") if d.strip())

    def shape_for(self, D: int, H: int) -> tuple[int, ...]:
        """The shape for input size D and hidden size H.

        Examples
        --------
        >>> from lstm_ref import get_layout
        >>> get_layout("concat_hx").params[0].shape_for(D=3, H=2)
        (5, 2)
        """
        return tuple(a * D + b * H + c for a, b, c in self.dims)


@dataclass(frozen=True)
class Layout:
    """One way of storing an LSTM layer's weights (an entry of :data:`TABLE`).

    The conversions are methods: one layer (``unpack_layer``, ``pack_layer`` and their
    ``_grads`` twins) or a whole model's flat params dict (``unpack``, ``pack``,
    ``unpack_grads``, ``pack_grads``, ``wrap``) with names ``layer{k}.{key}`` for the
    layer weights, next to ``layer{k}.h0``, ``layer{k}.c0``, ``fc.W`` and ``fc.b``, which
    pass through unchanged.

    Examples
    --------
    >>> from lstm_ref import get_layout
    >>> torch = get_layout("torch")
    >>> torch.keys, torch.source
    (('weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'), 'nn.LSTM')
    >>> torch.shapes(D=3, H=2)["weight_ih"]
    (8, 3)
    """

    name: str
    source: str
    description: str
    params: tuple[LayoutParam, ...]
    #: for each parameter that repeats the block of an earlier one, that earlier key
    duplicates: Mapping[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "duplicates", MappingProxyType(_validate_entry(self)))

    @property
    def keys(self) -> tuple[str, ...]:
        """The parameter names of one layer, in order."""
        return tuple(p.key for p in self.params)

    def param(self, key: str) -> LayoutParam:
        """The entry of the parameter ``key`` (ArgumentError if the layout has none)."""
        for p in self.params:
            if p.key == key:
                return p
        raise ArgumentError(
            f"layout {self.name!r} has no parameter {key!r}; its parameters are {list(self.keys)}"
        )

    def shapes(self, D: int, H: int) -> dict[str, tuple[int, ...]]:
        """The shape of every parameter of one layer for input size D and hidden size H."""
        return {p.key: p.shape_for(D, H) for p in self.params}

    def sizes(self, weights: Mapping[str, Any], what: str = "weights") -> tuple[int, int]:
        """Validate one layer's dict (keys, dtypes, shapes) and return its ``(D, H)``."""
        return _check_layer(self, weights, what)[1:]

    # one layer ------------------------------------------------------------------------

    def unpack_layer(self, Wx: Array, Wh: Array, b: Array) -> dict[str, Array]:
        """Packed weights -> a new dict of this layout (see :func:`to_layout`)."""
        Wx, Wh, b = _check_packed(("Wx", Wx), ("Wh", Wh), ("b", b))
        return _unpack(self, Wx, Wh, b, grads=False)

    def pack_layer(self, weights: Mapping[str, Array]) -> tuple[Array, Array, Array]:
        """A dict of this layout -> new packed ``(Wx, Wh, b)`` (see :func:`from_layout`)."""
        arrays, D, H = _check_layer(self, weights, "weights")
        return _pack(self, arrays, D, H, grads=False)

    def unpack_layer_grads(self, dWx: Array, dWh: Array, db: Array) -> dict[str, Array]:
        """Packed gradients -> gradients in this layout (see :func:`grads_to_layout`)."""
        dWx, dWh, db = _check_packed(("dWx", dWx), ("dWh", dWh), ("db", db))
        return _unpack(self, dWx, dWh, db, grads=True)

    def pack_layer_grads(self, grads: Mapping[str, Array]) -> tuple[Array, Array, Array]:
        """Gradients in this layout -> packed ``(dWx, dWh, db)`` (see :func:`grads_from_layout`)."""
        arrays, D, H = _check_layer(self, grads, "grads")
        return _pack(self, arrays, D, H, grads=True)

    # whole model ----------------------------------------------------------------------

    def unpack(self, params: Mapping[str, Array]) -> dict[str, Array]:
        """Packed model params -> params in this layout, ``layer{k}.{key}`` for every key.

        ``layer{k}.Wx``, ``.Wh`` and ``.b`` are replaced by the layout's keys (in place of
        them); every other name (``layer{k}.h0``, ``layer{k}.c0``, ``fc.W``, ``fc.b``) is
        kept, as the same array.

        Examples
        --------
        >>> import numpy as np
        >>> from lstm_ref import get_layout, init_params
        >>> params = init_params(np.random.default_rng(0), N=2, D=3, H=4, C=2, L=2)
        >>> p = get_layout("per_gate_row").unpack(params)
        >>> list(p)[:4], p["layer1.W_xf"].shape, list(p)[-2:]
        (['layer0.W_xi', 'layer0.W_hi', 'layer0.b_i', 'layer0.W_xf'], (4, 4), ['fc.W', 'fc.b'])
        >>> back = get_layout("per_gate_row").pack(p)
        >>> all(np.array_equal(back[k], params[k]) for k in params)
        True
        """
        return _unpack_model(self, params, grads=False)

    def pack(self, params: Mapping[str, Array]) -> dict[str, Array]:
        """Params in this layout -> packed model params (inverse of :meth:`unpack`)."""
        return _pack_model(self, params, grads=False)

    def unpack_grads(self, grads: Mapping[str, Array]) -> dict[str, Array]:
        """Packed model gradients -> gradients in this layout (see :meth:`unpack`)."""
        return _unpack_model(self, grads, grads=True)

    def pack_grads(self, grads: Mapping[str, Array]) -> dict[str, Array]:
        """Gradients in this layout -> packed model gradients."""
        return _pack_model(self, grads, grads=True)

    def wrap(
        self, loss_fn: Callable[..., tuple[Any, Mapping[str, Array]]]
    ) -> Callable[..., tuple[Any, dict[str, Array]]]:
        """``loss_fn(packed_params, ...)`` as a function of params in this layout.

        The returned function packs its first argument, calls ``loss_fn`` with it and the
        other arguments, and returns ``(loss, grads)`` with the gradients in this layout,
        keyed like its params.

        Examples
        --------
        >>> import numpy as np
        >>> from lstm_ref import get_layout, init_params, loss
        >>> rng = np.random.default_rng(0)
        >>> params = init_params(rng, N=2, D=3, H=4, C=2)
        >>> x, y = rng.normal(size=(2, 5, 3)), np.array([0, 1])
        >>> torch = get_layout("torch")
        >>> value, grads = torch.wrap(loss)(torch.unpack(params), x, y)
        >>> bool(value == loss(params, x, y)[0]), grads["layer0.weight_hh"].shape
        (True, (16, 4))
        """
        if self.name == "packed":
            return lambda params, *args, **kwargs: _passthrough(loss_fn, params, args, kwargs)

        def wrapped(params: Mapping[str, Array], *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            value, grads = loss_fn(self.pack(params), *args, **kwargs)
            layout_grads = self.unpack_grads(grads)
            return value, {name: layout_grads[name] for name in params if name in layout_grads}

        return wrapped


def _passthrough(
    loss_fn: Callable[..., tuple[Any, Mapping[str, Array]]],
    params: Mapping[str, Array],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[Any, dict[str, Array]]:
    value, grads = loss_fn(params, *args, **kwargs)
    return value, dict(grads)


def _validate_entry(lay: Layout) -> dict[str, str]:
    """Check a table entry; return its duplicate parameters (key -> the key they repeat)."""
    where = f"layout {lay.name!r}"
    covered: dict[tuple[str, str], str] = {}
    duplicates: dict[str, str] = {}
    keys = [p.key for p in lay.params]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{where} repeats a parameter name: {keys}")
    for p in lay.params:
        if not p.parts or any(part not in _PARTS for part in p.parts):
            raise ValueError(f"{where}: {p.key} has parts {p.parts}, expected some of {_PARTS}")
        if "b" in p.parts and len(p.parts) > 1:
            raise ValueError(f"{where}: {p.key} mixes the bias with weight rows")
        if not p.gates or any(g not in GATES for g in p.gates) or len(set(p.gates)) < len(p.gates):
            raise ValueError(f"{where}: {p.key} has gates {p.gates}, expected some of {GATES}")
        for D, H in ((2, 3), (5, 7)):
            rows = sum({"Wx": D, "Wh": H, "b": 1}[part] for part in p.parts)
            size = int(np.prod(p.shape_for(D, H)))
            if size != rows * len(p.gates) * H:
                raise ValueError(
                    f"{where}: {p.key} has shape {p.shape} but holds {len(p.parts)} part(s) "
                    f"{p.parts} x {len(p.gates)} gate(s)"
                )
        if p.axes and len(p.axes) != len(p.dims):
            raise ValueError(f"{where}: {p.key} has {len(p.axes)} axes names for {p.shape}")
        blocks = [(part, g) for part in p.parts for g in p.gates]
        earlier = {covered.get(block) for block in blocks}
        if earlier == {None}:
            covered.update(dict.fromkeys(blocks, p.key))
            continue
        first = earlier.pop() if len(earlier) == 1 else None
        twin = next((q for q in lay.params if q.key == first), None)
        if twin is None or (twin.parts, twin.gates) != (p.parts, p.gates):
            raise ValueError(
                f"{where}: {p.key} overlaps earlier parameters only in part; a parameter "
                "must cover new blocks or repeat exactly the blocks of one earlier parameter"
            )
        if (twin.shape, twin.transposed) != (p.shape, p.transposed):
            raise ValueError(f"{where}: {p.key} repeats {twin.key} but is stored differently")
        duplicates[p.key] = twin.key
    missing = [(part, g) for part in _PARTS for g in GATES if (part, g) not in covered]
    if missing:
        raise ValueError(f"{where} does not cover the packed blocks {missing}")
    return duplicates


def _per_gate(
    letters: str, make: Callable[[str, str], tuple[LayoutParam, ...]]
) -> tuple[LayoutParam, ...]:
    """The parameters of a layout with one set per gate, gates in packed order i, f, o, g."""
    return tuple(p for letter, gate in zip(letters, GATES, strict=True) for p in make(letter, gate))


_TORCH_GATES = ("i", "f", "g", "o")
_TORCH_GATE_AXIS: Axis = ("gate", _TORCH_GATES)

#: Every layout, by name. Adding a layout is adding an entry here.
TABLE: Mapping[str, Layout] = MappingProxyType(
    {
        lay.name: lay
        for lay in (
            Layout(
                "packed",
                "document 000",
                "lstm_ref's own: gate blocks i, f, o, g side by side, a = x Wx + h Wh + b",
                (
                    LayoutParam("Wx", "(D, 4H)", ("Wx",), GATES, axes=("input", GATE_AXIS)),
                    LayoutParam("Wh", "(H, 4H)", ("Wh",), GATES, axes=("hidden", GATE_AXIS)),
                    LayoutParam("b", "(4H,)", ("b",), GATES, axes=(GATE_AXIS,)),
                ),
            ),
            Layout(
                "per_gate_col",
                "document 001",
                "one matrix per gate, column vectors: a_f = Wfx x + Wfh h + bf",
                _per_gate(
                    "ifoc",
                    lambda n, g: (
                        LayoutParam(f"W{n}x", "(H, D)", ("Wx",), (g,), True, ("hidden", "input")),
                        LayoutParam(f"W{n}h", "(H, H)", ("Wh",), (g,), True, ("hidden", "hidden")),
                        LayoutParam(f"b{n}", "(H, 1)", ("b",), (g,), True, ("hidden", None)),
                    ),
                ),
            ),
            Layout(
                "per_gate_row",
                "document 004",
                "one matrix per gate, row vectors: F = sigmoid(X W_xf + H W_hf + b_f)",
                _per_gate(
                    "ifoc",
                    lambda n, g: (
                        LayoutParam(f"W_x{n}", "(D, H)", ("Wx",), (g,), axes=("input", "hidden")),
                        LayoutParam(f"W_h{n}", "(H, H)", ("Wh",), (g,), axes=("hidden", "hidden")),
                        LayoutParam(f"b_{n}", "(H,)", ("b",), (g,), axes=("hidden",)),
                    ),
                ),
            ),
            Layout(
                "concat_xh",
                "document 002",
                "four linear maps of the concatenation [x_t, h_{t-1}]",
                _per_gate(
                    "ifog",
                    lambda n, g: (
                        LayoutParam(
                            f"W{n}", "(D+H, H)", ("Wx", "Wh"), (g,), axes=("input+hidden", "hidden")
                        ),
                        LayoutParam(f"b{n}", "(H,)", ("b",), (g,), axes=("hidden",)),
                    ),
                ),
            ),
            Layout(
                "concat_hx",
                "document 003",
                "four linear maps of the concatenation [h_{t-1}, x_t], biases (1, H)",
                _per_gate(
                    "ifoc",
                    lambda n, g: (
                        LayoutParam(
                            f"W{n}", "(H+D, H)", ("Wh", "Wx"), (g,), axes=("hidden+input", "hidden")
                        ),
                        LayoutParam(f"b{n}", "(1, H)", ("b",), (g,), axes=(None, "hidden")),
                    ),
                ),
            ),
            Layout(
                "torch",
                "nn.LSTM",
                "weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k} + bias_hh_l{k}, gates i, f, g, o",
                (
                    LayoutParam(
                        "weight_ih",
                        "(4H, D)",
                        ("Wx",),
                        _TORCH_GATES,
                        True,
                        (_TORCH_GATE_AXIS, "input"),
                    ),
                    LayoutParam(
                        "weight_hh",
                        "(4H, H)",
                        ("Wh",),
                        _TORCH_GATES,
                        True,
                        (_TORCH_GATE_AXIS, "hidden"),
                    ),
                    LayoutParam("bias_ih", "(4H,)", ("b",), _TORCH_GATES, axes=(_TORCH_GATE_AXIS,)),
                    LayoutParam("bias_hh", "(4H,)", ("b",), _TORCH_GATES, axes=(_TORCH_GATE_AXIS,)),
                ),
            ),
        )
    }
)

#: Names accepted by :func:`get_layout`, :func:`to_layout` and friends.
LAYOUTS: tuple[str, ...] = tuple(TABLE)


def get_layout(name: object) -> Layout:
    """The :class:`Layout` entry called ``name``.

    Raises
    ------
    ArgumentError
        For a name that is not in :data:`LAYOUTS` (with the closest name as a hint):
        nothing falls back to a default layout.

    Examples
    --------
    >>> from lstm_ref import get_layout
    >>> get_layout("per_gate_col").keys[:3]
    ('Wix', 'Wih', 'bi')
    >>> get_layout("pytorch")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lstm_ref._errors.ArgumentError: layout must be one of ..., got 'pytorch'; did you mean 'torch'?
    """
    if isinstance(name, str) and name in TABLE:
        return TABLE[name]
    options = ", ".join(repr(c) for c in LAYOUTS)
    close = difflib.get_close_matches(name, LAYOUTS, n=1) if isinstance(name, str) else []
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ArgumentError(f"layout must be one of {options}, got {name!r}{hint}")


# ----------------------------------------------------------------------------------------
# The conversions, derived from an entry.
# ----------------------------------------------------------------------------------------


def _rows(part: str, D: int, H: int) -> int:
    return {"Wx": D, "Wh": H, "b": 1}[part]


def _canonical_shape(p: LayoutParam, D: int, H: int) -> tuple[int, int]:
    """(rows, columns) of the block matrix, before transposing and reshaping."""
    return sum(_rows(part, D, H) for part in p.parts), len(p.gates) * H


def _check_packed(*named: tuple[str, object]) -> tuple[Array, Array, Array]:
    (nx, Wx), (nh, Wh), (nb, b) = named
    Wx = float_array(nx, Wx)
    Wh = float_array(nh, Wh)
    check_dims(nh, Wh, "(H, 4H)")
    check_dims(nx, Wx, "(D, 4H)")
    D, H = Wx.shape[0], Wh.shape[0]
    because = f"{nx} has D={D} rows and {nh} has H={H} rows"
    if nx == "Wx":
        Wx, Wh, b = check_weights(D, H, Wx, Wh, b, because)
    else:
        b = float_array(nb, b)
        check_shape(nx, Wx, (D, 4 * H), "(D, 4H)", because)
        check_shape(nh, Wh, (H, 4 * H), "(H, 4H)", because)
        check_dims(nb, b, "(4H,)")
        check_shape(nb, b, (4 * H,), "(4H,)", because)
    check_same_dtype((nx, Wx), (nh, Wh), (nb, b))
    return Wx, Wh, b


def _unpack(lay: Layout, Wx: Array, Wh: Array, b: Array, *, grads: bool) -> dict[str, Array]:
    """Packed arrays -> the layout's dict, new arrays; no checks."""
    D, H = Wx.shape[0], Wh.shape[0]
    packed = {"Wx": Wx, "Wh": Wh, "b": b.reshape(1, 4 * H)}
    out: dict[str, Array] = {}
    for p in lay.params:
        twin = lay.duplicates.get(p.key)
        if twin is not None:
            out[p.key] = out[twin].copy() if grads else np.full(out[twin].shape, -0.0, b.dtype)
            continue
        matrix = np.concatenate(
            [
                np.concatenate(
                    [
                        packed[part][:, GATES.index(g) * H : (GATES.index(g) + 1) * H]
                        for g in p.gates
                    ],
                    axis=1,
                )
                for part in p.parts
            ],
            axis=0,
        )
        stored = np.ascontiguousarray(matrix.T) if p.transposed else matrix
        out[p.key] = stored.reshape(p.shape_for(D, H))
    return out


def _pack(
    lay: Layout,
    w: Mapping[str, Array],
    D: int,
    H: int,
    *,
    grads: bool,
    name: Callable[[str], str] = str,
    check: bool = True,
) -> tuple[Array, Array, Array]:
    """The layout's dict -> new packed ``(Wx, Wh, b)``; shapes already checked.

    Repeated blocks are summed for weights; for gradients the first is kept after checking
    that the others equal it (``name`` spells a key in that message; ``check=False`` keeps
    the first without looking).
    """
    dtype = w[lay.params[0].key].dtype
    packed = {
        "Wx": np.empty((D, 4 * H), dtype=dtype),
        "Wh": np.empty((H, 4 * H), dtype=dtype),
        "b": np.empty((1, 4 * H), dtype=dtype),
    }
    for p in lay.params:
        rows, cols = _canonical_shape(p, D, H)
        stored = w[p.key]
        matrix = stored.reshape(cols, rows).T if p.transposed else stored.reshape(rows, cols)
        twin = lay.duplicates.get(p.key)
        if twin is not None and grads:
            if check:
                _check_equal_grads(name(twin), w[twin], name(p.key), w[p.key])
            continue
        row = 0
        for part in p.parts:
            n = _rows(part, D, H)
            for j, g in enumerate(p.gates):
                k = GATES.index(g)
                target = packed[part][:, k * H : (k + 1) * H]
                block = matrix[row : row + n, j * H : (j + 1) * H]
                if twin is None:
                    target[...] = block
                else:
                    np.add(target, block, out=target)
            row += n
    return packed["Wx"], packed["Wh"], packed["b"].reshape(4 * H)


def _check_equal_grads(name_a: str, a: Array, name_b: str, b: Array) -> None:
    info = np.finfo(a.real.dtype)
    largest = max(float(np.abs(a).max()), float(np.abs(b).max()))
    scale = max(largest, float(info.tiny))
    diff = float(np.abs(a - b).max())
    if diff > np.sqrt(float(info.eps)) * scale:
        raise ArgumentError(
            f"the gradients of {name_a} and {name_b} differ by up to {diff:.3g} "
            f"(largest entry {scale:.3g}); they must be equal because the model only uses "
            f"their sum - are they from the same backward pass?"
        )


def _sizes(lay: Layout, arrays: Mapping[str, Array], prefix: str = "") -> tuple[int, int]:
    """Read D and H off the arrays of a layout (before all shapes are checked).

    H comes from the first axis that is exactly H (else k*H), D from the first axis with a
    D in it, in the order of the entry's parameters. ``prefix`` goes before the keys in
    messages.
    """

    def first(wanted: Callable[[int, int, int], bool]) -> tuple[LayoutParam, int, Array]:
        for p in lay.params:
            for axis, (a, b, c) in enumerate(p.dims):
                if wanted(a, b, c):
                    arr = arrays[p.key]
                    check_dims(prefix + p.key, arr, p.shape)
                    return p, axis, arr
        raise AssertionError(f"layout {lay.name!r} does not determine D and H")  # see the table

    exact = any(dims == (0, 1, 0) for p in lay.params for dims in p.dims)
    p, axis, arr = first(lambda a, b, c: a == 0 and b > 0 and (not exact or (b, c) == (1, 0)))
    a, b, c = p.dims[axis]
    size = arr.shape[axis] - c
    if size < b or size % b:
        raise ArgumentError(
            f"{prefix}{p.key} has shape {arr.shape} but must be {p.shape}: axis {axis} must be "
            f"a positive multiple of {b}"
        )
    H = size // b
    p, axis, arr = first(lambda a, b, c: a > 0)
    a, b, c = p.dims[axis]
    size = arr.shape[axis] - b * H - c
    if size < a or size % a:
        raise ArgumentError(
            f"{prefix}{p.key} has shape {arr.shape} but must be {p.shape} with D >= 1: it needs "
            f"more rows than columns"
        )
    return size // a, H


def _check_layer(
    lay: Layout, weights: object, what: str, prefix: str = ""
) -> tuple[dict[str, Array], int, int]:
    """Validate the keys, dtypes and shapes of a layout dict; return it with D and H.

    ``prefix`` goes before the keys in messages (``layer1.`` for a model's layer 1).
    """
    if not isinstance(weights, Mapping):
        raise ArgumentError(f"{what} must be a dict of arrays, got {type(weights).__name__}")
    expected = list(lay.keys)
    missing = [key for key in expected if key not in weights]
    extra = [key for key in weights if key not in expected]
    if missing or extra:
        raise ArgumentError(
            f"{what} for layout {lay.name!r} must have exactly the keys {expected}; "
            f"missing {missing}, unexpected {extra}"
        )
    arrays = {key: float_array(prefix + key, weights[key]) for key in expected}
    check_same_dtype(*((prefix + key, arr) for key, arr in arrays.items()))
    D, H = _sizes(lay, arrays, prefix)
    for p in lay.params:
        check_dims(prefix + p.key, arrays[p.key], p.shape)
        check_shape(
            prefix + p.key,
            arrays[p.key],
            p.shape_for(D, H),
            p.shape,
            f"the {lay.name} weights have D={D}, H={H}",
        )
    return arrays, D, H


def _model_layers(lay: Layout, params: object, what: str, fields: tuple[str, ...]) -> int:
    """Check the names of a whole-model dict whose layer weights are named ``fields``."""
    if not isinstance(params, Mapping):
        raise ArgumentError(f"{what} must be a dict of arrays, got {type(params).__name__}")
    layers: set[int] = set()
    for name in params:
        match = _LAYER_NAME.fullmatch(name) if isinstance(name, str) else None
        if match and (match[2] in fields or match[2] in _STATES):
            layers.add(int(match[1]))
        elif name not in FC_KEYS:
            raise ArgumentError(
                f"{what} has the unexpected name {name!r}; in layout {lay.name!r} the names "
                f"are layer{{k}}.{{key}} for the keys {list(fields)}, layer{{k}}.h0, "
                f"layer{{k}}.c0, fc.W and fc.b"
            )
    L = max(layers) + 1 if layers else 0
    missing = [f"layer{k}.{f}" for k in range(L) for f in fields if f"layer{k}.{f}" not in params]
    if missing or L == 0:
        raise ArgumentError(
            f"{what} is missing {missing or ['layer0.' + fields[0]]} (layout {lay.name!r})"
        )
    return L


def _unpack_model(lay: Layout, params: Mapping[str, Array], *, grads: bool) -> dict[str, Array]:
    L = _model_layers(lay, params, "grads" if grads else "params", ("Wx", "Wh", "b"))
    out: dict[str, Array] = {}
    converted: dict[int, dict[str, Array]] = {}
    for name, value in params.items():
        match = _LAYER_NAME.fullmatch(name)
        if match is None or match[2] in _STATES:
            out[name] = value
            continue
        k = int(match[1])
        if k not in converted:
            p = f"layer{k}."
            arrays = _check_packed(
                (p + ("dWx" if grads else "Wx"), params[p + "Wx"]),
                (p + ("dWh" if grads else "Wh"), params[p + "Wh"]),
                (p + ("db" if grads else "b"), params[p + "b"]),
            )
            converted[k] = _unpack(lay, *arrays, grads=grads)
            out.update({f"{p}{key}": arr for key, arr in converted[k].items()})
    assert len(converted) == L
    return out


def _pack_model(lay: Layout, params: Mapping[str, Array], *, grads: bool) -> dict[str, Array]:
    _model_layers(lay, params, "grads" if grads else "params", lay.keys)
    out: dict[str, Array] = {}
    for name, value in params.items():
        match = _LAYER_NAME.fullmatch(name)
        if match is None or match[2] in _STATES:
            out[name] = value
            continue
        k = int(match[1])
        p = f"layer{k}."
        if p + "Wx" in out:
            continue
        layer = {key: params[p + key] for key in lay.keys}
        arrays, D, H = _check_layer(
            lay, layer, f"layer {k} of the {'grads' if grads else 'params'}", p
        )
        Wx, Wh, b = _pack(lay, arrays, D, H, grads=grads, name=f"{p}{{}}".format)
        out[p + "Wx"], out[p + "Wh"], out[p + "b"] = Wx, Wh, b
    return out


# ----------------------------------------------------------------------------------------
# One layer, by layout name.
# ----------------------------------------------------------------------------------------


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
    return get_layout(layout).unpack_layer(Wx, Wh, b)


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
    return get_layout(layout).pack_layer(weights)


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
    return get_layout(layout).unpack_layer_grads(dWx, dWh, db)


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
    return get_layout(layout).pack_layer_grads(grads)


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
        layer = _unpack(
            TABLE["torch"], tensors[p + "Wx"], tensors[p + "Wh"], tensors[p + "b"], grads=grads
        )
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
        arrays, D, H = _check_layer(TABLE["torch"], layer, f"layer {k} of the state_dict")
        Wx, Wh, b = _pack(
            TABLE["torch"], arrays, D, H, grads=grads, name=f"{prefix}{{}}_l{k}".format
        )
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
