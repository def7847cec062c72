"""time_range: errors confined to a range of steps, or a weight sum that stops short."""

from __future__ import annotations

import pytest
from diag_layers import affine_time_check, recurrence_check, top


@pytest.mark.parametrize(
    ("bug", "pattern", "words"),
    [
        ("no_carry", "all-but-last", "carried back from step t+1"),
        ("last", "last", "final step"),
        ("first", "first", "initial state"),
    ],
)
def test_range_of_time_steps(bug, pattern, words):
    f = top(recurrence_check(bug))
    assert (f.kind, f.evidence["pattern"]) == ("time_range", pattern)
    assert words in f.hint
    rel = f.evidence["relative_error_by_index"]
    right = [rel[t] for t in range(len(rel)) if t not in f.evidence["wrong_indices"]]
    assert max(right) < 1e-6


def test_missing_carry_grows_toward_the_start():
    f = top(recurrence_check("no_carry"))
    assert "growing toward the start" in f.summary
    rel = f.evidence["relative_error_by_index"]
    assert rel == sorted(rel, reverse=True)


@pytest.mark.parametrize(("bug", "axis", "index"), [("middle", "time", 2), ("row", "batch", 1)])
def test_single_index_of_a_named_axis(bug, axis, index):
    f = top(recurrence_check(bug))
    assert (f.kind, f.evidence["axis"], f.evidence["wrong_indices"]) == ("block", axis, [index])
    assert f"only {axis} {index} is wrong" in f.summary


def test_weight_summed_over_the_last_step_only():
    f = top(affine_time_check("last_step", drift=True))
    assert (f.kind, f.input, f.evidence["bias"]) == ("time_range", "W", "b")
    assert f.evidence["norm_ratio"] < 0.75 <= f.evidence["projection"]


def test_weight_paired_with_the_wrong_operand():
    f = top(affine_time_check("shifted", drift=False))
    assert (f.kind, f.input, f.evidence["bias"]) == ("wrong_input", "W", "b")
    assert f.evidence["projection"] < 0.75
    assert "wrong operand" in f.hint
