"""A user's LSTM in one normal form, for running it against the reference.

Hand-written LSTMs differ in everything but the math: where the weights live, how they are
named and shaped, whether a call takes one step or the whole sequence, where the gradients
end up. :class:`LSTMSubject` is the one form ``lstm_ref.oracle.check_against`` runs: the
user's current parameter values under normal names, and a ``run`` function that installs a
set of parameters, runs the forward and backward passes on given data and returns what
came out (:class:`Run`). ``lstm_ref.adapters`` builds it for the common styles; anything
else can construct it directly.

Normal names
------------
``layer{k}.{key}``
    The weights of layer k (bottom first) in the subject's layout: ``key`` is a key of
    ``lstm_ref.get_layout(layout)`` (``Wfh``, ``weight_ih``...).
``layer{k}.h0``, ``layer{k}.c0`` (optional)
    Initial states (N, H) the user's code takes as parameters; without them it starts from
    zeros.
``fc.W``, ``fc.b`` (models only)
    The output layer on the top layer's hidden state, stored as the user stores it: ``fc.W``
    (H, C), or (C, H) with ``head_transposed``; ``fc.b`` with C entries in any shape
    ((C,), (1, C), (C, 1)).
anything else
    Parameters the reference does not know (the oracle checks them by finite differences).

What ``run(params, x, upstream)`` receives and returns
-------------------------------------------------------
``params`` has the normal names (new arrays, to install before computing), ``x`` is
(N, T, D), batch-first. For an LSTM alone (``head=None``) ``upstream`` is the gradient
``dh`` (N, T, H) of the loss with respect to the top layer's hidden states; for a model it
holds the targets ``y``: labels (N,) (``head="last"``) or (N, T) (``"every"``) for
``objective="softmax"``, float targets (N, C) or (N, T, C) for ``"mse"``.
The :class:`Run` holds ``outputs``: ``"h"`` (N, T, H) (the LSTM alone) or ``"loss"`` (a
model), optionally ``"layer{k}.hT"`` and ``"layer{k}.cT"`` (N, H), the final states; and
``grads``: the gradient of every parameter under its normal name, optionally ``"x"``
(N, T, D).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._types import Array

__all__ = ["LSTMSubject", "Run", "RunFunction"]


@dataclass(frozen=True)
class Run:
    """What one run of a user's LSTM produced (see the module notes).

    Attributes
    ----------
    outputs : dict
        ``"h"`` (N, T, H) or ``"loss"``; optionally ``"layer{k}.hT"``, ``"layer{k}.cT"``.
    grads : dict
        One gradient per parameter (normal names), optionally ``"x"`` (N, T, D).
    """

    outputs: Mapping[str, Any]
    grads: Mapping[str, Any]


#: ``run(params, x, upstream) -> Run``
RunFunction = Callable[[Mapping[str, Array], Array, Array], Run]


@dataclass(frozen=True, eq=False)
class LSTMSubject:
    """A user's LSTM layer, stack or whole model, in the normal form of the oracle.

    Attributes
    ----------
    run : callable
        ``run(params, x, upstream) -> Run``, see the module notes. It must leave the user's
        objects as it found them (the adapters put the original parameters back).
    params : dict
        The user's current parameter values, by normal name.
    layout : str
        One of :data:`lstm_ref.LAYOUTS`: the layout of the ``layer{k}.{key}`` weights.
    names : dict
        The user's own name of each parameter, for reports (default: the normal names).
    head : {None, "last", "every"}
        None for an LSTM layer or stack; for a model, whether the output layer reads the
        last step or every step (the model of :func:`lstm_ref.loss`).
    objective : {"softmax", "mse"}
        The model's loss (mean over the batch, as :func:`lstm_ref.loss`).
    head_transposed : bool
        ``fc.W`` is stored (C, H) (column vectors, or nn.Linear's weight).
    label : str
        What this is, for report titles.
    """

    run: RunFunction
    params: Mapping[str, Array]
    layout: str
    names: Mapping[str, str] = field(default_factory=dict)
    head: str | None = None
    objective: str = "softmax"
    head_transposed: bool = False
    label: str = "LSTM"

    def name(self, normal: str) -> str:
        """The user's name of the parameter (or gradient) ``normal``."""
        return self.names.get(normal, normal)
