"""The Markdown report (CI job summaries, review comments)."""

from __future__ import annotations

import re

import numpy as np
import rep_helpers as H

import gradcheck as gc


def _cells(line):
    """The cells of a table row, splitting on unescaped pipes only."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]


def _tables(text):
    lines = text.splitlines()
    tables, current = [], []
    for line in lines:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def test_passing_report():
    text = gc.report(H.passing(), "markdown", title="my layer")
    lines = text.splitlines()
    assert lines[0] == "### ✅ gradcheck passed"
    assert "**my layer**" in lines
    (table,) = _tables(text)
    assert _cells(table[0])[:3] == ["input", "shape", "checked"]
    assert set(table[1]) <= set("|-")
    assert _cells(table[2])[0] == "**layer 0**"
    assert _cells(table[3])[0] == "`w`"
    assert _cells(table[3])[-1] == "✅ ok"
    assert "Where the errors are" not in text
    assert "Likely causes" not in text
    assert "<details><summary>How the check ran</summary>" in text
    assert text.rstrip().endswith("</details>")


def test_failing_report_has_breakdown_causes_and_mismatches():
    text = gc.report(H.with_finding(), "markdown")
    assert text.startswith("### ❌ gradcheck FAILED: 1 of 2 inputs have gradient mismatches")
    inputs, gates = _tables(text)
    widths = {len(_cells(row)) for row in inputs}
    assert widths == {11}
    verdicts = [_cells(row)[-1] for row in inputs[2:] if _cells(row)[1]]
    assert verdicts == ["❌ FAIL 6", "✅ ok"]
    assert "#### Where the errors are" in text
    assert "**`w`** by gate" in text
    assert [_cells(row)[0] for row in gates[2:]] == list(H.GATES)
    assert [_cells(row)[1] for row in gates[2:]] == ["0/6", "6/6", "0/6", "0/6"]
    assert "#### Likely causes" in text
    cause = next(
        line for line in text.splitlines() if line.startswith("- **`w`** (block, confidence high)")
    )
    # the finding's text is escaped: no raw HTML, and its pipe cannot break a table
    assert "\\<b>" in cause
    assert re.search(r"(?<!\\)<", cause) is None
    assert "\\|" in cause
    assert "#### Mismatching elements (worst first)" in text


def test_a_finding_names_its_alternative_kind():
    text = gc.report(H.with_two_kinds(), "markdown")
    cause = "- **`w`** (time\\_range or wrong\\_input, confidence low): w is wrong although b"
    assert cause in text


def test_names_with_markdown_characters_keep_the_table_intact():
    x = np.linspace(-1, 1, 4)
    result = gc.check_grad(
        lambda a, b: float(np.sum(a**2) + np.sum(b**3)),
        lambda a, b: (2 * a, 3 * b**2 + 1.0),
        {"a|b_c*": x, "`tick`": x.copy()},
    )
    text = gc.report(result, "markdown")
    (table, *_) = _tables(text)
    assert {len(_cells(row)) for row in table} == {11}
    names = [_cells(row)[0] for row in table[2:]]
    assert names == ["`a\\|b_c*`", "`` `tick` ``"]


def test_long_time_axes_are_merged_into_runs():
    text = gc.report(H.failing_time(steps=20), "markdown")
    steps = _tables(text)[1]
    assert [_cells(row)[0] for row in steps[2:]] == ["0–18", "19"]
    assert [_cells(row)[1] for row in steps[2:]] == ["114/114", "0/6"]
