"""An LSTM written the way document 001 writes it, checked against lstm_ref.

One weight matrix per gate and column vectors (``Wfh`` (H, H), ``Wfx`` (H, D), ``bf``
(H, 1), gates f, i, o and the candidate c), and a stateful layer that takes one step per
call: ``forward(x)`` reads one step's input as columns (D, N), keeps ``h``, ``c`` and a
cache of the step inside the object and returns ``h`` (H, N); ``backward(dh)``, called once
per step in reverse order with the gradient of that step's output, carries the gradients of
``h`` and ``c`` back to the previous step inside the object, accumulates the parameter
gradients in attributes named like the weights with a ``_grad`` suffix (``Wfh_grad``) and
returns the input gradient. :class:`Classifier` puts an output layer ``Wy`` (C, H),
``by`` (C, 1) and a softmax on the last step, with the loss averaged over the batch.

``bug=`` plants one of the mistakes of :data:`BUGS`. Run this file to check the correct
layer and every planted bug against the reference::

    python examples/lstm_doc001.py

or one of them from the command line::

    gradcheck lstm --against examples/lstm_doc001.py:layer
    gradcheck lstm --against 'examples/lstm_doc001.py:model(bug="no_cell_carry")'
"""

from __future__ import annotations

import numpy as np

from lstm_ref import LSTMSubject, adapters

#: The planted mistakes, by the name given to ``bug=``.
BUGS = {
    "bias_from_other_gate": "bi_grad and bo_grad are taken from the forget gate's delta",
    "input_grads_one_step": "the input weights' gradients are assigned, not accumulated, "
    "so only the last step processed (step 0) counts",
    "no_cell_carry": "the cell-state gradient is not carried back to the previous step",
    "mean_loss_summed_grads": "the loss is a mean over the batch but its gradient is a sum",
}
#: The weights, as document 001 names them.
PARAMS = tuple(f"W{g}{s}" for g in "fioc" for s in "hx") + tuple(f"b{g}" for g in "fioc")
#: The functions that return this file's LSTM as the oracle runs it (``bug=`` optional).
SUBJECTS = ("layer", "model")


def _check(bug):
    if bug is not None and bug not in BUGS:
        raise ValueError(f"unknown bug {bug!r}; the planted bugs are {list(BUGS)}")


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


class LSTMLayer:
    """One LSTM layer, one step per call, column vectors (document 001)."""

    def __init__(self, input_size, hidden_size, seed=0, bug=None):
        rng = np.random.default_rng(seed)
        H, D = hidden_size, input_size
        for g in "fioc":
            setattr(self, f"W{g}h", rng.normal(0, 1 / np.sqrt(H), (H, H)))
            setattr(self, f"W{g}x", rng.normal(0, 1 / np.sqrt(D), (H, D)))
            setattr(self, f"b{g}", rng.normal(0, 0.1, (H, 1)))
        self.hidden_size = H
        self.bug = bug
        self.reset()

    def reset(self):
        """Forget the state, the cache and the gradients: a new sequence starts."""
        self.h = self.c = None
        self.dh_next = self.dc_next = None
        self.cache = []
        for name in PARAMS:
            setattr(self, name + "_grad", np.zeros_like(getattr(self, name)))

    def forward(self, x):
        if self.h is None:
            self.h = np.zeros((self.hidden_size, x.shape[1]), dtype=x.dtype)
            self.c = np.zeros((self.hidden_size, x.shape[1]), dtype=x.dtype)
        h_prev, c_prev = self.h, self.c
        f = sigmoid(self.Wfh @ h_prev + self.Wfx @ x + self.bf)
        i = sigmoid(self.Wih @ h_prev + self.Wix @ x + self.bi)
        o = sigmoid(self.Woh @ h_prev + self.Wox @ x + self.bo)
        c_tilde = np.tanh(self.Wch @ h_prev + self.Wcx @ x + self.bc)
        self.c = f * c_prev + i * c_tilde
        self.h = o * np.tanh(self.c)
        self.cache.append((x, h_prev, c_prev, f, i, o, c_tilde, self.c))
        return self.h

    def backward(self, dh):
        x, h_prev, c_prev, f, i, o, c_tilde, c = self.cache.pop()
        if self.dh_next is None:
            self.dh_next = np.zeros_like(dh)
            self.dc_next = np.zeros_like(dh)
        dh = dh + self.dh_next
        tanh_c = np.tanh(c)
        if self.bug == "no_cell_carry":
            dc = dh * o * (1 - tanh_c**2)
        else:
            dc = self.dc_next + dh * o * (1 - tanh_c**2)
        delta_f = dc * c_prev * f * (1 - f)
        delta_i = dc * c_tilde * i * (1 - i)
        delta_o = dh * tanh_c * o * (1 - o)
        delta_c = dc * i * (1 - c_tilde**2)

        self.Wfh_grad += delta_f @ h_prev.T
        self.Wih_grad += delta_i @ h_prev.T
        self.Woh_grad += delta_o @ h_prev.T
        self.Wch_grad += delta_c @ h_prev.T
        if self.bug == "input_grads_one_step":
            self.Wfx_grad = delta_f @ x.T
            self.Wix_grad = delta_i @ x.T
            self.Wox_grad = delta_o @ x.T
            self.Wcx_grad = delta_c @ x.T
        else:
            self.Wfx_grad += delta_f @ x.T
            self.Wix_grad += delta_i @ x.T
            self.Wox_grad += delta_o @ x.T
            self.Wcx_grad += delta_c @ x.T
        self.bf_grad += delta_f.sum(axis=1, keepdims=True)
        if self.bug == "bias_from_other_gate":
            self.bi_grad += delta_f.sum(axis=1, keepdims=True)
            self.bo_grad += delta_f.sum(axis=1, keepdims=True)
        else:
            self.bi_grad += delta_i.sum(axis=1, keepdims=True)
            self.bo_grad += delta_o.sum(axis=1, keepdims=True)
        self.bc_grad += delta_c.sum(axis=1, keepdims=True)

        self.dh_next = (
            self.Wfh.T @ delta_f
            + self.Wih.T @ delta_i
            + self.Woh.T @ delta_o
            + self.Wch.T @ delta_c
        )
        self.dc_next = dc * f
        return (
            self.Wfx.T @ delta_f
            + self.Wix.T @ delta_i
            + self.Wox.T @ delta_o
            + self.Wcx.T @ delta_c
        )


class Classifier:
    """The layer, then ``scores = Wy h_T + by`` and a softmax, loss averaged over the batch."""

    def __init__(self, input_size, hidden_size, classes, seed=0, bug=None):
        rng = np.random.default_rng(seed + 1)
        self.lstm = LSTMLayer(input_size, hidden_size, seed, bug)
        self.Wy = rng.normal(0, 1 / np.sqrt(hidden_size), (classes, hidden_size))
        self.by = np.zeros((classes, 1))
        self.bug = bug

    def loss(self, xs, y):
        """Loss of a sequence ``xs`` (a list of (D, N) steps) with labels ``y`` (N,)."""
        self.lstm.reset()
        for x in xs:
            h = self.lstm.forward(x)
        scores = self.Wy @ h + self.by
        p = np.exp(scores - scores.max(axis=0))
        p /= p.sum(axis=0)
        N = h.shape[1]
        loss = -np.log(p[y, np.arange(N)]).mean()
        dscores = p.copy()
        dscores[y, np.arange(N)] -= 1
        if self.bug != "mean_loss_summed_grads":
            dscores /= N
        self.Wy_grad = dscores @ h.T
        self.by_grad = dscores.sum(axis=1, keepdims=True)
        dh = self.Wy.T @ dscores
        for t in reversed(range(len(xs))):
            self.lstm.backward(dh if t == len(xs) - 1 else np.zeros_like(dh))
        return loss


def layer(bug: str | None = None, *, D: int = 3, H: int = 4) -> LSTMSubject:
    """The layer as the oracle runs it: step by step, gradients in attributes."""
    _check(bug)
    return adapters.stepwise(
        LSTMLayer(D, H, seed=1, bug=bug),
        "per_gate_col",
        grads="{key}_grad",
        columns=True,
        state=("h", "c"),
        label=f"document 001's layer{f', bug {bug}' if bug else ''}",
    )


def model(bug: str | None = None, *, D: int = 3, H: int = 4, C: int = 3) -> LSTMSubject:
    """The classifier: its loss, gradients left in attributes."""
    _check(bug)
    clf = Classifier(D, H, C, seed=1, bug=bug)
    return adapters.model(
        clf.loss,
        clf,
        "per_gate_col",
        keys="lstm.{key}",
        grads="lstm.{key}_grad",
        head=("Wy", "by"),
        head_grads=("Wy_grad", "by_grad"),
        head_transposed=True,
        data="column_steps",
        label=f"document 001's classifier{f', bug {bug}' if bug else ''}",
    )


if __name__ == "__main__":
    from lstm_ref.oracle import check_against

    for name in (None, *BUGS):
        for make in (layer, model):
            if make is layer and name == "mean_loss_summed_grads":
                continue  # the layer alone has no loss
            result = check_against(make(name))
            verdict = "passed" if result.passed else "FAILED"
            print(f"{make.__name__}, {name or 'correct'}: {verdict}")
            if result.findings:
                print(f"  {result.findings[0].summary}")
