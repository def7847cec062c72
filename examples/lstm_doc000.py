"""A stacked LSTM written the way document 000 writes it, checked against lstm_ref.

cs231n-style functions with packed weights, gate order i, f, o, g: ``Wx`` (D, 4H),
``Wh`` (H, 4H), ``b`` (4H,); a network of stacked layers (each layer's input is the hidden
sequence of the layer below), a fully connected layer ``fc`` on the last step and a softmax
loss averaged over the batch. The backward pass is two nested loops, over layers from the
top and, inside each, over steps from the last, every layer starting with
``dprev_h = dprev_c = 0``; the gradients come back as a list of per-layer dicts, **top layer
first**, next to the fc layer's.

``bug=`` plants one of the mistakes of :data:`BUGS`. Run this file to check the correct
network and every planted bug against the reference::

    python examples/lstm_doc000.py

or from the command line::

    gradcheck lstm --against examples/lstm_doc000.py:model
"""

from __future__ import annotations

import numpy as np

from lstm_ref import LSTMSubject, adapters

BUGS = {
    "bias_from_other_gate": "the input gate's bias gradient sums the forget gate's delta",
    "input_grads_one_step": "dWx is assigned, not accumulated, in the loop over steps",
    "no_cell_carry": "every step's backward starts from dnext_c = 0",
    "mean_loss_summed_grads": "the loss is a mean over the batch but its gradient is a sum",
    "forget_gate_unused": "the forward pass drops f * prev_c and the backward pass matches it: "
    "the code is consistent with itself, so only the reference can tell",
}
#: The functions that return this file's LSTM as the oracle runs it (``bug=`` optional).
SUBJECTS = ("model",)


def _check(bug):
    if bug is not None and bug not in BUGS:
        raise ValueError(f"unknown bug {bug!r}; the planted bugs are {list(BUGS)}")


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H : 2 * H])
    o = sigmoid(a[:, 2 * H : 3 * H])
    g = np.tanh(a[:, 3 * H :])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def lstm_step_forward_no_forget(x, prev_h, prev_c, Wx, Wh, b):
    """The bug "forget_gate_unused": next_c = i * g, the previous cell state is never read."""
    return lstm_step_forward(x, prev_h, np.zeros_like(prev_c), Wx, Wh, b)


def lstm_step_backward(dnext_h, dnext_c, cache, bug=None):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    tanh_c = np.tanh(next_c)
    dc = dnext_c + dnext_h * o * (1 - tanh_c**2)
    di = dc * g * i * (1 - i)
    df = dc * prev_c * f * (1 - f)
    do = dnext_h * tanh_c * o * (1 - o)
    dg = dc * i * (1 - g**2)
    da = np.hstack((di, df, do, dg))
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dprev_c = np.zeros_like(dc) if bug == "forget_gate_unused" else dc * f
    dWx = x.T @ da
    dWh = prev_h.T @ da
    if bug == "bias_from_other_gate":
        db = np.hstack((df.sum(axis=0), df.sum(axis=0), do.sum(axis=0), dg.sum(axis=0)))
    else:
        db = np.hstack((di.sum(axis=0), df.sum(axis=0), do.sum(axis=0), dg.sum(axis=0)))
    return dx, dprev_h, dprev_c, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b, bug=None):
    step = lstm_step_forward_no_forget if bug == "forget_gate_unused" else lstm_step_forward
    N, T, _ = x.shape
    h = np.zeros((N, T, h0.shape[1]), dtype=x.dtype)
    prev_h, prev_c = h0, np.zeros_like(h0)
    caches = []
    for t in range(T):
        prev_h, prev_c, cache = step(x[:, t], prev_h, prev_c, Wx, Wh, b)
        h[:, t] = prev_h
        caches.append(cache)
    return h, caches


def lstm_backward(dh, caches, bug=None):
    N, T, H = dh.shape
    Wx = caches[0][3]
    dx = np.zeros((N, T, Wx.shape[0]), dtype=dh.dtype)
    dprev_h, dprev_c = np.zeros((N, H), dtype=dh.dtype), np.zeros((N, H), dtype=dh.dtype)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros((H, 4 * H), dh.dtype), np.zeros(4 * H, dh.dtype)
    for t in reversed(range(T)):
        if bug == "no_cell_carry":
            dprev_c = np.zeros_like(dprev_c)
        dx[:, t], dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(
            dh[:, t] + dprev_h, dprev_c, caches[t], bug
        )
        dWx = dWx_t if bug == "input_grads_one_step" else dWx + dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db


class StackedLSTM:
    """``layers`` of ``{"Wx", "Wh", "b"}`` (bottom first) and ``fc = {"W", "b"}``."""

    def __init__(self, input_size, hidden_size, classes, num_layers=2, seed=0, bug=None):
        rng = np.random.default_rng(seed)
        H = hidden_size
        self.layers = []
        for k in range(num_layers):
            D = input_size if k == 0 else H
            self.layers.append(
                {
                    "Wx": rng.normal(0, 1 / np.sqrt(D), (D, 4 * H)),
                    "Wh": rng.normal(0, 1 / np.sqrt(H), (H, 4 * H)),
                    "b": rng.normal(0, 0.1, 4 * H),
                }
            )
        self.fc = {"W": rng.normal(0, 1 / np.sqrt(H), (H, classes)), "b": np.zeros(classes)}
        self.bug = bug

    def loss(self, x, y):
        """Softmax loss of the last step's scores and ``(loss, grads)``, cs231n style."""
        caches, inp = [], x
        for layer in self.layers:
            h0 = np.zeros((x.shape[0], layer["Wh"].shape[0]), dtype=x.dtype)
            inp, cache = lstm_forward(inp, h0, layer["Wx"], layer["Wh"], layer["b"], self.bug)
            caches.append(cache)
        last = inp[:, -1]
        scores = last @ self.fc["W"] + self.fc["b"]
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        N = x.shape[0]
        loss = -np.log(p[np.arange(N), y]).mean()
        dscores = p.copy()
        dscores[np.arange(N), y] -= 1
        if self.bug != "mean_loss_summed_grads":
            dscores /= N
        grads = {"fc": {"W": last.T @ dscores, "b": dscores.sum(axis=0)}, "layers": []}
        dh = np.zeros_like(inp)
        dh[:, -1] = dscores @ self.fc["W"].T
        for cache in reversed(caches):  # top layer first
            dh, _, dWx, dWh, db = lstm_backward(dh, cache, self.bug)
            grads["layers"].append({"Wx": dWx, "Wh": dWh, "b": db})
        return loss, grads


def model(bug: str | None = None, *, D: int = 3, H: int = 4, C: int = 3) -> LSTMSubject:
    """A 2-layer network (input D, hidden H, C classes) as the oracle runs it."""
    _check(bug)
    net = StackedLSTM(D, H, C, num_layers=2, seed=2, bug=bug)
    return adapters.model(
        net.loss,
        net,
        "packed",
        keys="layers.{layer}.{key}",
        grads="layers.{top}.{key}",
        head=("fc.W", "fc.b"),
        head_grads=("fc.W", "fc.b"),
        label=f"document 000's stacked LSTM{f', bug {bug}' if bug else ''}",
    )


if __name__ == "__main__":
    from lstm_ref.oracle import check_against

    for name in (None, *BUGS):
        result = check_against(model(name))
        print(f"{name or 'correct'}: {'passed' if result.passed else 'FAILED'}")
        if result.findings:
            print(f"  {result.findings[0].summary}")
