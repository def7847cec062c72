"""Axis annotations of the parameters and of the input, for gradient-check reports.

This module deliberately has no ``from __future__ import annotations``: that import binds
the name ``annotations`` in the module namespace, which the public function of the same
name would shadow (mypy reports it as a redefinition). Every hint here is valid at run time
on Python 3.11.
"""

from collections.abc import Mapping
from typing import Any

from ._model import FC_KEYS, layer_count
from ._types import Array
from ._validation import check_dims, float_array

__all__ = ["GATE_AXIS", "annotations", "input_annotations"]

#: The packed gate axis of length 4H: four consecutive blocks of H, gates i, f, o, g.
GATE_AXIS = ("gate", ("i", "f", "o", "g"))


def annotations(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Names of the axes of every parameter, for gradient-check reports.

    Parameters
    ----------
    params : dict
        A params dict (or any mapping with its names, e.g. the grads).

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
    """
    layer_count(params)
    axes_of: dict[str, list[Any]] = {
        "Wx": ["input", GATE_AXIS],
        "Wh": ["hidden", GATE_AXIS],
        "b": [GATE_AXIS],
        "h0": ["batch", "hidden"],
        "c0": ["batch", "hidden"],
        "fc.W": ["hidden", "class"],
        "fc.b": ["class"],
    }
    out: dict[str, dict[str, Any]] = {}
    for key in params:
        if key in FC_KEYS:
            out[key] = {"axes": list(axes_of[key]), "group": "fc"}
        else:
            layer, field = key[len("layer") :].split(".")
            out[key] = {"axes": list(axes_of[field]), "group": f"layer {int(layer)}"}
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
