"""missing_term: a missing element-wise factor, and an error that spreads with no pattern."""

from __future__ import annotations

from diag_layers import skip_check, tanh_check, top

from gradcheck import Confidence, FindingKind
from gradcheck._diagnose import _factors, _grad
from gradcheck._diagnose_rules import Candidate, Context, fallback


def test_missing_elementwise_factor():
    r = tanh_check("no_deriv")
    f = top(r)
    assert (f.kind, f.input) == ("missing_term", "x")
    assert f.evidence["min_ratio"] > 1
    assert f.evidence["max_ratio"] > 1.5 * f.evidence["min_ratio"]
    assert "a factor between 0 and 1 missing from the product" in f.hint
    assert f.confidence == "low"


def test_spread_without_pattern_points_at_a_missing_path():
    r = skip_check("no_skip")
    f = top(r)
    assert f.kind == "missing_term"
    assert f.evidence["wrong"] == ["x", "W0"]
    assert f.evidence["right"] == ["W1"]
    assert "missing or wrong term of the chain rule" in f.hint
    assert "several independent mistakes" in f.hint
    assert f.confidence == "low"
    assert len(r.findings) == 1
    # a partial upstream gradient (a head passing down only the last step's) gives the same
    # numbers: the finding names it too
    assert f.alternatives == ("time_range",)
    assert "passed into them over only some of the steps or rows" in f.summary


def test_no_spread_reading_when_an_exchange_shows_however_weakly():
    # its sentence says "no ... exchange": a relation between arrays, even one too weak to be
    # a finding, makes that false
    r = skip_check("no_skip")
    grads = {ir.name: _grad(k, ir) for k, ir in enumerate(r.inputs.values())}
    ctx = Context(grads=grads, wrong=("x", "W0"), factors=_factors(grads, {}))
    assert [c.kind for c in fallback(ctx, [])] == ["missing_term"]
    weak = Candidate(
        kind=FindingKind.SWAPPED_BLOCKS,
        inputs=("W0",),
        quality=0.35,
        confidence=Confidence.LOW,
        phrase="",
        hint="",
        relation=True,
    )
    assert fallback(ctx, [weak]) == []
