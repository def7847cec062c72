"""wrong_input, swapped groups and whole transposes: exact relations between arrays."""

from __future__ import annotations

from diag_layers import matmul_check, top, two_layer_check


def test_gradients_returned_in_the_wrong_order():
    f = top(matmul_check("order"))
    assert (f.kind, f.score) == ("wrong_input", 1.0)
    assert f.evidence["analytic_of"] == ["x", "w"]
    assert f.evidence["equals_numeric_of"] == ["w", "x"]
    assert "wrong order" in f.hint


def test_one_input_gets_another_inputs_gradient():
    r = matmul_check("dx_twice")
    f = top(r)
    assert (f.kind, f.input, f.evidence["copy_of"]) == ("wrong_input", "w", "x")
    assert (f.confidence, f.evidence["bit_identical"]) == ("exact", True)
    assert "w's gradient is x's" in f.hint
    assert [x.kind for x in r.findings] == ["wrong_input"]


def test_transposed_square_gradient():
    f = top(matmul_check("transpose"))
    assert (f.kind, f.input, f.evidence["scope"], f.score) == ("transposed", "w", "whole", 1.0)


def test_exchanged_groups_are_swapped_blocks():
    f = top(two_layer_check("exchange"))
    assert (f.kind, f.score) == ("swapped_blocks", 1.0)
    assert f.evidence["groups"] == ["layer 0", "layer 1"]
    assert "layer 0 and layer 1 are exchanged" in f.summary


def test_exchanged_inputs_without_annotations_are_wrong_input():
    f = top(two_layer_check("exchange", annotate=False))
    assert (f.kind, f.score) == ("wrong_input", 1.0)


def test_only_one_group_wrong():
    r = two_layer_check("deriv0")
    f = top(r)
    assert (f.kind, f.evidence["group"], f.evidence["right_groups"]) == (
        "block",
        "layer 0",
        ["layer 1"],
    )
    assert "what differs for layer 0" in f.hint
