"""An LSTM written the way document 002 (lecture notes) writes it, checked against lstm_ref.

The input and the previous hidden state are concatenated, ``IN = [x_t, h_{t-1}]`` (D+H), and
four linear maps of it give the gates: ``Wi``, ``Wf``, ``Wo``, ``Wg`` (D+H, H) with biases
``bi`` .. ``bg`` (H,). The layer works on whole sequences, time-major (T, N, D), keeps its
weights in a ``params`` dict and leaves the gradients in a ``grads`` dict, the module style of
hand-written numpy networks. :class:`Model` adds an output layer on every step (``W_out``
(H, C), ``b_out`` (C,)) and a softmax loss summed over the steps, averaged over the batch.

``bug=`` plants one of the mistakes of :data:`BUGS`. Run this file to check the correct
layer and model and every planted bug against the reference::

    python examples/lstm_doc002.py

or from the command line::

    gradcheck lstm --against examples/lstm_doc002.py:layer
"""

from __future__ import annotations

import numpy as np

from lstm_ref import LSTMSubject, adapters

BUGS = {
    "bias_from_other_gate": "the output gate's bias gradient sums the input gate's delta",
    "input_grads_one_step": "the gradients of the four maps are computed from the last "
    "step's delta only, after the loop",
    "no_cell_carry": "the cell-state gradient is reset to zero at every step",
    "mean_loss_summed_grads": "the loss is a mean over the batch but its gradient is a sum",
}
GATES = "ifog"
#: The functions that return this file's LSTM as the oracle runs it (``bug=`` optional).
SUBJECTS = ("layer", "model")


def _check(bug):
    if bug is not None and bug not in BUGS:
        raise ValueError(f"unknown bug {bug!r}; the planted bugs are {list(BUGS)}")


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


class LSTMLayer:
    def __init__(self, input_size, hidden_size, seed=0, bug=None):
        rng = np.random.default_rng(seed)
        Z = input_size + hidden_size
        self.params = {}
        for g in GATES:
            self.params[f"W{g}"] = rng.normal(0, 1 / np.sqrt(Z), (Z, hidden_size))
            self.params[f"b{g}"] = rng.normal(0, 0.1, hidden_size)
        self.grads = {}
        self.H = hidden_size
        self.bug = bug

    def forward(self, x):
        """x (T, N, D) -> h (T, N, H)."""
        T, N, _ = x.shape
        p = self.params
        h, c = np.zeros((N, self.H), x.dtype), np.zeros((N, self.H), x.dtype)
        self.cache, hs = [], []
        for t in range(T):
            IN = np.concatenate([x[t], h], axis=1)
            i = sigmoid(IN @ p["Wi"] + p["bi"])
            f = sigmoid(IN @ p["Wf"] + p["bf"])
            o = sigmoid(IN @ p["Wo"] + p["bo"])
            g = np.tanh(IN @ p["Wg"] + p["bg"])
            c_prev, c = c, f * c + i * g
            h = o * np.tanh(c)
            self.cache.append((IN, c_prev, c, i, f, o, g))
            hs.append(h)
        return np.stack(hs)

    def backward(self, dh):
        """dh (T, N, H) -> dx (T, N, D); parameter gradients in self.grads."""
        p, D = self.params, self.params["Wi"].shape[0] - self.H
        for name, value in p.items():
            self.grads[name] = np.zeros_like(value)
        dx = np.zeros((dh.shape[0], dh.shape[1], D), dh.dtype)
        dh_next, dc_next = np.zeros_like(dh[0]), np.zeros_like(dh[0])
        for t in reversed(range(len(self.cache))):
            IN, c_prev, c, i, f, o, g = self.cache[t]
            d = dh[t] + dh_next
            tanh_c = np.tanh(c)
            if self.bug == "no_cell_carry":
                dc_next = np.zeros_like(dc_next)
            dc = dc_next + d * o * (1 - tanh_c**2)
            deltas = {
                "i": dc * g * i * (1 - i),
                "f": dc * c_prev * f * (1 - f),
                "o": d * tanh_c * o * (1 - o),
                "g": dc * i * (1 - g**2),
            }
            dIN = sum(deltas[k] @ p[f"W{k}"].T for k in GATES)
            for k in GATES:
                if self.bug != "input_grads_one_step":
                    self.grads[f"W{k}"] += IN.T @ deltas[k]
                source = "i" if self.bug == "bias_from_other_gate" and k == "o" else k
                self.grads[f"b{k}"] += deltas[source].sum(axis=0)
            if self.bug == "input_grads_one_step" and t == len(self.cache) - 1:
                last = (IN, deltas)
            dx[t], dh_next = dIN[:, :D], dIN[:, D:]
            dc_next = dc * f
        if self.bug == "input_grads_one_step":
            IN, deltas = last
            for k in GATES:
                self.grads[f"W{k}"] = IN.T @ deltas[k]
        return dx


class Model:
    """The layer, then scores = h_t W_out + b_out on every step and a softmax loss."""

    def __init__(self, input_size, hidden_size, classes, seed=0, bug=None):
        rng = np.random.default_rng(seed + 1)
        self.lstm = LSTMLayer(input_size, hidden_size, seed, bug)
        self.params = {
            "W_out": rng.normal(0, 1 / np.sqrt(hidden_size), (hidden_size, classes)),
            "b_out": np.zeros(classes),
        }
        self.grads = {}
        self.bug = bug

    def loss(self, x, y):
        """x (T, N, D), labels y (T, N): softmax loss summed over steps, mean over the batch."""
        h = self.lstm.forward(x)
        scores = h @ self.params["W_out"] + self.params["b_out"]
        p = np.exp(scores - scores.max(axis=2, keepdims=True))
        p /= p.sum(axis=2, keepdims=True)
        T, N = y.shape
        t_idx, n_idx = np.meshgrid(np.arange(T), np.arange(N), indexing="ij")
        loss = -np.log(p[t_idx, n_idx, y]).sum() / N
        dscores = p.copy()
        dscores[t_idx, n_idx, y] -= 1
        if self.bug != "mean_loss_summed_grads":
            dscores /= N
        self.grads["W_out"] = np.einsum("tnh,tnc->hc", h, dscores)
        self.grads["b_out"] = dscores.sum(axis=(0, 1))
        self.lstm.backward(dscores @ self.params["W_out"].T)
        return loss


def layer(bug: str | None = None, *, D: int = 3, H: int = 4) -> LSTMSubject:
    """The layer: whole time-major sequences, weights and gradients in dicts."""
    _check(bug)
    return adapters.sequence(
        LSTMLayer(D, H, seed=3, bug=bug),
        "concat_xh",
        params="params.{key}",
        grads="grads.{key}",
        data="time_major",
        label=f"document 002's layer{f', bug {bug}' if bug else ''}",
    )


def model(bug: str | None = None, *, D: int = 3, H: int = 4, C: int = 3) -> LSTMSubject:
    """The model, output layer and loss on every step."""
    _check(bug)
    m = Model(D, H, C, seed=3, bug=bug)
    return adapters.model(
        m.loss,
        m,
        "concat_xh",
        keys="lstm.params.{key}",
        grads="lstm.grads.{key}",
        head=("params.W_out", "params.b_out"),
        head_grads=("grads.W_out", "grads.b_out"),
        head_on="every",
        data="time_major",
        label=f"document 002's model{f', bug {bug}' if bug else ''}",
    )


if __name__ == "__main__":
    from lstm_ref.oracle import check_against

    for name in (None, *BUGS):
        for make in (layer, model):
            if make is layer and name == "mean_loss_summed_grads":
                continue  # the layer alone has no loss
            result = check_against(make(name))
            print(
                f"{make.__name__}, {name or 'correct'}: {'passed' if result.passed else 'FAILED'}"
            )
            if result.findings:
                print(f"  {result.findings[0].summary}")
