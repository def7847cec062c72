"""An LSTM network written the way document 003 derives it, checked against lstm_ref.

The previous hidden state is concatenated with the input, ``X = [h_{t-1}, x_t]`` (Z = H + D),
and each gate has its own (Z, H) matrix: ``Wf``, ``Wi``, ``Wc``, ``Wo``, with biases ``bf`` ..
``bo`` of shape (1, H). An output layer ``Wy`` (H, C), ``by`` (1, C) and a softmax read every
step; the loss is summed over the steps and averaged over the batch. Everything is plain
functions on a dict of weights: ``lstm_loss(params, xs, ys)`` takes the sequence as a list of
steps (N, D) and the labels as a list of (N,) arrays, and returns the loss and a dict of
gradients named ``dWf``, ``dbf``..., as the derivation names them.

``bug=`` plants one of the mistakes of :data:`BUGS`. Run this file to check the correct
network and every planted bug against the reference::

    python examples/lstm_doc003.py

or from the command line::

    gradcheck lstm --against examples/lstm_doc003.py:model
"""

from __future__ import annotations

import numpy as np

from lstm_ref import LSTMSubject, adapters

BUGS = {
    "bias_from_other_gate": "dbi is accumulated from the forget gate's delta",
    "input_grads_one_step": "dWf, dWi, dWc, dWo are assigned, not accumulated",
    "no_cell_carry": "dc_next is never passed back: every step uses dc_next = 0",
    "mean_loss_summed_grads": "the loss is a mean over the batch but its gradient is a sum",
}
#: The functions that return this file's LSTM as the oracle runs it (``bug=`` optional).
SUBJECTS = ("model",)


def _check(bug):
    if bug is not None and bug not in BUGS:
        raise ValueError(f"unknown bug {bug!r}; the planted bugs are {list(BUGS)}")


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def init(input_size, hidden_size, classes, seed=0):
    rng = np.random.default_rng(seed)
    Z = hidden_size + input_size
    params = {}
    for g in "fico":
        params[f"W{g}"] = rng.normal(0, 1 / np.sqrt(Z), (Z, hidden_size))
        params[f"b{g}"] = rng.normal(0, 0.1, (1, hidden_size))
    params["Wy"] = rng.normal(0, 1 / np.sqrt(hidden_size), (hidden_size, classes))
    params["by"] = np.zeros((1, classes))
    return params


def lstm_loss(params, xs, ys, bug=None):
    """Forward and backward over the steps ``xs`` (list of (N, D)) with labels ``ys``."""
    p = params
    N, H, dtype = xs[0].shape[0], p["Wf"].shape[1], xs[0].dtype
    h, c = np.zeros((N, H), dtype), np.zeros((N, H), dtype)
    steps, loss = [], 0.0
    for x, y in zip(xs, ys, strict=True):
        X = np.hstack([h, x])
        f = sigmoid(X @ p["Wf"] + p["bf"])
        i = sigmoid(X @ p["Wi"] + p["bi"])
        c_bar = np.tanh(X @ p["Wc"] + p["bc"])
        o = sigmoid(X @ p["Wo"] + p["bo"])
        c_old, c = c, f * c + i * c_bar
        h = o * np.tanh(c)
        v = h @ p["Wy"] + p["by"]
        y_hat = np.exp(v - v.max(axis=1, keepdims=True))
        y_hat /= y_hat.sum(axis=1, keepdims=True)
        loss -= np.log(y_hat[np.arange(N), y]).sum() / N
        steps.append((X, f, i, c_bar, o, c_old, c, h, y_hat, y))

    grads = {f"d{name}": np.zeros_like(value) for name, value in p.items()}
    dh_next, dc_next = np.zeros((N, H), dtype), np.zeros((N, H), dtype)
    for X, f, i, c_bar, o, c_old, c, h, y_hat, y in reversed(steps):
        dv = y_hat.copy()
        dv[np.arange(N), y] -= 1
        if bug != "mean_loss_summed_grads":
            dv /= N
        grads["dWy"] += h.T @ dv
        grads["dby"] += dv.sum(axis=0, keepdims=True)
        dh = dv @ p["Wy"].T + dh_next
        do = dh * np.tanh(c) * o * (1 - o)
        if bug == "no_cell_carry":
            dc_next = np.zeros_like(dc_next)
        dc = dc_next + dh * o * (1 - np.tanh(c) ** 2)
        dc_bar = dc * i * (1 - c_bar**2)
        di = dc * c_bar * i * (1 - i)
        df = dc * c_old * f * (1 - f)
        for name, delta in (("f", df), ("i", di), ("c", dc_bar), ("o", do)):
            if bug == "input_grads_one_step":
                grads[f"dW{name}"] = X.T @ delta
            else:
                grads[f"dW{name}"] += X.T @ delta
            source = df if bug == "bias_from_other_gate" and name == "i" else delta
            grads[f"db{name}"] += source.sum(axis=0, keepdims=True)
        dX = df @ p["Wf"].T + di @ p["Wi"].T + dc_bar @ p["Wc"].T + do @ p["Wo"].T
        dh_next = dX[:, :H]
        dc_next = dc * f
    return loss, grads


def model(bug: str | None = None, *, D: int = 3, H: int = 4, C: int = 3) -> LSTMSubject:
    """The network on a dict of weights, gradients returned as ``d<name>``."""
    _check(bug)
    params = init(D, H, C, seed=4)
    return adapters.model(
        lambda params, xs, ys: lstm_loss(params, xs, ys, bug),
        params,
        "concat_hx",
        grads="d{key}",
        head=("Wy", "by"),
        head_on="every",
        data="steps",
        label=f"document 003's network{f', bug {bug}' if bug else ''}",
    )


if __name__ == "__main__":
    from lstm_ref.oracle import check_against

    for name in (None, *BUGS):
        result = check_against(model(name))
        print(f"{name or 'correct'}: {'passed' if result.passed else 'FAILED'}")
        if result.findings:
            print(f"  {result.findings[0].summary}")
