"""time_range: errors confined to a range of steps, or a weight sum that stops short."""

from __future__ import annotations

import pytest
from diag_layers import affine_time_check, recurrence_check, top


@pytest.mark.parametrize(
    ("bug", "kind", "pattern", "words"),
    [
        ("no_carry", "missing_term", "all-but-last", "carried back from step t+1"),
        ("last", "time_range", "last", "final step"),
        ("first", "time_range", "first", "initial state"),
    ],
)
def test_range_of_time_steps(bug, kind, pattern, words):
    f = top(recurrence_check(bug))
    assert (f.kind, f.evidence["pattern"], f.confidence) == (kind, pattern, "exact")
    assert words in f.hint
    rel = f.evidence["relative_error_by_index"]
    right = [rel[t] for t in range(len(rel)) if t not in f.evidence["indices"]]
    assert max(right) < 1e-6


def test_missing_carry_grows_toward_the_start():
    f = top(recurrence_check("no_carry"))
    assert "growing toward the start" in f.summary
    rel = f.evidence["relative_error_by_index"]
    assert rel == sorted(rel, reverse=True)


@pytest.mark.parametrize(
    ("bug", "axis", "index", "words"),
    [
        ("middle", "time", 2, "only time step 2 is wrong"),
        ("row", "batch", 1, "lie in index 1 of batch (1 of 3); every element outside passes"),
    ],
)
def test_single_index_of_a_named_axis(bug, axis, index, words):
    f = top(recurrence_check(bug))
    assert (f.kind, f.evidence["axis"], f.evidence["indices"]) == ("block", axis, [index])
    assert (f.confidence, f.evidence["axis_position"]) == ("exact", 0 if axis == "batch" else 1)
    assert words in f.summary


def test_weight_summed_over_the_last_step_only():
    f = top(affine_time_check("last_step", drift=True))
    assert (f.kinds, f.input, f.evidence["bias"]) == (("time_range", "wrong_input"), "W", "b")
    assert f.evidence["norm_ratio"] < 0.75 <= f.evidence["projection"]


def test_weight_paired_with_the_wrong_operand():
    f = top(affine_time_check("shifted", drift=False))
    assert (f.kinds, f.input, f.evidence["bias"]) == (("wrong_input", "time_range"), "W", "b")
    assert f.evidence["projection"] < 0.75
    assert "wrong operand" in f.hint
