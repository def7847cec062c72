"""Wrong statements the diagnosis used to make on code it was not written for, kept as
regressions: each layer is written the way the mistake was met (``diag_user_layers``)."""

from __future__ import annotations

import numpy as np
import pytest
from diag_user_layers import (
    dense_and_conv,
    dropped_carry_into_weight,
    leak_forgotten,
    nce_frequent_word,
    packed_gates,
    partial_sum_positive,
    small_square,
)

from gradcheck import Confidence, FindingKind


@pytest.mark.parametrize("scale", [0.3, 0.1])
def test_a_small_missing_term_is_no_constant_ratio(scale):
    # a second path of ~1% left out: the ratio is 0.98-0.99, near 1 and different per input;
    # it used to read as "analytic = 0.989 x numeric" (and 0.9878, 0.9863: one per input)
    r = leak_forgotten(scale)
    assert all(f.kind != "constant_ratio" for f in r.findings)
    (f,) = r.findings
    assert (f.kind, f.confidence, f.inputs) == ("missing_term", "low", ("x", "W1", "b1"))
    assert f.evidence["right"] == ["W2"]
    assert "a second path into the same variable left out" in f.hint


def test_one_wrong_element_dominating_the_norm_is_no_constant_ratio():
    # used to read "analytic = 1.00332 x numeric at every checked element"
    r = nce_frequent_word()
    assert r.inputs["b"].mismatches == 1
    (f,) = r.findings
    assert (f.kind, f.confidence, f.evidence["element_indices"]) == (
        "wrong_elements",
        "exact",
        [[0]],
    )
    assert "only 1 of 10 checked elements is wrong" in f.summary
    assert "np.add.at" in f.hint


def test_no_index_is_called_right_when_it_fails():
    # all four elements fail (out 1 by 2e-4 only): "only out 0 is wrong (the other 1 are right)"
    # was false
    r = small_square(np.array([[1.5, 1 + 2e-4], [1.5, 1 + 2e-4]]), ["in", "out"])
    assert r.inputs["w"].mismatches == 4
    assert all("only" not in f.summary and "indices" not in f.evidence for f in r.findings)


def test_two_axes_with_one_name_give_no_contradiction():
    # one clear error at [0, 1], the three others fail marginally: no "only hidden 0" and
    # "only hidden 1" side by side
    r = small_square(np.array([[1 + 2e-4, 1.5], [1 + 2e-4, 1 + 2e-4]]), ["hidden", "hidden"])
    assert r.inputs["w"].mismatches == 4
    assert r.findings == ()
    # when the others pass, the one wrong element is named once
    r = small_square(np.array([[1.0, 1.5], [1.0, 1.0]]), ["hidden", "hidden"])
    (f,) = r.findings
    assert (f.kind, f.evidence["element_indices"]) == ("wrong_elements", [[0, 1]])


def test_a_copied_block_is_named_while_its_source_is_wrong_too():
    alone = packed_gates(second_bug=False).findings[0]
    assert (alone.kind, alone.confidence, alone.evidence["copies"]) == (
        "block",
        "exact",
        ["i", "f"],
    )
    assert "a bit-identical copy of the analytic gate f block, which is right" in alone.summary
    both = packed_gates(second_bug=True)
    copy = next(f for f in both.findings if "copies" in f.evidence)
    assert (copy.kind, copy.confidence, copy.input) == ("block", "exact", "b")
    assert "gate i and gate f blocks are bit-identical" in copy.summary
    assert both.findings[0] is copy


def test_a_column_block_and_a_flipped_filter_are_not_a_missing_term():
    # used to read "a missing term of the chain rule ... a carry through time"
    r = dense_and_conv(30, 50, slice(20, 25))
    assert all(f.kind != "missing_term" for f in r.findings)
    found = {f.input: f for f in r.findings}
    w, k = found["W"], found["k"]
    assert (w.kind, w.evidence["axis_position"], w.evidence["indices"]) == (
        "block",
        1,
        [20, 21, 22, 23, 24],
    )
    assert "analytic = 1.01 x numeric exactly" in w.summary
    assert (k.kind, k.evidence["axis_position"], k.evidence["indices"]) == ("block", 0, [2])
    assert "there, analytic = -1 x numeric exactly" in k.summary


@pytest.mark.slow
def test_the_reported_size_column_block_and_flipped_filter():
    # the size it was met at: a (120, 200) weight, 10 columns wrong by 1% (about 5 s)
    r = dense_and_conv(120, 200, slice(50, 60))
    assert all(f.kind != "missing_term" for f in r.findings)
    w = next(f for f in r.findings if f.input == "W")
    assert w.evidence["indices"] == list(range(50, 60))


@pytest.mark.parametrize("check", [partial_sum_positive, dropped_carry_into_weight])
def test_a_ratio_below_one_names_a_missing_term_first(check):
    # the hint used to say "an extra factor ... applied once too often"
    (f,) = check().findings
    assert (f.kind, f.confidence) == (FindingKind.MISSING_TERM, Confidence.LOW)
    assert f.hint.startswith("Part of the gradient is missing: a term left out of a sum")
    assert "a carry through time dropped" in f.hint
    assert 0 < f.evidence["min_ratio"] < f.evidence["max_ratio"] < 1
