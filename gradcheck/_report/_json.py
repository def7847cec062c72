"""The JSON report: the result's data, per-input statistics and breakdowns, strict JSON.

Non-finite numbers are written as the strings ``"nan"``, ``"inf"`` and ``"-inf"`` (never as bare
``NaN``, which is not JSON); the layout is described by ``gradcheck/schema/report.schema.json``.
"""

from __future__ import annotations

import json
import math
import platform
from typing import Any

import numpy as np

from .._breakdown import Breakdown, breakdowns, excess, groups, worst_excess
from .._result import CheckResult, InputResult, _num

#: bumped on any change of the layout that a consumer could notice
SCHEMA_VERSION = "2.3"


def _annotation(r: InputResult) -> dict[str, Any] | None:
    ann = r.annotation
    if ann is None:
        return None
    return {
        "axes": [
            {"name": a.name, "labels": list(a.labels) if a.labels is not None else None}
            for a in ann.axes
        ],
        "group": ann.group,
    }


def _breakdown(b: Breakdown) -> dict[str, Any]:
    return {
        "axis": b.axis,
        "name": b.name,
        "kind": b.kind,
        "rows": [
            {
                "label": row.label,
                "start": row.start,
                "stop": row.stop,
                "checked": row.checked,
                "mismatches": row.mismatches,
                "kinks": row.kinks,
                "max_abs_error": _num(row.max_abs_error),
                "max_excess": _num(row.max_excess),
                "worst_index": list(row.worst_index) if row.worst_index is not None else None,
            }
            for row in b.rows
        ],
    }


def _summary(result: CheckResult) -> dict[str, Any]:
    worst: dict[str, Any] | None = None
    best = -math.inf
    for r in result.inputs.values():
        ex = worst_excess(r)
        if not math.isnan(ex) and ex > best:
            best = ex
            worst = {
                "input": r.name,
                "index": list(r.worst.index) if r.worst is not None else None,
                "excess": _num(ex),
                "abs_error": _num(r.worst.abs_error if r.worst else r.max_abs_error),
            }
    return {
        "inputs": len(result.inputs),
        "failed_inputs": [r.name for r in result.failed_inputs],
        "elements": sum(r.size for r in result.inputs.values()),
        "checked": sum(r.checked for r in result.inputs.values()),
        "unverified": sum(r.unverified for r in result.inputs.values()),
        "mismatches": sum(r.mismatches for r in result.inputs.values()),
        "kinks": sum(len(r.kinks) for r in result.inputs.values()),
        "worst": worst,
    }


def report_dict(result: CheckResult, title: str | None = None) -> dict[str, Any]:
    """The JSON-safe report of ``result`` (see the module docstring)."""
    from .. import __version__

    data = result.to_dict()
    for entry, r in zip(data["inputs"], result.inputs.values(), strict=True):
        ex = excess(r)
        entry["group"] = r.annotation.group if r.annotation is not None else None
        entry["annotation"] = _annotation(r)
        entry["max_excess"] = _num(worst_excess(r))
        entry["elements_over_threshold"] = int(np.sum(ex > 1))
        entry["breakdown"] = [_breakdown(b) for b in breakdowns(r)]
    head = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "gradcheck", "version": __version__},
        "environment": {
            "numpy": np.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
        },
        "title": title,
        "summary": _summary(result),
        "groups": [
            {"name": name, "inputs": [r.name for r in members]} for name, members in groups(result)
        ],
    }
    return head | data


def render_json(result: CheckResult, title: str | None = None) -> str:
    """The report as an indented, strict JSON document (ends with a newline)."""
    return json.dumps(report_dict(result, title), indent=2, allow_nan=False) + "\n"
