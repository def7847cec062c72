"""The diagnosis' public surface: findings_for, the sizes option, the enums, hints as data."""

from __future__ import annotations

import string

import pytest
from diag_layers import gated_check, top
from diag_user_layers import mean_over_batch_and_time

import gradcheck
from gradcheck import Confidence, FindingKind, InvalidArgumentError
from gradcheck._diagnose_rules._hints import HINTS, hint
from lstm_ref.mutants import FINDINGS


def test_findings_for_an_input():
    r = gated_check("deriv_b")
    assert r.findings_for("W") == r.findings_for("bias") == r.findings[:1]
    assert r.findings_for("W")[0].inputs == ("W", "bias")
    assert gated_check(None).findings_for("W") == ()


def test_findings_for_an_unknown_name():
    with pytest.raises(InvalidArgumentError, match=r"name='w'.*checked inputs are \['W', 'bias'\]"):
        gated_check("deriv_b").findings_for("w")


def test_sizes_name_a_ratio_no_axis_carries():
    plain = top(mean_over_batch_and_time(15.0))
    assert (plain.kind, plain.evidence["factor"], plain.evidence["ratio"]) == (
        "constant_ratio",
        None,
        pytest.approx(15.0),
    )
    sized = mean_over_batch_and_time(15.0, sizes={"N": 3, "T": 5})
    f = top(sized)
    assert (f.evidence["factor"], f.confidence) == ("N*T", "exact")
    assert "that is N*T with N = 3, T = 5 (given in sizes)" in f.summary
    assert "divided by neither N nor T" in f.hint
    assert sized.options["sizes"] == {"N": 3, "T": 5}
    f = top(mean_over_batch_and_time(1 / 5, sizes={"T": 5}))
    assert (f.evidence["factor"], f.hint.startswith("A mean over time")) == ("1/T", True)


def test_sizes_name_square_roots_and_other_names():
    f = top(mean_over_batch_and_time(3**0.5, sizes={"d": 3}))
    assert f.evidence["factor"] == "sqrt(d)"
    assert "1/sqrt(d)" in f.hint
    f = top(mean_over_batch_and_time(1 / 7, sizes={"K": 7}))
    assert f.evidence["factor"] == "1/K"
    assert "Too small by K = 7" in f.hint


def test_sizes_leave_a_passing_check_without_findings():
    r = mean_over_batch_and_time(1.0, sizes={"N": 3})
    assert r.passed
    assert r.findings == ()


@pytest.mark.parametrize(
    ("sizes", "words"),
    [
        ([("T", 5)], "Expected a mapping from names to sizes"),
        ({"T": 0}, r"Expected an integer >= 1 for sizes\['T'\]"),
        ({"T": 2.5}, r"sizes\['T'\]"),
        ({"T": True}, r"sizes\['T'\]"),
        ({"": 3}, "a non-empty string name for a key of sizes"),
        ({3: 3}, "a non-empty string name for a key of sizes"),
    ],
    ids=["not-a-mapping", "zero", "float", "bool", "empty-name", "int-name"],
)
def test_sizes_are_validated(sizes, words):
    with pytest.raises(InvalidArgumentError, match=words):
        mean_over_batch_and_time(15.0, sizes=sizes)


def test_finding_kinds_cover_the_planted_catalogue():
    assert set(FINDINGS) <= {k.value for k in FindingKind}
    assert FindingKind("block") == "block"
    assert [c.value for c in Confidence] == ["exact", "high", "low"]


def test_findings_are_typed():
    f = top(gated_check("deriv_b"))
    assert isinstance(f.kind, FindingKind)
    assert isinstance(f.confidence, Confidence)
    data = f.to_dict()
    assert (data["kind"], data["confidence"], data["inputs"]) == ("block", "high", ["W", "bias"])
    with pytest.raises(InvalidArgumentError, match="for Finding.kind, but got kind='guess'"):
        gradcheck.Finding(kind="guess", input="x", summary="", hint="")
    with pytest.raises(InvalidArgumentError, match="'exact', 'high', 'low' for Finding.confidence"):
        gradcheck.Finding(kind="block", input="x", summary="", hint="", confidence="sure")


@pytest.mark.parametrize(
    ("alternatives", "words"),
    [
        (("guess",), "for Finding.alternatives, but got alternatives='guess'"),
        (("block",), "at most 1 kind other than kind='block'"),
        (("time_range", "wrong_input"), "at most 1 kind other than"),
        ("time_range", r"the string alternatives='time_range'; write \('time_range',\)"),
    ],
    ids=["unknown", "the-kind-itself", "two", "a-string"],
)
def test_alternatives_are_typed(alternatives, words):
    with pytest.raises(InvalidArgumentError, match=words):
        gradcheck.Finding(kind="block", input="x", summary="", hint="", alternatives=alternatives)
    f = gradcheck.Finding(kind="block", input="x", summary="", hint="", alternatives=["transposed"])
    assert (f.alternatives, f.kinds) == ((FindingKind.TRANSPOSED,), ("block", "transposed"))
    assert f.to_dict()["alternatives"] == ["transposed"]


@pytest.mark.parametrize("key", sorted(HINTS))
def test_every_hint_is_a_sentence(key):
    names = {n for _, n, _, _ in string.Formatter().parse(HINTS[key]) if n is not None}
    text = hint(key, **{n.lower(): "name" for n in names})
    # a sentence starts with a capital letter, unless with an input's name (never capitalised)
    starts_with_input = HINTS[key].startswith("{") and HINTS[key][1].islower()
    assert text[0].isupper() or starts_with_input
    assert text.endswith(".")
    assert "{" not in text
