"""Labelled blocks: one wrong block, a copied or zero block, exchanged blocks, transposed blocks,
several blocks without gradient (a missing path)."""

from __future__ import annotations

import pytest
from diag_layers import gated_check, shared_path_check, top


def test_one_block_wrong():
    f = top(gated_check("deriv_b"))
    assert f.kind == "block"
    assert f.evidence["block"] == "b"
    assert list(f.inputs) == ["W", "bias"]
    assert "gate b" in f.summary
    assert "gate b" in f.hint
    assert f.evidence["relative_error_by_block"]["a"] < 1e-6
    assert f.score > 0.99


def test_block_copied_from_another():
    f = top(gated_check("copy_b_from_a"))
    assert (f.kind, f.confidence, f.evidence["copies"]) == ("block", "exact", ["a", "b"])
    assert list(f.inputs) == ["W", "bias"]
    assert (
        "the analytic gate b block is a bit-identical copy of the analytic gate a block, which "
        "is right" in f.summary
    )
    assert "copied from gate a" in f.hint


def test_block_left_at_zero():
    f = top(gated_check("zero_c"))
    assert (f.kind, f.evidence["block"], f.evidence["zero"]) == ("block", "c", True)
    assert "gate c block is exactly zero" in f.summary
    assert f.confidence == "exact"


def test_swapped_blocks():
    r = gated_check("swap_a_c")
    f = top(r)
    assert f.kind == "swapped_blocks"
    assert f.evidence["blocks"] == ["a", "c"]
    assert f.score == 1.0
    assert "Gate a and gate c are exchanged" in f.hint
    # the exchange explains the wrong blocks: no separate "block" finding for a or c
    assert all(x.kind != "block" for x in r.findings)


def test_transposed_blocks():
    f = top(gated_check("transpose_blocks", square=True))
    assert (f.kind, f.input, f.evidence["scope"], f.score) == ("transposed", "W", "blocks", 1.0)
    assert "each (3, 3) gate block" in f.summary


def test_zero_in_several_blocks_is_a_missing_path():
    r = shared_path_check("no_m")
    f = top(r)
    assert f.kind == "missing_term"
    assert f.evidence["zero_blocks"] == ["a", "b"]
    assert "No gradient reaches gate a and gate b" in f.hint
    assert f.score == pytest.approx(0.95)
    # neither zero block is singled out as "the" wrong block
    assert [x.kind for x in r.findings] == ["missing_term"]
