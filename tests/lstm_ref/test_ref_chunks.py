"""The backward pass over time in chunks: every chunking gives the same bits.

``backward_cols`` evaluates the step-local derivatives of ``chunk`` steps at once (see
``lstm_ref._lstm._CHUNK_ELEMENTS``), then runs the recurrence through them. With the default
chunk budget every shape the other tests use fits in one chunk, so here the budget is
lowered to make chunks of 1, 2, 3... steps, with a short last chunk, and one test uses the
natural shape where the default budget itself gives several chunks (N=2, H=64: 64 steps a
chunk, so T=130 is 64 + 64 + 2).

Chunking only regroups element-wise work, so the gradients must be *identical*, bit for
bit, to the single-chunk pass and to the step-by-step implementation of
``lstm_ref.mutants`` (which evaluates every element with the same expression).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ref_helpers import assert_bitwise_equal, layer_case, model_case

import lstm_ref as lr
from lstm_ref import _lstm
from lstm_ref.mutants import _lstm_backward as stepwise_backward

SHAPES = [(2, 7, 3, 4), (1, 5, 2, 3), (3, 6, 4, 2), (2, 4, 1, 1)]  # N, T, D, H
NAMES = ("dx", "dh0", "dWx", "dWh", "db", "dc0")


def set_chunk(monkeypatch, steps, N, H):
    """Make backward_cols take ``steps`` time steps per chunk at batch N and hidden H."""
    monkeypatch.setattr(_lstm, "_CHUNK_ELEMENTS", steps * N * 4 * H)


def sequence_grads(case, dcT=True):
    _, cache = lr.lstm_forward(*(case[k] for k in ("x", "h0", "Wx", "Wh", "b", "c0")))
    return lr.lstm_backward(case["dh"], cache, case["dcT"] if dcT else None), cache


def test_the_chunk_budget_sets_the_chunk_length(monkeypatch):
    """The knob works as the tests below assume (and lowering it is what they do)."""
    seen = []
    real = _lstm.local_derivatives

    def spy(cache, t0, t1, Q, P):
        seen.append((t0, t1))
        return real(cache, t0, t1, Q, P)

    monkeypatch.setattr(_lstm, "local_derivatives", spy)
    case = layer_case(0, 2, 7, 3, 4)
    sequence_grads(case)
    assert seen == [(0, 7)]  # the default budget: one chunk
    seen.clear()
    set_chunk(monkeypatch, 3, 2, 4)
    sequence_grads(case)
    assert seen == [(4, 7), (1, 4), (0, 1)]  # last chunk short


@pytest.mark.parametrize(("N", "T", "D", "H"), SHAPES)
@pytest.mark.parametrize("with_dcT", [True, False], ids=["dcT", "no_dcT"])
def test_every_chunk_length_gives_the_same_bits(monkeypatch, N, T, D, H, with_dcT):
    case = layer_case(N * T + H, N, T, D, H)
    whole, cache = sequence_grads(case, with_dcT)
    independent = stepwise_backward(case["dh"], cache, case["dcT"] if with_dcT else None, bug=None)
    for ours, theirs in zip(whole, independent, strict=True):
        assert_bitwise_equal(ours, theirs)
    for steps in range(1, T + 1):
        set_chunk(monkeypatch, steps, N, H)
        chunked, _ = sequence_grads(case, with_dcT)
        for name, ours, theirs in zip(NAMES, chunked, whole, strict=True):
            assert ours.tobytes() == theirs.tobytes(), f"{name} differs with {steps}-step chunks"


def test_the_default_budget_splits_a_long_sequence(monkeypatch):
    """N=2, T=130, H=64: chunks of 64, 64 and 2 steps without touching the budget."""
    N, T, D, H = 2, 130, 3, 64
    assert _lstm._CHUNK_ELEMENTS // (N * 4 * H) == 64
    case = layer_case(11, N, T, D, H)
    ours, cache = sequence_grads(case)
    theirs = stepwise_backward(case["dh"], cache, case["dcT"], bug=None)
    for a, b in zip(ours, theirs, strict=True):
        assert_bitwise_equal(a, b)
    # and one more step of gradient through time really flows across the chunk borders
    assert np.abs(ours[0][:, 0]).max() > 0


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_chunks_in_the_stack_and_the_whole_model(monkeypatch, steps):
    params, x, y = model_case(5, N=2, T=5, D=3, H=3, L=3, head="every")
    reference = lr.loss(params, x, y, head="every")[1]
    _, cache = lr.stacked_lstm_forward(x, params)
    dh = np.random.default_rng(1).normal(size=(2, 5, 3))
    stack_reference = lr.stacked_lstm_backward(dh, cache)
    set_chunk(monkeypatch, steps, 2, 3)
    chunked = lr.loss(params, x, y, head="every")[1]
    for name in reference:
        assert_bitwise_equal(chunked[name], reference[name])
    dx, grads = lr.stacked_lstm_backward(dh, cache)
    assert_bitwise_equal(dx, stack_reference[0])
    for name in grads:
        assert_bitwise_equal(grads[name], stack_reference[1][name])


@given(
    N=st.integers(1, 3),
    T=st.integers(1, 9),
    D=st.integers(1, 3),
    H=st.integers(1, 4),
    data=st.data(),
)
def test_any_chunking_of_any_shape(N, T, D, H, data):
    steps = data.draw(st.integers(1, T), label="steps per chunk")
    case = layer_case(data.draw(st.integers(0, 2**16), label="seed"), N, T, D, H)
    whole, _ = sequence_grads(case)
    saved = _lstm._CHUNK_ELEMENTS
    _lstm._CHUNK_ELEMENTS = steps * N * 4 * H
    try:
        chunked, _ = sequence_grads(case)
    finally:
        _lstm._CHUNK_ELEMENTS = saved
    for ours, theirs in zip(chunked, whole, strict=True):
        assert_bitwise_equal(ours, theirs)
