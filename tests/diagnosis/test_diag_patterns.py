"""The patterns added for code the project did not write: masks, copies, a few wrong elements,
errors confined to indices of any axis, reversed kernels, biases of any vector shape."""

from __future__ import annotations

import numpy as np
import pytest
from diag_layers import top
from diag_user_layers import column_bias_last_step, conv_kernel_overwritten

import gradcheck


def _layer(backward_factor, x, forward=None):
    """check_layer of an element-wise layer whose backward multiplies dout by a factor."""
    forward = forward or (lambda x: (x, x))
    return gradcheck.check_layer(forward, lambda dout, x: (dout * backward_factor(x),), {"x": x})


def test_a_mask_missing_from_the_backward_pass():
    x = np.random.default_rng(0).normal(size=(4, 5))
    r = _layer(lambda x: 1.0, x, forward=lambda x: (np.maximum(x, 0), x))  # relu, dx = dout
    f = top(r)
    assert (f.kind, f.confidence, f.score) == ("unmasked", "exact", 1.0)
    negative = [list(i) for i in np.argwhere(x < 0)]
    assert f.evidence["element_indices"] == negative[:20]
    assert f.evidence["right"] == int(np.sum(x > 0))
    assert "mask applied in the forward pass" in f.hint
    assert len(r.findings) == 1


def test_a_gradient_cut_off_where_it_should_flow():
    x = np.random.default_rng(1).normal(size=(4, 5))
    leaky = lambda x: (np.where(x > 0, x, 0.1 * x), x)  # noqa: E731
    r = _layer(lambda x: (x > 0).astype(float), x, forward=leaky)
    f = top(r)
    assert (f.kind, f.confidence) == ("missing_term", "exact")
    assert f"exactly zero at {int(np.sum(x < 0))} elements where the numeric one is not" in (
        f.summary
    )
    assert "ReLU's mask on a leaky ReLU" in f.hint


def test_a_few_wrong_elements_of_any_rank():
    x = np.random.default_rng(2).normal(size=(2, 3, 4))
    factor = np.ones_like(x)
    factor[1, 2, 3] = 1.2
    factor[0, 0, 0] = 0.5
    f = top(_layer(lambda x: factor, x))
    assert (f.kind, f.confidence) == ("wrong_elements", "exact")
    assert f.evidence["element_indices"] == [[0, 0, 0], [1, 2, 3]]
    assert "only 2 of 24 checked elements are wrong" in f.summary


def test_an_error_confined_to_indices_of_an_unnamed_axis():
    x = np.random.default_rng(3).normal(size=(3, 4, 6))
    factor = np.ones_like(x)
    factor[:, :, 4:] = -1.0
    f = top(_layer(lambda x: factor, x))
    assert (f.kind, f.confidence) == ("block", "exact")
    assert (f.evidence["axis_position"], f.evidence["indices"]) == (2, [4, 5])
    assert "indices 4 to 5 of axis 2 (2 of 6)" in f.summary
    assert "there, analytic = -1 x numeric exactly" in f.summary


def test_a_whole_time_step_is_a_time_finding_not_elements():
    x = np.random.default_rng(4).normal(size=(3, 5))
    factor = np.ones_like(x)
    factor[:, -1] = 2.0
    r = gradcheck.check_layer(
        lambda x: (x, x),
        lambda dout, x: (dout * factor,),
        {"x": x},
        annotations={"x": {"axes": ["batch", "time"]}},
    )
    assert [(f.kind, f.evidence.get("pattern")) for f in r.findings] == [("time_range", "last")]


@pytest.mark.parametrize("axes", [(2,), (1, 2)])
def test_a_reversed_kernel(axes):
    rng = np.random.default_rng(5)
    w, c = rng.normal(size=(2, 3, 3)), rng.normal(size=(2, 3, 3))
    r = gradcheck.check_grad(
        lambda w: float(np.sum(c * np.tanh(w))),
        lambda w: (np.flip(c * (1 - np.tanh(w) ** 2), axes),),
        {"w": w},
    )
    f = top(r)
    assert (f.kind, f.confidence, f.evidence["axes"]) == ("reversed", "exact", list(axes))
    assert "kernel flipped" in f.hint


def test_copied_gradients_of_two_inputs_whose_source_is_wrong_too():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=4), rng.normal(size=4)
    r = gradcheck.check_grad(
        lambda a, b: float(np.sum(np.sin(a)) + np.sum(np.cos(b))),
        lambda a, b: (2 * np.cos(a), 2 * np.cos(a)),  # a's scaled, and copied into b's
        {"a": a, "b": b},
    )
    copy = next(f for f in r.findings if f.evidence.get("bit_identical"))
    assert (copy.kind, copy.confidence, copy.inputs) == ("wrong_input", "exact", ("a", "b"))
    assert "bit-identical although their numeric gradients differ" in copy.summary


@pytest.mark.parametrize("shape", ["column", "row", "flat"])
def test_a_partial_sum_with_a_bias_of_any_vector_shape(shape):
    f = top(column_bias_last_step(shape, annotate=True))
    assert (f.input, f.evidence["bias"], f.confidence) == ("Wx", "bh", "low")
    assert set(f.kinds) == {"time_range", "wrong_input"}  # weight data cannot tell them apart
    assert f.summary.startswith("Wx is wrong although bh, which shares its")
    assert "a partial sum" in f.summary
    assert "a wrong operand" in f.summary


def test_a_weight_and_bias_pair_needs_their_group():
    # without annotations nothing says which inputs are a layer's weight and bias
    r = column_bias_last_step("column", annotate=False)
    assert all("bias" not in f.evidence for f in r.findings)


def test_a_partial_sum_into_a_weight_of_rank_four():
    # dw[f] = ... keeps the last position only: a piece of the sum that need not be shorter
    # (here it points away from the full sum), so the size clue favours a wrong operand; the
    # finding names the partial sum too, and says which input is right
    f = top(conv_kernel_overwritten())
    assert "time_range" in f.kinds
    assert (f.input, f.inputs, f.evidence["bias"], f.evidence["shared_axis"]) == (
        "w",
        ("w",),
        "b",
        "filter",
    )
    assert "a partial sum" in f.summary
    assert "sums over only some" in f.hint
