"""The diagnosis runs inside every failed check: on any result it returns valid findings.

Results are built directly from random per-element arrays (analytic, numeric, status) and
random annotations, including unchecked elements, kinks, zeros and scalar inputs.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcheck import Annotation, Confidence, FindingKind, InputResult, Status
from gradcheck._diagnose import diagnose

SHAPES = [(), (4,), (6,), (2, 6), (3, 3), (6, 3), (2, 3, 4)]


def input_result(name, analytic, numeric, status, annotation):
    threshold = np.where(status == Status.UNCHECKED, np.nan, 1e-9 + 1e-6 * np.abs(numeric))
    numeric = np.where(status == Status.UNCHECKED, np.nan, numeric)
    mism = int(np.count_nonzero(status == Status.MISMATCH))
    return InputResult(
        name=name,
        shape=analytic.shape,
        dtype="float64",
        checked=int(np.count_nonzero(status != Status.UNCHECKED)),
        mismatches=mism,
        kinks=tuple(tuple(int(i) for i in k) for k in np.argwhere(status == Status.KINK)),
        worst=None,
        max_abs_error=math.nan,
        max_rel_error=math.nan,
        directions=(),
        analytic=analytic,
        numeric=numeric,
        error_estimate=threshold / 4,
        threshold=threshold,
        status=status.astype(np.int8),
        annotation=annotation,
    )


def _annotation(shape, draw):
    if not shape or draw(st.booleans()):
        return None
    axes = []
    for length in shape:
        options = [None, "time", "batch", "hidden"]
        if length % 3 == 0:
            options.append(("gate", ("a", "b", "c")))
        if length % 2 == 0:
            options.append(("part", ("x", "y")))
        axes.append(draw(st.sampled_from(options)))
    group = draw(st.sampled_from([None, "layer 0", "layer 1"]))
    return Annotation.parse({"axes": axes, "group": group}, "name", shape)


def _planted(how, numeric, rng):
    if how == "noise":
        return numeric + rng.normal(size=numeric.shape)
    if how == "zero":
        return np.zeros(numeric.shape)
    if how == "scaled":
        return 3.0 * numeric
    if how == "permuted":
        return rng.permutation(numeric.reshape(-1)).reshape(numeric.shape)
    if how == "tiny":
        return numeric * (1 + 1e-7)
    return numeric.copy()


@st.composite
def results(draw):
    count = draw(st.integers(1, 4))
    out = {}
    for k in range(count):
        shape = draw(st.sampled_from(SHAPES))
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        numeric = rng.normal(size=shape)
        how = draw(st.sampled_from(["noise", "zero", "scaled", "right", "permuted", "tiny"]))
        analytic = _planted(how, numeric, rng)
        status = rng.choice(
            [Status.OK, Status.MISMATCH, Status.UNCHECKED, Status.KINK],
            size=shape,
            p=[0.3, 0.5, 0.1, 0.1],
        )
        status = np.asarray(status, dtype=np.int8)
        name = f"in{k}"
        out[name] = input_result(
            name, np.asarray(analytic, float), numeric, status, _annotation(shape, draw)
        )
    return out


@given(results())
def test_diagnose_never_fails_and_returns_valid_findings(inputs):
    findings = diagnose(inputs)
    assert len(findings) <= 5
    scores = [f.score for f in findings]
    assert scores == sorted(scores, reverse=True)
    for f in findings:
        assert isinstance(f.kind, FindingKind)
        assert isinstance(f.confidence, Confidence)
        assert f.input == f.inputs[0]
        assert set(f.inputs) <= set(inputs)
        assert 0 <= f.score <= 1
        assert f.summary
        assert f.hint.endswith(".")
        json.dumps(f.to_dict(), allow_nan=False)


@pytest.mark.parametrize("shape", SHAPES)
def test_marginal_failures_give_no_finding(shape):
    # every element fails its (tiny) threshold, but by a relative 1e-7: rounding, not a bug
    numeric = np.linspace(-1, 1, math.prod(shape)).reshape(shape) + 0.1
    status = np.full(shape, Status.MISMATCH, dtype=np.int8)
    r = input_result("x", numeric * (1 + 1e-7), numeric, status, None)
    assert diagnose({"x": r}) == ()
