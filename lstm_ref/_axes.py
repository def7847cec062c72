"""Axis annotations of the parameters and of the input, for gradient-check reports.

This module deliberately has no ``from __future__ import annotations``: that import binds
the name ``annotations`` in the module namespace, which the public function of the same
name would shadow (mypy reports it as a redefinition). Every hint here is valid at run time
on Python 3.11.
"""

from collections.abc import Mapping
from typing import Any

from ._layouts import _LAYER_NAME, _model_layers, get_layout
from ._model import FC_KEYS
from ._types import Array
from ._validation import check_dims, float_array

__all__ = ["annotations", "input_annotations"]

_OTHER_AXES: dict[str, list[Any]] = {
    "h0": ["batch", "hidden"],
    "c0": ["batch", "hidden"],
    "fc.W": ["hidden", "class"],
    "fc.b": ["class"],
}


def annotations(params: Mapping[str, Any], layout: str = "packed") -> dict[str, dict[str, Any]]:
    """Names of the axes of every parameter, for gradient-check reports.

    Parameters
    ----------
    params : dict
        A params dict (or any mapping with its names, e.g. the grads).
    layout : str
        The layout of the layer weights (one of :data:`lstm_ref.LAYOUTS`): names are
        ``layer{k}.{key}`` for its keys (see :meth:`lstm_ref.Layout.unpack`). The axes come
        from the layout's entry in :data:`lstm_ref.TABLE`.

    Returns
    -------
    dict
        For each name of ``params``, in order, ``{"axes": [...], "group": ...}``. ``axes``
        has one entry per array axis: an axis name (``"batch"``, ``"input"``,
        ``"hidden"``, ``"class"``) or a pair ``(name, labels)`` meaning the axis is split
        into ``len(labels)`` equal consecutive blocks, here ``("gate", ("i", "f", "o",
        "g"))`` for the packed gate axis of length 4H. ``group`` is ``"layer k"`` or
        ``"fc"``. The rows of every ``layer{k}.Wx`` are named ``"input"`` (for k > 0 the
        layer's input is layer k-1's hidden state).

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import annotations, init_params
    >>> notes = annotations(init_params(np.random.default_rng(0), N=2, D=3, H=4, C=2))
    >>> notes["layer0.Wx"]
    {'axes': ['input', ('gate', ('i', 'f', 'o', 'g'))], 'group': 'layer 0'}
    >>> notes["layer0.h0"], notes["fc.W"]["axes"]
    ({'axes': ['batch', 'hidden'], 'group': 'layer 0'}, ['hidden', 'class'])
    >>> import lstm_ref
    >>> torch_params = lstm_ref.get_layout("torch").unpack(init_params(
    ...     np.random.default_rng(0), N=2, D=3, H=4, C=2))
    >>> annotations(torch_params, "torch")["layer0.weight_ih"]
    {'axes': [('gate', ('i', 'f', 'g', 'o')), 'input'], 'group': 'layer 0'}
    """
    lay = get_layout(layout)
    _model_layers(lay, params, "params", lay.keys)
    out: dict[str, dict[str, Any]] = {}
    for key in params:
        if key in FC_KEYS:
            out[key] = {"axes": list(_OTHER_AXES[key]), "group": "fc"}
            continue
        match = _LAYER_NAME.fullmatch(key)
        assert match is not None  # _model_layers checked the names
        field = match[2]
        axes = _OTHER_AXES[field] if field in _OTHER_AXES else lay.param(field).axes
        out[key] = {"axes": list(axes), "group": f"layer {int(match[1])}"}
    return out


def input_annotations(x: Array) -> dict[str, Any]:
    """Axis names of the network input ``x`` (N, T, D), in the form of :func:`annotations`.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import input_annotations
    >>> input_annotations(np.zeros((4, 6, 2)))
    {'axes': ['batch', 'time', 'input'], 'group': 'input'}
    """
    x = float_array("x", x)
    check_dims("x", x, "(N, T, D)")
    return {"axes": ["batch", "time", "input"], "group": "input"}
