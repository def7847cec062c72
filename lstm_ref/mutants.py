"""A catalogue of planted backward-pass bugs, for testing gradient checkers.

Each :class:`Mutant` is a whole model (``loss``, same signature as :func:`lstm_ref.loss`)
whose forward pass is the reference one and whose backward pass contains one realistic
mistake; mutants whose bug lives in the sequence backward also offer a buggy
``lstm_backward`` (same signature as :func:`lstm_ref.lstm_backward`). The reference code
has no bug switches: the backward passes here are a separate, step-by-step
implementation that evaluates every element with the same floating-point expression as
the reference, so where a bug is invisible the gradients are *identical* to the
reference's, not merely close.

Fields
------
``reveals``
    The smallest-shape condition under which the mutant's gradients differ from the
    reference: ``"any"``, or atoms such as ``"N>1"``, ``"T>1"``, ``"L>1"``, ``"H>1"``,
    ``"D==H"``, ``"head=every"``, ``"objective=mse"`` joined by ``" and "`` / ``" or "``
    (``and`` binds tighter). :meth:`Mutant.visible` evaluates it. It is stated for
    ``loss``; for ``lstm_backward`` read it with ``L=1``.
``finding``
    The pattern a diagnosis of the mismatch should name, one of :data:`FINDINGS`:
    ``constant_ratio`` (analytic = c * numeric), ``all_zero`` (analytic is zero),
    ``block`` (the error sits in one block of a labelled axis, e.g. one gate),
    ``time_range`` (only some time steps are counted), ``swapped_blocks`` (two blocks or
    two layers exchanged), ``wrong_input`` (the right formula applied to the wrong
    operand), ``transposed`` (blocks transposed) or ``missing_term`` (a path or factor of
    the chain rule is missing, so the error spreads).
``where``
    Glob patterns (``fnmatch``) of the parameter names whose gradient is wrong at a shape
    where the mutant is visible. At a given shape some of them may still be right (for
    example only the layers below the top one for ``no_layer_carry``); names that match
    none of the patterns are always right.

Example
-------
>>> import numpy as np
>>> from lstm_ref import init_params, loss
>>> from lstm_ref.mutants import MUTANTS
>>> rng = np.random.default_rng(0)
>>> params = init_params(rng, N=3, D=2, H=4, C=2, L=1)
>>> x, y = rng.normal(size=(3, 5, 2)), rng.integers(0, 2, size=3)
>>> bug = MUTANTS["db_batch_mean"]
>>> bug.reveals, bug.finding, bug.where
('N>1', 'constant_ratio', ('layer*.b',))
>>> ok, bad = loss(params, x, y)[1], bug.loss(params, x, y)[1]
>>> np.allclose(bad["layer0.b"], ok["layer0.b"] / 3), np.array_equal(bad["fc.W"], ok["fc.W"])
(True, True)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import numpy as np

from ._layers import mse_loss_unchecked, softmax_loss_unchecked
from ._lstm import LSTMCache, check_backward_args
from ._model import check_loss_args, scores_unchecked
from ._types import Array, IntArray

__all__ = ["FINDINGS", "MUTANTS", "LossFunction", "Mutant", "SequenceBackward"]

#: The values of :attr:`Mutant.finding`.
FINDINGS = (
    "constant_ratio",
    "all_zero",
    "block",
    "time_range",
    "swapped_blocks",
    "wrong_input",
    "transposed",
    "missing_term",
)

_ATOM = re.compile(r"(any)|([NTLHC])>1|(D==H)|(head|objective)=(\w+)")


class LossFunction(Protocol):
    """Signature of :func:`lstm_ref.loss` and of :attr:`Mutant.loss`."""

    def __call__(
        self,
        params: Mapping[str, Array],
        x: Array,
        y: Array | IntArray,
        *,
        head: str = "last",
        objective: str = "softmax",
    ) -> tuple[Any, dict[str, Array]]: ...


class SequenceBackward(Protocol):
    """Signature of :func:`lstm_ref.lstm_backward` and of :attr:`Mutant.lstm_backward`."""

    def __call__(
        self, dh: Array, cache: LSTMCache, dcT: Array | None = None
    ) -> tuple[Array, Array, Array, Array, Array, Array]: ...


@dataclass(frozen=True)
class Mutant:
    """One planted bug: what it gets wrong, when it shows, and the buggy model."""

    name: str
    description: str
    reveals: str
    finding: str
    where: tuple[str, ...]
    loss: LossFunction = field(repr=False)
    lstm_backward: SequenceBackward | None = field(default=None, repr=False)

    def visible(
        self,
        *,
        N: int,
        T: int,
        D: int,
        H: int,
        L: int = 1,
        C: int = 2,
        head: str = "last",
        objective: str = "softmax",
    ) -> bool:
        """Whether :attr:`reveals` holds at this shape and configuration.

        Examples
        --------
        >>> from lstm_ref.mutants import MUTANTS
        >>> MUTANTS["dWx_dWh_swapped"].reveals
        'D==H or L>1'
        >>> MUTANTS["dWx_dWh_swapped"].visible(N=2, T=3, D=2, H=4, L=1)
        False
        """
        sizes = {"N": N, "T": T, "D": D, "H": H, "L": L, "C": C}
        options = {"head": head, "objective": objective}
        return any(
            all(_atom(atom, sizes, options) for atom in clause.split(" and "))
            for clause in self.reveals.split(" or ")
        )


def _atom(atom: str, sizes: dict[str, int], options: dict[str, str]) -> bool:
    match = _ATOM.fullmatch(atom.strip())
    if match is None:
        raise ValueError(f"cannot read reveals condition {atom!r}")
    if match[1]:
        return True
    if match[2]:
        return sizes[match[2]] > 1
    if match[3]:
        return sizes["D"] == sizes["H"]
    return options[match[4]] == match[5]


# ----------------------------------------------------------------------------------------
# The buggy backward passes. With bug=None they compute exactly what lstm_ref computes,
# element for element; every `if bug == ...` is one switch point.
# ----------------------------------------------------------------------------------------


def _sequence_backward(
    dh_seq: Array, cache: LSTMCache, dcT: Array | None, dx_layout: str, bug: str | None
) -> tuple[Array, Array, Array, Array, Array, Array]:
    """Backward of one layer, feature-major like the reference's ``backward_cols``.

    ``dh_seq`` is (T, H, N) and ``dcT`` (H, N); returns (dx, dh0T, dWx, dWh, db, dc0T)
    with ``dx`` as rows (T*N, D) or columns (D, T*N) according to ``dx_layout``.
    """
    T, N, H, D = cache.T, cache.N, cache.H, cache.D
    G = cache.gates.reshape(T, 4, H, N)
    i, f, o, g = G[:, 0], G[:, 1], G[:, 2], G[:, 3]
    c_prev, tanh_c = cache.c[:T], cache.tanh_c
    # Step-local factors: pre-activation gradient = dc (or dh for o) times these.
    q_i = i * g if bug == "sigmoid_grad_i" else (1 - i) * i * g
    q_f = (1 - f) * f * c_prev
    q_o = (1 - o) * o * tanh_c
    q_g = (1 - g) * i if bug == "tanh_grad_g" else (1 - g * g) * i
    p_hc = (1 - tanh_c * tanh_c) * o  # path h_t -> c_t
    dA = np.empty((4 * H, T * N), dtype=cache.dtype)
    dh_next = np.zeros((H, N), dtype=dA.dtype)
    dc_next = np.zeros((H, N), dtype=dA.dtype) if dcT is None else dcT.copy()
    for t in reversed(range(T)):
        dh = dh_seq[t].copy() if bug == "no_dh_carry" else dh_seq[t] + dh_next
        if bug == "no_dc_carry" and t < T - 1:
            dc_next = np.zeros_like(dc_next)
        dc = dc_next.copy() if bug == "no_dh_into_dc" else dh * p_hc[t] + dc_next
        da = np.empty((4, H, N), dtype=dA.dtype)
        da[0] = dc * q_i[t]
        da[1] = dc * q_f[t]
        da[2] = dh * q_o[t]
        da[3] = dc * q_g[t]
        if bug == "swap_f_o":
            da[[1, 2]] = da[[2, 1]]
        dc_next = dc.copy() if bug == "dc0_no_f" and t == 0 else dc * f[t]
        dh_next = np.matmul(cache.Wh, da.reshape(4 * H, N))
        dA[:, t * N : (t + 1) * N] = da.reshape(4 * H, N)
    dx = np.matmul(dA.T, cache.Wx.T) if dx_layout == "rows" else np.matmul(cache.Wx, dA)
    steps = slice((T - 1) * N, T * N) if bug == "dWx_last_step" else slice(0, T * N)
    dW_aug = np.matmul(cache.x_aug[steps].T, dA[:, steps].T)
    dWx, db = dW_aug[:D], dW_aug[D]
    if bug == "dWx_last_step":  # the bias gradient still sums every step
        db = np.matmul(cache.x_aug.T, dA.T)[D]
    h_pair = cache.h[1:] if bug == "dWh_uses_h_t" else cache.h[:T]
    dWh = np.matmul(np.ascontiguousarray(h_pair.transpose(1, 0, 2)).reshape(H, T * N), dA.T)
    if bug == "db_batch_mean":
        db = db / N
    if bug == "bi_from_df":
        db[:H] = db[H : 2 * H]
    if bug == "bo_from_df":
        db[2 * H : 3 * H] = db[H : 2 * H]
    if bug == "dWh_blocks_transposed":
        dWh = dWh.reshape(H, 4, H).transpose(2, 1, 0).reshape(H, 4 * H)
    if bug == "dh0_zero":
        dh_next = np.zeros_like(dh_next)
    if bug == "dWx_dWh_swapped" and dWx.shape == dWh.shape:
        dWx, dWh = dWh, dWx
    return dx, dh_next, dWx, dWh, db, dc_next


def _loss_gradient(scores: Array, y: Array | IntArray, objective: str, bug: str | None) -> Array:
    """dscores of the softmax or mse loss (the loss value comes from the reference)."""
    N = scores.shape[0]
    if objective == "softmax":
        shifted = scores - scores.real.max(axis=-1, keepdims=True)
        exp = np.exp(shifted)
        dscores: Array = exp / exp.sum(axis=-1, keepdims=True)
        dscores -= y[..., None] == np.arange(scores.shape[-1])
        if bug != "loss_grad_not_averaged":
            dscores /= N
        return dscores
    diff: Array = scores - y
    diff *= 2 if bug == "loss_grad_not_averaged" else 2 / N
    return diff


def _model_loss(
    params: Mapping[str, Array],
    x: Array,
    y: Array | IntArray,
    *,
    head: str = "last",
    objective: str = "softmax",
    bug: str,
) -> tuple[Any, dict[str, Array]]:
    dims, x, y = check_loss_args(params, x, y, head, objective)
    N, T, _ = x.shape
    scores, feats, caches = scores_unchecked(params, x, dims.L, head)
    H, W = caches[-1].H, params["fc.W"]
    C = W.shape[1]
    reference_loss = softmax_loss_unchecked if objective == "softmax" else mse_loss_unchecked
    value = reference_loss(scores, y)[0]
    dscores = _loss_gradient(scores, y, objective, bug)
    if head == "every":
        dscores = np.ascontiguousarray(dscores.transpose(1, 0, 2)).reshape(T * N, C)
    dfeats = np.matmul(dscores, W.T)
    dW = np.matmul(feats.T, dscores)
    db = dscores.sum(axis=0)
    if bug == "fc_db_mean":
        db = db / N
    if head == "last":
        dh_seq = np.zeros((T, H, N), dtype=x.dtype)
        dh_seq[T - 1] = dfeats.T
    else:
        if bug == "every_head_last_only":
            dfeats[: (T - 1) * N] = 0
        dh_seq = np.ascontiguousarray(dfeats.reshape(T, N, H).transpose(0, 2, 1))
    grads: dict[str, Array] = {"fc.W": dW, "fc.b": db}
    for k in reversed(range(dims.L)):
        cache = caches[k]
        dxT, dh0T, dWx, dWh, dbk, dc0T = _sequence_backward(dh_seq, cache, None, "cols", bug)
        p = f"layer{k}."
        grads[p + "Wx"], grads[p + "Wh"], grads[p + "b"] = dWx, dWh, dbk
        grads[p + "h0"], grads[p + "c0"] = dh0T.T.copy(), dc0T.T.copy()
        if k > 0:
            dh_seq = np.ascontiguousarray(dxT.reshape(cache.D, T, N).transpose(1, 0, 2))
            if bug == "no_layer_carry":
                dh_seq = np.zeros_like(dh_seq)
    if bug == "layer_grads_swapped" and dims.L > 1:
        for name in ("Wh", "b"):
            grads[f"layer0.{name}"], grads[f"layer1.{name}"] = (
                grads[f"layer1.{name}"],
                grads[f"layer0.{name}"],
            )
    return value, {key: grads[key] for key in params}


def _lstm_backward(
    dh: Array, cache: LSTMCache, dcT: Array | None = None, *, bug: str
) -> tuple[Array, Array, Array, Array, Array, Array]:
    cache, dh, dcT = check_backward_args(dh, cache, dcT)
    dh_seq = np.ascontiguousarray(dh.transpose(1, 2, 0))
    dx_rows, dh0T, dWx, dWh, db, dc0T = _sequence_backward(
        dh_seq, cache, None if dcT is None else dcT.T, "rows", bug
    )
    dx = dx_rows.reshape(cache.T, cache.N, cache.D).transpose(1, 0, 2).copy()
    return dx, dh0T.T.copy(), dWx, dWh, db, dc0T.T.copy()


# ----------------------------------------------------------------------------------------
# The catalogue.
# ----------------------------------------------------------------------------------------

_LAYER = ("layer*.*",)

# name, description, reveals, finding, where, bug lives in the sequence backward
_CATALOGUE: list[tuple[str, str, str, str, tuple[str, ...], bool]] = [
    ("bi_from_df",
     "The input gate's bias gradient is taken from the forget gate's delta "
     "(document 001: bi_grad = delta_f).",
     "any", "block", ("layer*.b",), True),
    ("bo_from_df",
     "The output gate's bias gradient is taken from the forget gate's delta "
     "(document 001: bo_grad = delta_f).",
     "any", "block", ("layer*.b",), True),
    ("dWx_last_step",
     "The input-weight gradient uses only the last time step's delta instead of summing "
     "over all steps (document 001).",
     "T>1", "time_range", ("layer*.Wx",), True),
    ("no_dh_carry",
     "The hidden-state gradient da Wh^T is not carried back to the previous time step.",
     "T>1", "missing_term", _LAYER, True),
    ("no_dc_carry",
     "The cell-state gradient dc * f is not carried back to the previous time step.",
     "T>1", "missing_term", _LAYER, True),
    ("no_dh_into_dc",
     "The cell-state gradient misses the path dh * o * (1 - tanh(c)^2) from h_t to c_t.",
     "any", "missing_term", _LAYER, True),
    ("db_batch_mean",
     "The LSTM bias gradient averages the gate deltas over the batch instead of summing "
     "them.",
     "N>1", "constant_ratio", ("layer*.b",), True),
    ("swap_f_o",
     "The backward pass writes the forget and output gate deltas into each other's "
     "columns (gate order mixed up between forward and backward).",
     "any", "swapped_blocks", _LAYER, True),
    ("sigmoid_grad_i",
     "The input gate's sigmoid derivative is taken as s instead of s * (1 - s).",
     "any", "block", _LAYER, True),
    ("tanh_grad_g",
     "The candidate gate's tanh derivative is taken as 1 - g instead of 1 - g**2.",
     "any", "block", _LAYER, True),
    ("dc0_no_f",
     "The gradient of the initial cell state is returned as dc, missing the factor f.",
     "any", "missing_term", ("layer*.c0",), True),
    ("dh0_zero",
     "The gradient of the initial hidden state is returned as zeros.",
     "any", "all_zero", ("layer*.h0",), True),
    ("dWh_uses_h_t",
     "The recurrent-weight gradient pairs each step's delta with h_t instead of h_{t-1}.",
     "any", "wrong_input", ("layer*.Wh",), True),
    ("dWh_blocks_transposed",
     "Each gate's (H, H) block of the recurrent-weight gradient is transposed (a "
     "column-vector formula pasted into row-vector code).",
     "H>1", "transposed", ("layer*.Wh",), True),
    ("dWx_dWh_swapped",
     "The layer backward returns dWh in dWx's place and vice versa, which no shape check "
     "catches where both are (H, 4H).",
     "D==H or L>1", "wrong_input", ("layer*.Wx", "layer*.Wh"), True),
    ("no_layer_carry",
     "The input gradient of layer k is not passed down as the upstream gradient of layer "
     "k-1.",
     "L>1", "all_zero", _LAYER, False),
    ("layer_grads_swapped",
     "The recurrent-weight and bias gradients of layers 0 and 1 are stored under each "
     "other's names.",
     "L>1", "swapped_blocks", ("layer0.Wh", "layer0.b", "layer1.Wh", "layer1.b"), False),
    ("loss_grad_not_averaged",
     "The loss gradient dscores is not divided by the batch size N although the loss is "
     "a mean over the batch.",
     "N>1", "constant_ratio", ("*",), False),
    ("fc_db_mean",
     "The output layer's bias gradient averages over the batch instead of summing.",
     "N>1", "constant_ratio", ("fc.b",), False),
    ("every_head_last_only",
     "With the every-step head, only the last step's output gradient is passed down "
     "into the LSTM.",
     "T>1 and head=every", "time_range", _LAYER, False),
]  # fmt: skip


def _build() -> dict[str, Mutant]:
    mutants = {}
    for name, description, reveals, finding, where, in_sequence in _CATALOGUE:
        mutants[name] = Mutant(
            name=name,
            description=description,
            reveals=reveals,
            finding=finding,
            where=where,
            loss=partial(_model_loss, bug=name),
            lstm_backward=partial(_lstm_backward, bug=name) if in_sequence else None,
        )
    return mutants


#: Every mutant by name.
MUTANTS: dict[str, Mutant] = _build()
