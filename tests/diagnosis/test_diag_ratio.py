"""constant_ratio and all_zero: analytic = c * numeric, matched against simple factors."""

from __future__ import annotations

import numpy as np
import pytest
from diag_layers import batch_mean_check, top

import gradcheck


@pytest.mark.parametrize(
    ("scale", "factor", "words"),
    [
        (3.0, "N", "mean"),
        (1 / 3, "1/N", "mean over the batch"),
        (2.0, "2", "twice"),
        (0.5, "1/2", "factor 2"),
        (-1.0, "-1", "sign"),
    ],
    ids=["N", "1/N", "2", "1/2", "-1"],
)
def test_constant_ratio_names_the_factor(scale, factor, words):
    f = top(batch_mean_check(scale))
    assert f.kind == "constant_ratio"
    assert f.evidence["factor"] == factor
    assert f.evidence["ratio"] == pytest.approx(scale, rel=1e-8)
    assert f.evidence["exact"] is True
    assert list(f.inputs) == ["x", "w"]
    assert f.score == 1.0
    assert words in f.hint
    if factor in ("N", "1/N"):
        assert "N = 3 (the length of the batch axis of x)" in f.summary


def test_constant_ratio_over_batch_and_time():
    f = top(batch_mean_check(5.0, time_axis=True))
    assert (f.kind, f.evidence["factor"]) == ("constant_ratio", "T")
    f = top(batch_mean_check(1 / 15, time_axis=True))
    assert (f.kind, f.evidence["factor"]) == ("constant_ratio", "1/(N*T)")


def test_constant_ratio_without_a_simple_factor():
    f = top(batch_mean_check(1.7))
    assert f.kind == "constant_ratio"
    assert f.evidence["factor"] is None
    assert "1.7" in f.hint


def test_constant_ratio_from_sampled_elements():
    r = batch_mean_check(3.0, mode="sample", samples=3)
    assert r.inputs["x"].checked < r.inputs["x"].size
    assert (top(r).kind, top(r).evidence["factor"]) == ("constant_ratio", "N")


def test_all_zero():
    r = gradcheck.check_grad(
        lambda x, w: float(np.sum(np.tanh(x @ w))),
        lambda x, w: ((1 - np.tanh(x @ w) ** 2) @ w.T, np.zeros_like(w)),
        {"x": np.linspace(-1, 1, 6).reshape(2, 3), "w": np.linspace(0.5, -0.5, 6).reshape(3, 2)},
    )
    f = top(r)
    assert (f.kind, f.input, f.score) == ("all_zero", "w", 1.0)
    assert list(f.inputs) == ["w"]
    assert "never accumulated" in f.hint
    assert len(r.findings) == 1


def test_all_zero_whole_group_says_nothing_reaches_it():
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(2, 6)), rng.normal(size=6)
    notes = {
        "W": {"axes": ["in", "out"], "group": "layer 0"},
        "b": {"axes": ["out"], "group": "layer 0"},
    }
    r = gradcheck.check_grad(
        lambda W, b: float(np.sum(np.tanh(np.ones(2) @ W + b))),
        lambda W, b: (np.zeros_like(W), np.zeros_like(b)),
        {"W": W, "b": b},
        annotations=notes,
    )
    f = top(r)
    assert f.kind == "all_zero"
    assert list(f.inputs) == ["W", "b"]
    assert f.evidence["groups"] == ["layer 0"]
    assert "Every input of layer 0 gets a zero gradient" in f.hint
