"""The text report: table per input, groups, breakdown, likely causes, failure message."""

from __future__ import annotations

import re

import numpy as np
import pytest
import rep_helpers as H

import gradcheck as gc


def _lines(text):
    return text.splitlines()


def test_passing_report_has_headline_table_and_notes():
    text = gc.report(H.passing())
    lines = _lines(text)
    assert lines[0].startswith("gradcheck passed (method central, mode auto -> full, ")
    assert lines[2].split()[:3] == ["input", "shape", "checked"]
    assert lines[3] == "[layer 0]"
    assert lines[4].startswith("w ")
    assert lines[4].endswith("ok")
    assert "24/24" in lines[4]
    assert "notes:" in lines
    assert "where the errors are" not in text
    assert "likely causes" not in text


def test_failing_report_shows_groups_breakdown_and_mismatches():
    text = gc.report(H.failing_block(), title="my layer")
    lines = _lines(text)
    assert lines[0] == "my layer"
    assert lines[1].startswith("gradcheck FAILED: 1 of 2 inputs have gradient mismatches")
    assert "[layer 0]" in lines
    assert "[fc]" in lines
    assert lines.index("[layer 0]") < lines.index("[fc]")
    row_w = next(line for line in lines if line.startswith("w "))
    assert "FAIL 6" in row_w
    assert "24/24" in row_w
    gate = next(line for line in lines if "w by gate:" in line)
    assert re.search(r"\bf \d\.\de\+\d\d FAIL 6/6", gate)
    assert gate.count("FAIL") == 1
    assert any(line.startswith("w: mismatches at [") for line in lines)


def test_time_breakdown_line():
    text = gc.report(H.failing_time(steps=5))
    line = H.logical_line(text, "x by time:")
    assert "step 0 " in line
    assert "step 4 " in line
    assert line.count("FAIL 6/6") == 4
    assert not line.rstrip().endswith("FAIL 6/6")  # the last step passed


def test_long_time_axes_are_merged_into_runs():
    text = gc.report(H.failing_time(steps=20))
    line = H.logical_line(text, "x by time:")
    assert "steps 0-18 " in line
    assert "FAIL 114/114" in line
    assert "step 19 " in line


def test_findings_are_rendered_as_likely_causes():
    text = gc.report(H.with_finding())
    lines = _lines(text)
    start = lines.index("likely causes:")
    assert lines[start + 1] == f"- w [high]: {H.FINDING.summary}"
    assert lines[start + 2] == f"  hint: {H.FINDING.hint}"


def test_kinks_are_listed():
    result = H.with_kink()
    assert result.passed
    text = gc.report(result)
    assert "ok, 1 kink" in text
    assert "x: kinks at [0, 0]" in text


def test_directional_row():
    text = gc.report(H.directional_failing())
    row = next(line for line in _lines(text) if line.startswith("w "))
    assert "0/24" in row
    assert "3 directions" in row
    assert row.endswith("FAIL 3/3 dir")


def test_failure_message_is_the_table_with_breakdown_and_findings():
    result = H.with_finding()
    with pytest.raises(gc.GradientCheckFailure) as info:
        result.raise_for_failure()
    message = str(info.value)
    lines = _lines(message)
    assert lines[0].startswith("gradcheck FAILED: 1 of 2 inputs")
    assert lines[1].startswith("(method central, mode auto -> full, ")  # wrapped to 100 columns
    assert lines[3].split()[:3] == ["input", "shape", "checked"]
    assert any("w by gate:" in line for line in lines)
    assert "likely causes:" in lines
    assert "notes:" not in lines  # the message stays short


def test_report_validates_its_arguments():
    with pytest.raises(gc.InvalidArgumentError, match="CheckResult"):
        gc.report({"passed": True})
    with pytest.raises(gc.InvalidArgumentError, match="format must be one of"):
        gc.report(H.passing(), "pdf")
    with pytest.raises(gc.InvalidArgumentError, match="title must be a string"):
        gc.report(H.passing(), title=3)


def test_reports_print_nothing(capsys):
    result = H.failing_block()
    for fmt in ("text", "json", "markdown"):
        gc.report(result, fmt)
    assert capsys.readouterr() == ("", "")


def test_write_report_picks_the_format_from_the_suffix(tmp_path):
    result = H.failing_block()
    for name, start in [
        ("r.txt", "gradcheck FAILED"),
        ("r.log", "gradcheck FAILED"),
        ("r.json", "{"),
        ("r.md", "### ❌"),
        ("sub/dir/r.markdown", "### ❌"),
    ]:
        path = gc.write_report(result, tmp_path / name)
        assert path == tmp_path / name
        assert path.read_text(encoding="utf-8").startswith(start)
    path = gc.write_report(result, tmp_path / "r.out", format="json")
    assert path.read_text().startswith("{")
    with pytest.raises(gc.InvalidArgumentError, match="suffix"):
        gc.write_report(result, tmp_path / "r.pdf")
    with pytest.raises(gc.InvalidArgumentError, match="file path"):
        gc.write_report(result, 42)
    assert not (tmp_path / "r.pdf").exists()


def test_unchecked_elements_do_not_show_as_nan():
    # sample mode: NaN numeric in unchecked elements must not leak as "nan" in the table
    text = gc.report(H.sampled_failing())
    assert "nan" not in text.lower()
    assert "5/48" in text
    assert np.isnan(H.sampled_failing().inputs["w"].numeric).sum() == 43
