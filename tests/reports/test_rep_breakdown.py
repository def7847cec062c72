"""The structure-aware breakdown: worst error per labelled block, per time step, per group."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rep_helpers as H

import gradcheck as gc
import lstm_ref
from gradcheck._breakdown import breakdowns, excess, groups, runs, worst_excess
from lstm_ref.mutants import MUTANTS


def test_block_breakdown_points_at_the_wrong_gate():
    r = H.failing_block().inputs["w"]
    (b,) = breakdowns(r)
    assert (b.axis, b.name, b.kind) == (1, "gate", "block")
    assert [row.label for row in b.rows] == list(H.GATES)
    assert [(row.start, row.stop) for row in b.rows] == [(0, 2), (2, 4), (4, 6), (6, 8)]
    assert [row.mismatches for row in b.rows] == [0, 6, 0, 0]
    assert [row.checked for row in b.rows] == [6, 6, 6, 6]
    f = b.rows[1]
    assert f.failed
    assert b.failed_rows == [f]
    assert f.max_excess > 1e6
    assert all(row.max_excess < 1 for row in b.rows if row is not f)
    assert f.worst_index is not None
    assert f.worst_index[1] in (2, 3)
    # the row's worst is the input's worst
    assert f.worst_index == r.worst.index
    assert f.max_excess == pytest.approx(r.worst.excess)


def test_time_breakdown_one_row_per_step():
    r = H.failing_time(steps=5).inputs["x"]
    (b,) = breakdowns(r)
    assert (b.axis, b.name, b.kind) == (1, "time", "index")
    assert [row.label for row in b.rows] == ["0", "1", "2", "3", "4"]
    assert [row.failed for row in b.rows] == [True, True, True, True, False]
    assert all(row.checked == 6 for row in b.rows)  # N * D elements per step
    merged = runs(b.rows)
    assert [(first.label, last.label, failed) for first, last, failed, _ in merged] == [
        ("0", "3", True),
        ("4", "4", False),
    ]


def test_groups_keep_the_order_of_first_appearance():
    result = H.failing_block()
    assert [(name, [r.name for r in members]) for name, members in groups(result)] == [
        ("layer 0", ["w"]),
        ("fc", ["b"]),
    ]


def test_unannotated_and_directional_inputs_have_no_breakdown():
    assert breakdowns(H.with_kink().inputs["x"]) == []
    r = H.directional_failing().inputs["w"]
    assert breakdowns(r) == []
    assert r.checked == 0
    assert worst_excess(r) > 1  # from the directions


def test_excess_is_nan_where_not_checked():
    r = H.sampled_failing().inputs["w"]
    ex = excess(r)
    assert int(np.sum(~np.isnan(ex))) == r.checked == 5
    assert np.nanmax(ex) == pytest.approx(r.worst.excess)


def test_lstm_ref_annotations_give_gate_and_layer_breakdowns():
    rng = np.random.default_rng(0)
    params = lstm_ref.init_params(rng, N=2, D=3, H=2, C=2, L=2)
    x, y = rng.standard_normal((2, 1, 3)), rng.integers(0, 2, size=2)  # T = 1: no carry
    bug = MUTANTS["tanh_grad_g"]
    result = gc.check_loss(
        lambda p: bug.loss(p, x, y), params, annotations=lstm_ref.annotations(params)
    )
    assert [name for name, _ in groups(result)] == ["layer 0", "layer 1", "fc"]
    # the candidate gate g is wrong in the bias of the top layer; the other gates are right
    (b,) = breakdowns(result.inputs["layer1.b"])
    worst = {row.label: row.max_excess for row in b.rows}
    assert max(worst, key=lambda k: worst[k]) == "g"
    assert worst["g"] > 1
    assert worst["i"] < 1
    assert worst["f"] < 1
    assert worst["o"] < 1


def test_breakdown_rows_without_checked_elements_are_nan():
    # sample mode over a labelled axis: some blocks may hold no sampled element
    r = H.sampled_blocks().inputs["w"]
    (b,) = breakdowns(r)
    empty = [row for row in b.rows if row.checked == 0]
    assert empty  # first and last element only: blocks b and c have none
    assert all(math.isnan(row.max_excess) and row.worst_index is None for row in empty)
