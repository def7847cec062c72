"""Plain-text rendering of a result (used by ``str(result)`` and failure messages)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._result import CheckResult, InputResult


def _g(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return f"{value:.3e}"


def _index(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, index)) + "]"


def _row(r: InputResult) -> list[str]:
    w = r.worst
    if r.checked == 0 and r.directions:
        verdict = "ok (dir)" if r.passed else "FAIL (dir)"
        d = max(r.directions, key=lambda d: d.abs_error / d.threshold if d.threshold else 0.0)
        return [
            r.name,
            str(r.shape),
            f"0/{r.size}",
            _g(d.abs_error),
            "-",
            f"{len(r.directions)} directions",
            _g(d.analytic),
            _g(d.numeric),
            _g(d.error_estimate),
            _g(d.threshold),
            verdict,
        ]
    if r.passed:
        verdict = "ok" + (f", {len(r.kinks)} kinks" if r.kinks else "")
    else:
        verdict = f"FAIL {r.mismatches}" + (f" +{len(r.kinks)} kinks" if r.kinks else "")
    return [
        r.name,
        str(r.shape),
        f"{r.checked}/{r.size}",
        _g(r.max_abs_error),
        _g(r.max_rel_error),
        _index(w.index) if w else "-",
        _g(w.analytic) if w else "-",
        _g(w.numeric) if w else "-",
        _g(w.error_estimate) if w else "-",
        _g(w.threshold) if w else "-",
        verdict,
    ]


HEADER = [
    "input",
    "shape",
    "checked",
    "max abs err",
    "max rel err",
    "worst index",
    "analytic",
    "numeric",
    "err estimate",
    "threshold",
    "verdict",
]


def table(rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def format_text(result: CheckResult) -> str:
    """The result as a headline and a table, one row per checked input."""
    failed = result.failed_inputs
    n = len(result.inputs)
    head = (
        "gradcheck passed"
        if result.passed
        else f"gradcheck FAILED: {len(failed)} of {n} inputs have gradient mismatches"
    )
    if not result.passed and not failed:
        head = "gradcheck FAILED: the joint directional screen failed"
    head += (
        f" (method {result.method}, mode {result.mode_used}, {result.calls} calls, "
        f"{result.wall_time:.3g} s)"
    )
    lines = [head, "", table([HEADER] + [_row(r) for r in result.inputs.values()])]
    for s in result.screens:
        lines.append(
            f"joint screen over {len(s.inputs)} inputs: analytic {_g(s.analytic)}, numeric "
            f"{_g(s.numeric)}, threshold {_g(s.threshold)}: {s.status.name.lower()}"
        )
    if result.findings:
        lines.append("")
        lines.append("likely causes:")
        for f in result.findings:
            lines.append(f"- {f.input}: {f.summary}")
            lines.append(f"  hint: {f.hint}")
    for r in failed:
        idx = r.mismatch_indices()
        if len(idx) > 1:
            shown = ", ".join(_index(i) for i in idx[:8])
            more = f" and {len(idx) - 8} more" if len(idx) > 8 else ""
            lines.append(f"{r.name}: mismatches at {shown}{more}")
    return "\n".join(lines)
