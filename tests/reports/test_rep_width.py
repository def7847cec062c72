"""The text report fits 100 columns, also with long names, large shapes and long findings."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import rep_helpers as H

import gradcheck as gc
from gradcheck._format import WIDTH

LONG = "encoder.layers.11.self_attention.query_projection.weight"


def _sum_sin(*xs):
    return float(sum(np.sum(np.sin(x)) for x in xs))


def _cos_wrong_first(*xs):
    grads = [np.cos(x) for x in xs]
    grads[0] = grads[0] * 1.5
    return tuple(grads)


def long_names():
    """Input names too long for a table row: each input becomes a block of lines."""
    rng = np.random.default_rng(0)
    inputs = {
        LONG: rng.standard_normal((2, 3, 4, 5, 6)),
        LONG.replace("query", "key"): rng.standard_normal((7, 3)),
    }
    notes = {LONG: {"axes": ["a", "b", "c", "d", "e"], "group": "a group name " * 6}}
    return gc.check_grad(_sum_sin, _cos_wrong_first, inputs, annotations=notes)


def medium_names():
    """Names that fit once the optional columns are left out."""
    rng = np.random.default_rng(1)
    inputs = {"decoder.block0.attn.Wq": rng.standard_normal((20, 12))}
    return gc.check_grad(_sum_sin, _cos_wrong_first, inputs)


def long_time_axis():
    return H.failing_time(steps=40)


def long_finding():
    finding = gc.Finding(
        kind="block",
        input=LONG,
        summary="the error sits in one block " * 12 + "x" * 130,
        hint="look at the derivative of the gate " * 8,
        evidence={},
        score=0.5,
    )
    return dataclasses.replace(long_names(), findings=(finding,) * 2)


def with_kinks():
    x = np.zeros((30, 4))
    return gc.check_grad(lambda x: float(np.sum(np.abs(x))), lambda x: (np.ones_like(x),), {"x": x})


def directional_many():
    rng = np.random.default_rng(2)
    inputs = {f"{LONG}.{k}": rng.standard_normal((40, 60)) for k in range(3)}
    return gc.check_grad(_sum_sin, _cos_wrong_first, inputs, mode="auto", budget=10)


WIDE = {
    "long_names": long_names,
    "medium_names": medium_names,
    "long_time_axis": long_time_axis,
    "long_finding": long_finding,
    "with_kinks": with_kinks,
    "directional_many": directional_many,
    **H.ALL,
}


@pytest.mark.parametrize("make", list(WIDE.values()), ids=list(WIDE))
def test_every_line_fits_100_columns(make):
    result = make()
    title = "tests/test_model.py::test_encoder[" + "param-" * 30 + "] (check_grad)"
    for text in (gc.report(result, title=title), str(result)):
        widths = [len(line) for line in text.splitlines()]
        assert max(widths) <= WIDTH, text


def test_long_names_become_blocks_that_keep_every_value():
    result = long_names()
    text = gc.report(result)
    assert result.inputs[LONG].mismatches > 0
    w = result.inputs[LONG].worst
    assert f"{LONG}  (2, 3, 4, 5, 6)  720/720 checked  FAIL" in text
    body = " ".join(text.split())
    for value in (gc._format.num(w.threshold), gc._format.num(w.error_estimate)):
        assert value in body
    assert f"worst index {gc._format.index(w.index)}" in body


def test_medium_names_keep_the_table_and_say_which_columns_are_left_out():
    text = gc.report(medium_names())
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("input "))
    assert "threshold" in header
    assert "err estimate" not in header
    assert "max rel err" not in header
    assert "analytic" in header
    assert "worst index" in header
    assert any(
        line.startswith("(err estimate, max rel err and max abs err left out") for line in lines
    )
    row = next(line for line in lines if line.startswith("decoder.block0.attn.Wq "))
    assert row.endswith("FAIL 240")
