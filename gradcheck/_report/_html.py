"""The HTML report: one self-contained page (inline CSS, images embedded as base64 PNG).

Rendered with a jinja2 template shipped in ``gradcheck/templates`` (autoescaping on); heatmaps
come from :mod:`._heatmap`.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from .._breakdown import Breakdown, breakdowns, groups, has_groups
from .._format import (
    HEADER,
    cells,
    evidence_items,
    headline,
    index,
    num,
    ratio,
    run_line,
    verdict,
)
from .._result import CheckResult, InputResult
from ._deps import require
from ._heatmap import LOG_FLOOR, heatmap_png, scale_position, scale_top
from ._json import report_dict

#: mismatch indices listed per input
SHOWN_INDICES = 40


def _bar(excess: float, top: float) -> float:
    """Width in percent of a bar for an excess on the input's heatmap scale."""
    return round(100 * scale_position(excess, top), 1)


def _breakdown(b: Breakdown, top: float) -> dict[str, Any]:
    noun = "step" if b.name == "time" else b.name
    return {
        "name": b.name,
        "noun": noun,
        "threshold_at": _bar(1.0, top),
        "failed": bool(b.failed_rows),
        "rows": [
            {
                "label": row.label,
                "checked": row.checked,
                "mismatches": row.mismatches,
                "kinks": row.kinks,
                "excess": ratio(row.max_excess),
                "bar": _bar(row.max_excess, top),
                "failed": row.failed,
                "worst_index": index(row.worst_index) if row.worst_index is not None else "-",
            }
            for row in b.rows
        ],
    }


def _input(position: int, r: InputResult) -> dict[str, Any]:
    heatmap = heatmap_png(r)
    idx = r.mismatch_indices()
    return {
        "anchor": f"input-{position}",
        "name": r.name,
        "passed": r.passed,
        "verdict": verdict(r),
        "shape": str(tuple(r.shape)),
        "dtype": r.dtype,
        "checked": r.checked,
        "size": r.size,
        "group": r.annotation.group if r.annotation is not None else None,
        "image": base64.b64encode(heatmap.png).decode("ascii") if heatmap is not None else None,
        "width": heatmap.width if heatmap is not None else 0,
        "height": heatmap.height if heatmap is not None else 0,
        "note": heatmap.note if heatmap is not None else "",
        "directions": [
            {
                "analytic": num(d.analytic),
                "numeric": num(d.numeric),
                "abs_error": num(d.abs_error),
                "threshold": num(d.threshold),
                "status": d.status.name.lower(),
            }
            for d in r.directions
        ],
        "breakdowns": [_breakdown(b, scale_top(r)) for b in breakdowns(r)],
        "mismatches": [index(i) for i in idx[:SHOWN_INDICES]],
        "more_mismatches": max(0, len(idx) - SHOWN_INDICES),
        "kinks": [index(k) for k in r.kinks[:SHOWN_INDICES]],
        "more_kinks": max(0, len(r.kinks) - SHOWN_INDICES),
    }


def context(result: CheckResult, title: str | None) -> dict[str, Any]:
    """Everything the template shows, as plain strings, numbers and lists."""
    data = report_dict(result, title)
    positions = {name: i for i, name in enumerate(result.inputs)}
    table = []
    grouped = has_groups(result)
    for group, members in groups(result):
        table.append(
            {
                "name": (group or "ungrouped") if grouped else None,
                "rows": [
                    {
                        "anchor": f"input-{positions[r.name]}",
                        "cells": cells(r),
                        "passed": r.passed,
                    }
                    for r in members
                ],
            }
        )
    worst = data["summary"]["worst"]
    return {
        "title": title or "gradcheck report",
        "passed": result.passed,
        "headline": headline(result),
        "run_line": run_line(result),
        "summary": data["summary"],
        "worst": worst,
        "header": HEADER,
        "groups": table,
        "screens": [
            {
                "inputs": len(s.inputs),
                "analytic": num(s.analytic),
                "numeric": num(s.numeric),
                "threshold": num(s.threshold),
                "status": s.status.name.lower(),
            }
            for s in result.screens
        ],
        "findings": [
            {
                "input": f.input,
                "kind": " or ".join(k.value for k in f.kinds),
                "confidence": f.confidence.value,
                "summary": f.summary,
                "hint": f.hint,
                "score": f"{f.score:.2f}",
                "evidence": evidence_items(f.evidence),
            }
            for f in result.findings
        ],
        "failed_inputs": [
            _input(i, r) for i, r in enumerate(result.inputs.values()) if not r.passed
        ],
        "passed_inputs": [_input(i, r) for i, r in enumerate(result.inputs.values()) if r.passed],
        "notes": list(result.notes),
        "options": [(k, json.dumps(v)) for k, v in data["options"].items()],
        "noise": f"{result.noise:.3g}",
        "tool": data["tool"],
        "environment": data["environment"],
        "log_floor": int(LOG_FLOOR),
    }


def render_html(result: CheckResult, title: str | None = None) -> str:
    """The report as a self-contained HTML page."""
    jinja2 = require("jinja2", "the HTML report")
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gradcheck", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template("report.html.j2")
    html: str = template.render(**context(result, title))
    return html
