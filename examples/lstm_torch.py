"""A numpy clone of PyTorch's nn.LSTM (its parameter layout), checked against lstm_ref.

``NumpyLSTM(input_size, hidden_size, num_layers)`` keeps nn.LSTM's parameters under
nn.LSTM's names: ``weight_ih_l{k}`` (4H, D_k), ``weight_hh_l{k}`` (4H, H), ``bias_ih_l{k}``
and ``bias_hh_l{k}`` (4H,), gate blocks in nn.LSTM's order i, f, g, o, the two biases added.
``forward(x)`` takes a batch-first sequence (N, T, D) and returns ``(output, (h_n, c_n))``
with ``h_n``, ``c_n`` (L, N, H) as nn.LSTM does; ``backward(doutput)`` returns the input
gradient and leaves the parameter gradients in a ``grads`` dict under the parameter names.
:class:`Classifier` adds nn.Linear's ``weight`` (C, H) and ``bias`` (C,) on the last step
and a softmax loss averaged over the batch.

``bug=`` plants one of the mistakes of :data:`BUGS`. Run this file to check the correct
network and every planted bug against the reference::

    python examples/lstm_torch.py

or from the command line::

    gradcheck lstm --against examples/lstm_torch.py:stack --layout torch
"""

from __future__ import annotations

import numpy as np

from lstm_ref import LSTMSubject, adapters

BUGS = {
    "bias_from_other_gate": "the candidate gate's bias gradient sums the output gate's delta",
    "input_grads_one_step": "weight_ih's gradient is assigned, not accumulated",
    "no_cell_carry": "the cell-state gradient is not passed to the previous step",
    "mean_loss_summed_grads": "the loss is a mean over the batch but its gradient is a sum",
}
#: The functions that return this file's LSTM as the oracle runs it (``bug=`` optional).
SUBJECTS = ("stack", "model")


def _check(bug):
    if bug is not None and bug not in BUGS:
        raise ValueError(f"unknown bug {bug!r}; the planted bugs are {list(BUGS)}")


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


class NumpyLSTM:
    def __init__(self, input_size, hidden_size, num_layers=1, seed=0, bug=None):
        rng = np.random.default_rng(seed)
        H = hidden_size
        bound = 1 / np.sqrt(H)  # nn.LSTM's initialisation: U(-1/sqrt(H), 1/sqrt(H))
        for k in range(num_layers):
            D = input_size if k == 0 else H
            setattr(self, f"weight_ih_l{k}", rng.uniform(-bound, bound, (4 * H, D)))
            setattr(self, f"weight_hh_l{k}", rng.uniform(-bound, bound, (4 * H, H)))
            setattr(self, f"bias_ih_l{k}", rng.uniform(-bound, bound, 4 * H))
            setattr(self, f"bias_hh_l{k}", rng.uniform(-bound, bound, 4 * H))
        self.hidden_size, self.num_layers = H, num_layers
        self.grads = {}
        self.bug = bug

    def _layer_forward(self, k, x):
        W_ih, W_hh = getattr(self, f"weight_ih_l{k}"), getattr(self, f"weight_hh_l{k}")
        b = getattr(self, f"bias_ih_l{k}") + getattr(self, f"bias_hh_l{k}")
        N, T, _ = x.shape
        H = self.hidden_size
        h, c = np.zeros((N, H), x.dtype), np.zeros((N, H), x.dtype)
        out, cache = np.zeros((N, T, H), x.dtype), []
        for t in range(T):
            gates = x[:, t] @ W_ih.T + h @ W_hh.T + b
            i, f, g, o = np.split(gates, 4, axis=1)
            i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
            cache.append((x[:, t], h, c, i, f, g, o))
            c = f * c + i * g
            h = o * np.tanh(c)
            out[:, t] = h
        return out, h, c, cache

    def forward(self, x):
        self.caches, h_n, c_n = [], [], []
        for k in range(self.num_layers):
            x, h, c, cache = self._layer_forward(k, x)
            self.caches.append(cache)
            h_n.append(h)
            c_n.append(c)
        return x, (np.stack(h_n), np.stack(c_n))

    def _layer_backward(self, k, dout):
        W_ih, W_hh = getattr(self, f"weight_ih_l{k}"), getattr(self, f"weight_hh_l{k}")
        N, T, H = dout.shape
        dW_ih, dW_hh, db = np.zeros_like(W_ih), np.zeros_like(W_hh), np.zeros(4 * H, dout.dtype)
        dx = np.zeros((N, T, W_ih.shape[1]), dout.dtype)
        dh_next, dc_next = np.zeros((N, H), dout.dtype), np.zeros((N, H), dout.dtype)
        for t in reversed(range(T)):
            x, h_prev, c_prev, i, f, g, o = self.caches[k][t]
            c = f * c_prev + i * g
            dh = dout[:, t] + dh_next
            dc = dh * o * (1 - np.tanh(c) ** 2)
            if self.bug != "no_cell_carry":
                dc = dc + dc_next
            di = dc * g * i * (1 - i)
            df = dc * c_prev * f * (1 - f)
            dg = dc * i * (1 - g**2)
            do = dh * np.tanh(c) * o * (1 - o)
            dgates = np.hstack([di, df, dg, do])
            if self.bug == "input_grads_one_step":
                dW_ih = dgates.T @ x
            else:
                dW_ih += dgates.T @ x
            dW_hh += dgates.T @ h_prev
            if self.bug == "bias_from_other_gate":
                db += np.hstack([di, df, do, do]).sum(axis=0)
            else:
                db += dgates.sum(axis=0)
            dx[:, t] = dgates @ W_ih
            dh_next = dgates @ W_hh
            dc_next = dc * f
        self.grads[f"weight_ih_l{k}"], self.grads[f"weight_hh_l{k}"] = dW_ih, dW_hh
        self.grads[f"bias_ih_l{k}"], self.grads[f"bias_hh_l{k}"] = db, db.copy()
        return dx

    def backward(self, doutput):
        for k in reversed(range(self.num_layers)):
            doutput = self._layer_backward(k, doutput)
        return doutput


class Classifier:
    """NumpyLSTM, then nn.Linear's ``weight`` (C, H), ``bias`` (C,) on the last step."""

    def __init__(self, input_size, hidden_size, classes, num_layers=2, seed=0, bug=None):
        rng = np.random.default_rng(seed + 1)
        self.lstm = NumpyLSTM(input_size, hidden_size, num_layers, seed, bug)
        bound = 1 / np.sqrt(hidden_size)
        self.weight = rng.uniform(-bound, bound, (classes, hidden_size))
        self.bias = rng.uniform(-bound, bound, classes)
        self.grads = {}
        self.bug = bug

    def loss(self, x, y):
        out, _ = self.lstm.forward(x)
        last = out[:, -1]
        scores = last @ self.weight.T + self.bias
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        N = x.shape[0]
        loss = -np.log(p[np.arange(N), y]).mean()
        dscores = p.copy()
        dscores[np.arange(N), y] -= 1
        if self.bug != "mean_loss_summed_grads":
            dscores /= N
        self.grads["weight"], self.grads["bias"] = dscores.T @ last, dscores.sum(axis=0)
        dout = np.zeros_like(out)
        dout[:, -1] = dscores @ self.weight
        self.lstm.backward(dout)
        return loss


def stack(bug: str | None = None, *, D: int = 3, H: int = 4) -> LSTMSubject:
    """A 2-layer NumpyLSTM: nn.LSTM's names, outputs and final states."""
    _check(bug)
    return adapters.sequence(
        NumpyLSTM(D, H, num_layers=2, seed=6, bug=bug),
        "torch",
        params="{key}_l{layer}",
        grads="grads.{key}_l{layer}",
        states=True,
        label=f"NumpyLSTM{f', bug {bug}' if bug else ''}",
    )


def model(bug: str | None = None, *, D: int = 3, H: int = 4, C: int = 3) -> LSTMSubject:
    """The classifier (2 layers)."""
    _check(bug)
    clf = Classifier(D, H, C, num_layers=2, seed=6, bug=bug)
    return adapters.model(
        clf.loss,
        clf,
        "torch",
        keys="lstm.{key}_l{layer}",
        grads="lstm.grads.{key}_l{layer}",
        head=("weight", "bias"),
        head_grads=("grads.weight", "grads.bias"),
        head_transposed=True,
        label=f"NumpyLSTM classifier{f', bug {bug}' if bug else ''}",
    )


if __name__ == "__main__":
    from lstm_ref.oracle import check_against

    for name in (None, *BUGS):
        for make in (stack, model):
            if make is stack and name == "mean_loss_summed_grads":
                continue  # the LSTM alone has no loss
            result = check_against(make(name))
            print(
                f"{make.__name__}, {name or 'correct'}: {'passed' if result.passed else 'FAILED'}"
            )
            if result.findings:
                print(f"  {result.findings[0].summary}")
