"""Plain-text rendering of a result (``str(result)``, failure messages and the text report).

Also the number formatting shared by the other report formats, so a value reads the same in a
terminal, a Markdown summary and an HTML page.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from ._breakdown import Breakdown, breakdowns, groups, has_groups, runs

if TYPE_CHECKING:
    from ._result import CheckResult, DirectionCheck, InputResult

#: mismatch indices listed per failed input before "and N more"
SHOWN_INDICES = 8
#: index rows (time steps) listed one by one; longer axes are merged into runs
SHOWN_STEPS = 12
#: the text report's width in columns
WIDTH = 100
#: table columns left out, in this order, when the text table would be wider than WIDTH
OPTIONAL = ("err estimate", "max rel err", "max abs err")


def num(value: float) -> str:
    """A value in 4 significant digits (``-`` for NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return f"{value:.3e}"


def ratio(value: float) -> str:
    """An excess ``error / threshold`` in 2 significant digits (``-`` for NaN)."""
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf"
    if value != 0 and (value < 1e-3 or value >= 1e4):
        return f"{value:.1e}"
    return f"{value:.2g}"


def evidence_value(value: object) -> str:
    """A number, list or mapping of a finding's evidence, as short readable text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {evidence_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        inner = [evidence_value(v) for v in value]
        nested = any(isinstance(v, list | tuple | Mapping) for v in value)
        return ", ".join(f"({v})" if nested else v for v in inner)
    return repr(value)


def evidence_items(evidence: Mapping[str, object]) -> list[tuple[str, str]]:
    """``(label, text)`` per entry of a finding's evidence, labels with spaces for underscores."""
    from ._result import _jsonable

    return [(str(k).replace("_", " "), evidence_value(_jsonable(v))) for k, v in evidence.items()]


def index(idx: tuple[int, ...]) -> str:
    """An element index as ``[i, j]``."""
    return "[" + ", ".join(map(str, idx)) + "]"


def shape(s: tuple[int, ...]) -> str:
    """A shape as ``(3, 4)``."""
    return str(tuple(s))


def headline(result: CheckResult) -> str:
    """One line: the verdict and the count of failed inputs."""
    failed = result.failed_inputs
    if result.passed:
        return "gradcheck passed"
    if not failed:
        if any(f.kind == "contract" for f in result.findings):
            return "gradcheck FAILED: the backward pass breaks its framework's contract"
        return "gradcheck FAILED: the joint directional screen failed"
    if all(r.mismatches == 0 and r.unverified for r in failed):
        return (
            f"gradcheck FAILED: {len(failed)} of {len(result.inputs)} inputs could not be "
            "verified (numerical derivatives too uncertain)"
        )
    return (
        f"gradcheck FAILED: {len(failed)} of {len(result.inputs)} inputs have gradient mismatches"
    )


def run_line(result: CheckResult) -> str:
    """How the check ran: method, mode used, calls and time."""
    mode = (
        result.mode_used
        if result.mode_used == result.mode
        else (f"{result.mode} -> {result.mode_used}")
    )
    calls = f"{result.calls} calls"
    head = ""
    check = result.options.get("check")
    if isinstance(check, str):  # forward mode and second order: the entry point, its own calls
        head = f"check_{check}, "
        calls += f" + {result.backward_calls} of {ANALYTIC.get(check, 'the derivative')}"
    return f"{head}method {result.method}, mode {mode}, {calls}, {result.wall_time:.3g} s"


#: what computes the analytic side of the forward-mode and second-order checks (by
#: ``options["check"]``)
ANALYTIC = {"jvp": "jvp (and vjp)", "hvp": "hvp", "gradgrad": "vjp and vjp_jvp"}


def _block(r: InputResult, d: DirectionCheck) -> str:
    """Where a direction over a block lies: the first and last index of the block (C order)."""
    assert d.elements is not None
    lo, hi = d.elements
    first = index(tuple(int(i) for i in np.unravel_index(lo, r.shape)))
    last = index(tuple(int(i) for i in np.unravel_index(hi - 1, r.shape)))
    return f"{first}..{last}"


def verdict(r: InputResult) -> str:
    """The verdict cell of an input: ``ok``, ``FAIL n`` (with kinks), or their directional kind."""
    if r.checked == 0 and r.directions:
        if r.passed:
            return "ok (dir)"
        failed = sum(not d.passed for d in r.directions)
        return f"FAIL {failed}/{len(r.directions)} dir"
    kinks = f"{len(r.kinks)} kink{'s' if len(r.kinks) != 1 else ''}"
    if r.passed:
        return "ok" + (f", {kinks}" if r.kinks else "")
    unverified = f" +{r.unverified} unverified" if r.unverified else ""
    if r.mismatches == 0 and r.unverified:
        return f"UNVERIFIED {r.unverified}" + (f" +{kinks}" if r.kinks else "")
    if r.mismatches == 0 and r.kinks:
        return f"FAIL {kinks}"
    return f"FAIL {r.mismatches}" + (f" +{kinks}" if r.kinks else "") + unverified


def worst_direction(r: InputResult) -> DirectionCheck:
    """The direction of ``r`` with the largest error relative to its threshold."""
    return max(r.directions, key=lambda d: d.abs_error / d.threshold if d.threshold else 0.0)


def cells(r: InputResult) -> list[str]:
    """The cells of an input's row, in the order of :data:`HEADER`."""
    w = r.worst
    if r.checked == 0 and r.directions:
        d = worst_direction(r)
        return [
            r.name,
            shape(r.shape),
            f"0/{r.size}",
            num(d.abs_error),
            "-",
            f"{len(r.directions)} directions",
            num(d.analytic),
            num(d.numeric),
            num(d.error_estimate),
            num(d.threshold),
            verdict(r),
        ]
    return [
        r.name,
        shape(r.shape),
        f"{r.checked}/{r.size}",
        num(r.max_abs_error),
        num(r.max_rel_error),
        index(w.index) if w else "-",
        num(w.analytic) if w else "-",
        num(w.numeric) if w else "-",
        num(w.error_estimate) if w else "-",
        num(w.threshold) if w else "-",
        verdict(r),
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
    """Left-aligned columns separated by two spaces.

    A row whose cells after the first are all empty (a ``[group]`` row) spans the table: it does
    not widen the first column.
    """
    body = [row for row in rows if any(row[1:])] or rows
    widths = [max(len(row[i]) for row in body) for i in range(len(rows[0]))]
    return "\n".join(
        (
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            if any(row[1:])
            else row[0]
        ).rstrip()
        for row in rows
    )


def _width(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def fitted_table(header: list[str], rows: list[list[str]], width: int = WIDTH) -> list[str]:
    """The table of inputs in at most ``width`` columns, as lines.

    When the full table is wider, the columns of :data:`OPTIONAL` are left out one by one (a
    line after the table says which); when that is not enough (long input names, large shapes),
    each input gets a block of wrapped lines instead of a row.
    """
    keep = list(range(len(header)))
    dropped: list[str] = []
    for name in (None, *OPTIONAL):
        if name is not None:
            keep.remove(header.index(name))
            dropped.append(name)
        text = table([[row[i] for i in keep] for row in [header, *rows]])
        if _width(text) <= width:
            lines = text.splitlines()
            if dropped:
                names = ", ".join(dropped[:-1]) + " and " * (len(dropped) > 1) + dropped[-1]
                lines += wrap(
                    f"({names} left out to fit {width} columns: see the JSON or HTML report)",
                    width,
                )
            return lines
    lines = []
    for row in rows:
        if not any(row[1:]):
            lines.append(row[0])
            continue
        first = f"{row[0]}  {row[1]}  {row[2]} checked  {row[-1]}"
        rest = ", ".join(f"{h} {c}" for h, c in zip(header[3:-1], row[3:-1], strict=True))
        lines += wrap(first, width, indent="    ")
        lines += wrap(rest, width, indent="    ", first="    ")
    return lines


def wrap(text: str, width: int = WIDTH, *, indent: str = "  ", first: str = "") -> list[str]:
    """``text`` wrapped to ``width`` columns at spaces (words longer than a line are cut)."""
    return textwrap.wrap(
        text,
        width,
        initial_indent=first,
        subsequent_indent=indent,
        break_on_hyphens=False,
        break_long_words=True,
    ) or [first.rstrip()]


def wrap_parts(head: str, parts: list[str], width: int = WIDTH, indent: str = "    ") -> list[str]:
    """``head`` then ``parts`` joined by ``", "``, broken between parts to fit ``width``."""
    lines: list[str] = []
    line = head
    for k, part in enumerate(parts):
        piece = part + ("," if k < len(parts) - 1 else "")
        candidate = f"{line} {piece}" if line.strip() else line + piece
        if len(candidate) <= width or not line.strip():
            line = candidate
        else:
            lines.append(line)
            line = indent + piece
    lines.append(line)
    return [out for line in lines for out in wrap(line, width, indent=indent)]


def input_rows(result: CheckResult) -> list[list[str]]:
    """The table rows of every input, with a ``[group]`` row before each group when grouped."""
    rows: list[list[str]] = []
    grouped = has_groups(result)
    for group, members in groups(result):
        if grouped:
            rows.append([f"[{group or 'ungrouped'}]"] + [""] * (len(HEADER) - 1))
        rows += [cells(r) for r in members]
    return rows


def step_label(b: Breakdown, first: str, last: str) -> str:
    """``step 3`` or ``steps 0-3`` for index rows, the block label for blocks."""
    noun = "step" if b.name == "time" else b.name
    if first == last:
        return f"{noun} {first}"
    return f"{noun}s {first}-{last}"


def breakdown_parts(b: Breakdown) -> list[str]:
    """The worst excess of each block (or run of time steps) of one axis, one string each."""
    parts = []
    if b.kind == "block" or len(b.rows) <= SHOWN_STEPS:
        for row in b.rows:
            label = row.label if b.kind == "block" else step_label(b, row.label, row.label)
            fail = f" FAIL {row.mismatches}/{row.checked}" if row.failed else ""
            parts.append(f"{label} {ratio(row.max_excess)}{fail}")
    else:
        for first, last, failed, worst in runs(b.rows):
            label = step_label(b, first.label, last.label)
            members = b.rows[first.start : last.stop]
            if failed:
                bad = sum(r.mismatches for r in members)
                total = sum(r.checked for r in members)
                parts.append(f"{label} {ratio(worst)} FAIL {bad}/{total}")
            else:
                parts.append(f"{label} {ratio(worst)}")
    return parts


def breakdown_line(b: Breakdown) -> str:
    """One line: the worst excess of each block (or run of time steps) of one axis."""
    return f"{b.input} by {b.name}: " + ", ".join(breakdown_parts(b))


def _listing(indices: list[tuple[int, ...]]) -> list[str]:
    shown = [index(i) for i in indices[:SHOWN_INDICES]]
    if len(indices) > SHOWN_INDICES:
        shown[-1] += f" and {len(indices) - SHOWN_INDICES} more"
    return shown


def format_text(result: CheckResult, *, notes: bool = False, title: str | None = None) -> str:
    """The result as a headline and a table, one row per checked input, then the details.

    The details are the breakdown of the failed inputs along their annotated axes, the likely
    causes (findings, each with its confidence: ``- W [exact]: ...``), the indices of the
    mismatches and, with ``notes=True``, how the check ran. Every line fits :data:`WIDTH` columns.
    """
    lines = wrap(title, indent="  ") if title else []
    first = f"{headline(result)} ({run_line(result)})"
    if len(first) <= WIDTH:
        lines.append(first)
    else:
        lines += [*wrap(headline(result), indent="  "), *wrap(f"({run_line(result)})")]
    lines.append("")
    lines += fitted_table(HEADER, input_rows(result))
    for s in result.screens:
        lines += wrap(
            f"joint screen over {len(s.inputs)} inputs: analytic {num(s.analytic)}, numeric "
            f"{num(s.numeric)}, threshold {num(s.threshold)}: {s.status.name.lower()}"
        )
    bounds = [
        f"{r.name} {num(r.detection_bound)}"
        for r in result.inputs.values()
        if not math.isnan(r.detection_bound)
    ]
    if bounds and result.passed:
        lines += wrap_parts(
            "detection bound (the smallest relative error caught in any element whose gradient "
            "is at least 1/8 of its input's largest):",
            bounds,
        )
    failed = result.failed_inputs
    bds = [b for r in failed for b in breakdowns(r)]
    if bds:
        lines += ["", "where the errors are (worst |analytic - numeric| / threshold, 1 = limit):"]
        for b in bds:
            lines += wrap_parts(f"  {b.input} by {b.name}:", breakdown_parts(b), indent="    ")
    if result.findings:
        lines += ["", "likely causes:"]
        for f in result.findings:
            lines += wrap(f"- {f.input} [{f.confidence.value}]: {f.summary}", indent="  ")
            lines += wrap(f"hint: {f.hint}", indent="    ", first="  ")
    mismatch_lines = []
    for r in result.inputs.values():
        idx = r.mismatch_indices()
        if len(idx) > 1:
            mismatch_lines += wrap_parts(f"{r.name}: mismatches at", _listing(idx))
        if r.kinks:
            mismatch_lines += wrap_parts(f"{r.name}: kinks at", _listing(list(r.kinks)))
        blocks = [
            _block(r, d)
            for d in r.directions
            if not d.passed and not r.mismatches and d.elements is not None
        ]
        if blocks:
            mismatch_lines += wrap_parts(f"{r.name}: failing directions over", blocks)
    if mismatch_lines:
        lines += ["", *mismatch_lines]
    if notes and result.notes:
        lines += ["", "notes:"]
        for n in result.notes:
            lines += wrap(f"- {n}", indent="  ")
    return "\n".join(lines)
