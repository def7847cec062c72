"""lstm_ref: a reference numpy LSTM whose analytic gradients are exactly right.

Layers follow the cs231n convention: ``forward(...) -> (out, cache)`` and
``backward(dout, cache) -> gradients in the order of forward's arguments``. Shapes use
N (batch), T (time), D (input features), H (hidden units), C (classes), L (layers).
Packed gate order is i, f, o, g; weights are ``Wx (D, 4H)``, ``Wh (H, 4H)``, ``b (4H,)``.

* One layer: :func:`lstm_step_forward` / :func:`lstm_step_backward` (one time step) and
  :func:`lstm_forward` / :func:`lstm_backward` (a sequence, with the final cell state and
  its upstream gradient for truncated BPTT).
* Document 000's network: :func:`stacked_lstm_forward` / :func:`stacked_lstm_backward`,
  :func:`affine_forward` and :func:`temporal_affine_forward` (and backward),
  :func:`softmax_loss`, :func:`mse_loss`, and the whole model in :func:`loss` with
  parameters from :func:`init_params`.
* :data:`TABLE` describes the parameter layouts of the other documents and of PyTorch's
  nn.LSTM, one :class:`Layout` entry each (:func:`get_layout`); :func:`to_layout` and
  friends, and the entries' methods, convert weights and gradients between them.
* :func:`annotations` names the axes of every parameter, for gradient-check reports.
* ``lstm_ref.adapters`` wraps a hand-written LSTM (stateful step by step, per-gate
  matrices, column vectors...) so that ``lstm_ref.oracle.check_against`` can run it against
  the reference (the oracle needs gradcheck; nothing else here does).
* ``lstm_ref.mutants`` holds deliberately wrong backward passes for testing checkers.

Supported dtypes are float32, float64 (the default of :func:`init_params`), complex64 and
complex128; every computation stays in the dtype of its arguments, and the complex path
is holomorphic so complex-step differentiation applies. ``python -m lstm_ref`` runs a demo.
"""

# No ``from __future__ import annotations`` here: it would bind the name that the public
# function lstm_ref.annotations re-exported below must take.
from ._activations import sigmoid
from ._axes import annotations, input_annotations
from ._errors import ArgumentError, DTypeError, LSTMRefError, ShapeError
from ._layers import (
    affine_backward,
    affine_forward,
    mse_loss,
    softmax_loss,
    temporal_affine_backward,
    temporal_affine_forward,
)
from ._layouts import (
    LAYOUTS,
    TABLE,
    Layout,
    LayoutParam,
    from_layout,
    get_layout,
    grads_from_layout,
    grads_from_torch,
    grads_to_layout,
    grads_to_torch,
    params_from_torch,
    params_to_torch,
    to_layout,
)
from ._lstm import (
    LSTMCache,
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
)
from ._model import (
    HEADS,
    OBJECTIVES,
    StackedLSTMCache,
    init_params,
    loss,
    stacked_lstm_backward,
    stacked_lstm_forward,
)
from ._subject import LSTMSubject, Run

__all__ = [
    "HEADS",
    "LAYOUTS",
    "OBJECTIVES",
    "Run",
    "TABLE",
    "ArgumentError",
    "DTypeError",
    "LSTMCache",
    "LSTMRefError",
    "LSTMSubject",
    "Layout",
    "LayoutParam",
    "ShapeError",
    "StackedLSTMCache",
    "affine_backward",
    "affine_forward",
    "annotations",
    "from_layout",
    "get_layout",
    "grads_from_layout",
    "grads_from_torch",
    "grads_to_layout",
    "grads_to_torch",
    "init_params",
    "input_annotations",
    "loss",
    "lstm_backward",
    "lstm_forward",
    "lstm_step_backward",
    "lstm_step_forward",
    "mse_loss",
    "params_from_torch",
    "params_to_torch",
    "sigmoid",
    "softmax_loss",
    "stacked_lstm_backward",
    "stacked_lstm_forward",
    "temporal_affine_backward",
    "temporal_affine_forward",
    "to_layout",
]
