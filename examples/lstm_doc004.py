"""An LSTM written the way document 004 (a PyTorch tutorial) writes it, in numpy.

One matrix per gate, row vectors: ``I = sigmoid(X W_xi + H W_hi + b_i)`` with ``W_xi``
(D, H), ``W_hi`` (H, H), ``b_i`` (H,), gates i, f, o and the candidate c; an output layer
``Y = H W_hq + b_q`` on every step. As in the tutorial the parameters are one flat list,
``[W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q]``, the
inputs come time-major (T, N, D), and ``lstm(inputs, state, params)`` returns the outputs
of every step and the final state ``(H, C)``. The tutorial leaves the backward pass to
autograd; here it is written by hand, returning the gradients as a list in the order of the
parameters. The loss is the softmax cross-entropy summed over the steps and averaged over
the batch.

``bug=`` plants one of the mistakes of :data:`BUGS`. Run this file to check the correct
network and every planted bug against the reference::

    python examples/lstm_doc004.py

or from the command line::

    gradcheck lstm --against examples/lstm_doc004.py:model
"""

from __future__ import annotations

import numpy as np

from lstm_ref import LSTMSubject, adapters

BUGS = {
    "bias_from_other_gate": "the forget gate's bias gradient sums the output gate's delta",
    "input_grads_one_step": "W_x*'s gradients are assigned, not accumulated",
    "no_cell_carry": "the cell-state gradient is not passed to the previous step",
    "mean_loss_summed_grads": "the loss is a mean over the batch but its gradient is a sum",
}
#: The functions that return this file's LSTM as the oracle runs it (``bug=`` optional).
SUBJECTS = ("model",)


def _check(bug):
    if bug is not None and bug not in BUGS:
        raise ValueError(f"unknown bug {bug!r}; the planted bugs are {list(BUGS)}")


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def get_lstm_params(vocab_size, num_hiddens, num_outputs, seed=0):
    rng = np.random.default_rng(seed)

    def normal(shape):
        return rng.normal(0, 1 / np.sqrt(shape[0]), shape)

    def three():
        return (
            normal((vocab_size, num_hiddens)),
            normal((num_hiddens, num_hiddens)),
            (rng.normal(0, 0.1, num_hiddens)),
        )

    W_xi, W_hi, b_i = three()  # input gate
    W_xf, W_hf, b_f = three()  # forget gate
    W_xo, W_ho, b_o = three()  # output gate
    W_xc, W_hc, b_c = three()  # candidate memory cell
    W_hq, b_q = normal((num_hiddens, num_outputs)), np.zeros(num_outputs)
    return [W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q]


def lstm(inputs, state, params):
    """Forward over time-major ``inputs`` (T, N, D); returns outputs, state and a cache."""
    [W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q] = params
    (H, C) = state
    outputs, cache = [], []
    for X in inputs:
        I = sigmoid((X @ W_xi) + (H @ W_hi) + b_i)
        F = sigmoid((X @ W_xf) + (H @ W_hf) + b_f)
        O = sigmoid((X @ W_xo) + (H @ W_ho) + b_o)
        C_tilda = np.tanh((X @ W_xc) + (H @ W_hc) + b_c)
        cache.append((X, H, C, I, F, O, C_tilda))
        C = F * C + I * C_tilda
        H = O * np.tanh(C)
        Y = (H @ W_hq) + b_q
        outputs.append(Y)
    return np.stack(outputs), (H, C), cache


def loss_and_grads(params, inputs, labels, bug=None):
    """Softmax loss of every step (labels (T, N)) and the gradients, in ``params`` order."""
    T, N, _ = inputs.shape
    num_hiddens = params[1].shape[0]
    state = (np.zeros((N, num_hiddens), inputs.dtype), np.zeros((N, num_hiddens), inputs.dtype))
    Y, _, cache = lstm(inputs, state, params)
    P = np.exp(Y - Y.max(axis=2, keepdims=True))
    P /= P.sum(axis=2, keepdims=True)
    t_idx, n_idx = np.meshgrid(np.arange(T), np.arange(N), indexing="ij")
    loss = -np.log(P[t_idx, n_idx, labels]).sum() / N
    dY = P.copy()
    dY[t_idx, n_idx, labels] -= 1
    if bug != "mean_loss_summed_grads":
        dY /= N

    [W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q] = params
    grads = [np.zeros_like(p) for p in params]
    dH_next = np.zeros((N, num_hiddens), inputs.dtype)
    dC_next = np.zeros((N, num_hiddens), inputs.dtype)
    for t in reversed(range(T)):
        X, H_prev, C_prev, I, F, O, C_tilda = cache[t]
        C = F * C_prev + I * C_tilda
        H = O * np.tanh(C)
        grads[12] += H.T @ dY[t]
        grads[13] += dY[t].sum(axis=0)
        dH = dY[t] @ W_hq.T + dH_next
        dC = dH * O * (1 - np.tanh(C) ** 2)
        if bug != "no_cell_carry":
            dC += dC_next
        dI = dC * C_tilda * I * (1 - I)
        dF = dC * C_prev * F * (1 - F)
        dO = dH * np.tanh(C) * O * (1 - O)
        dC_tilda = dC * I * (1 - C_tilda**2)
        for k, delta in enumerate((dI, dF, dO, dC_tilda)):
            if bug == "input_grads_one_step":
                grads[3 * k] = X.T @ delta
            else:
                grads[3 * k] += X.T @ delta
            grads[3 * k + 1] += H_prev.T @ delta
            bias_delta = dO if bug == "bias_from_other_gate" and k == 1 else delta
            grads[3 * k + 2] += bias_delta.sum(axis=0)
        dH_next = dI @ W_hi.T + dF @ W_hf.T + dO @ W_ho.T + dC_tilda @ W_hc.T
        dC_next = dC * F
    return loss, grads


def model(bug: str | None = None, *, D: int = 3, H: int = 4, C: int = 3) -> LSTMSubject:
    """The network on the flat parameter list, gradients in the same order."""
    _check(bug)
    return adapters.model(
        lambda params, inputs, labels: loss_and_grads(params, inputs, labels, bug),
        get_lstm_params(D, H, C, seed=5),
        "per_gate_row",
        keys="{index}",
        grads="{index}",
        head=("12", "13"),
        head_on="every",
        data="time_major",
        label=f"document 004's network{f', bug {bug}' if bug else ''}",
    )


if __name__ == "__main__":
    from lstm_ref.oracle import check_against

    for name in (None, *BUGS):
        result = check_against(model(name))
        print(f"{name or 'correct'}: {'passed' if result.passed else 'FAILED'}")
        if result.findings:
            print(f"  {result.findings[0].summary}")
