"""No finding on correct code; findings in the failure message and in every report format."""

from __future__ import annotations

import json

import pytest
from diag_layers import batch_mean_check, gated_check, skip_check, tanh_check, top

import gradcheck
from gradcheck._diagnose import diagnose


@pytest.mark.parametrize(
    "check", [batch_mean_check, gated_check, skip_check, tanh_check], ids=lambda f: f.__name__
)
def test_no_finding_on_correct_code(check):
    r = check(None)
    assert r.passed
    assert r.findings == ()
    assert diagnose(r.inputs) == ()


@pytest.mark.parametrize("check", [batch_mean_check, gated_check, tanh_check])
def test_no_finding_when_only_rounding_fails_the_check(check):
    # a tolerance far below the numerical error fails the check on rounding alone
    r = check(None, rtol=1e-13, atol=0.0)
    assert not r.passed
    assert r.findings == ()


def test_directional_failure_without_elements_has_no_finding():
    r = batch_mean_check(3.0, mode="directional")
    assert not r.passed
    assert all(x.checked == 0 for x in r.inputs.values())
    assert r.findings == ()


def test_findings_in_the_failure_message():
    r = batch_mean_check(1 / 3)
    with pytest.raises(gradcheck.GradientCheckFailure) as info:
        r.raise_for_failure()
    message = str(info.value)
    f = top(r)
    assert "likely causes:" in message
    flat = " ".join(message.split())  # long findings wrap at 100 columns
    assert f"- x [exact]: {f.summary}" in flat
    assert f"hint: {f.hint}" in flat


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_findings_in_every_report_format(fmt):
    r = gated_check("copy_b_from_a")
    f = top(r)
    out = gradcheck.report(r, fmt)
    if fmt == "json":
        data = json.loads(out)
        assert data["findings"][0]["kind"] == "block"
        assert data["findings"][0]["evidence"]["copies"] == ["a", "b"]
        assert data["findings"][0]["confidence"] == "exact"
    else:
        assert "copied from gate a" in out
        assert "gate b" in out
    assert f.kind in out or fmt == "text"


def test_findings_in_the_html_report():
    pytest.importorskip("jinja2")
    r = gated_check("copy_b_from_a")
    out = gradcheck.report(r, "html")
    assert "Likely causes" in out
    assert "copied from gate a" in out


def test_findings_are_json_safe():
    r = gated_check("swap_a_c")
    data = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert data["findings"][0]["kind"] == "swapped_blocks"
    assert 0 <= data["findings"][0]["score"] <= 1
