"""How a :class:`~gradcheck.CheckResult` shows in a notebook: a compact HTML table (numpy only).

Jupyter calls ``CheckResult._repr_html_`` (and ``_repr_markdown_`` where HTML is not shown): the
verdict, how the check ran, a table of the inputs, where the errors are and the likely causes. It
needs neither jinja2 nor matplotlib; the full page with heatmaps is ``gradcheck.report(result,
"html")``. Inline styles only, so the table also reads where a notebook viewer drops ``<style>``.
"""

from __future__ import annotations

from html import escape

from .._breakdown import breakdowns, groups, has_groups
from .._format import HEADER, breakdown_line, cells, headline, run_line
from .._result import CheckResult, InputResult

#: table rows shown before the passing inputs are summarised as "and N more"
MAX_ROWS = 40
#: likely causes shown (the full list is in every report)
MAX_FINDINGS = 3

_OK, _FAIL, _MUTED, _LINE = "#1a7f37", "#cf222e", "#57606a", "#d0d7de"
_CELL = f"border:1px solid {_LINE};padding:2px 6px;text-align:left"
_MONO = "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace"


def _shown(result: CheckResult) -> set[str]:
    """The inputs that get a row: every failed input, then passing ones up to :data:`MAX_ROWS`."""
    failed = [r.name for r in result.inputs.values() if not r.passed]
    room = max(0, MAX_ROWS - len(failed))
    passing = [r.name for r in result.inputs.values() if r.passed][:room]
    return set(failed) | set(passing)


def _row(r: InputResult) -> str:
    tds = []
    values = cells(r)
    for i, value in enumerate(values):
        style = _CELL
        if i == 0:
            style += f";{_MONO};font-weight:600"
        elif i == len(values) - 1:
            style += f";font-weight:700;color:{_OK if r.passed else _FAIL}"
        else:
            style += f";{_MONO};white-space:nowrap"
        tds.append(f'<td style="{style}">{escape(value)}</td>')
    background = "" if r.passed else ' style="background:#ffebe9"'
    return f"<tr{background}>{''.join(tds)}</tr>"


def render_notebook_html(result: CheckResult) -> str:
    """The compact HTML of ``result``: verdict, table of inputs, breakdown, likely causes."""
    colour = _OK if result.passed else _FAIL
    mark = "✔" if result.passed else "✘"
    parts = [
        '<div class="gradcheck-result">',
        f'<div style="font-weight:700;color:{colour}">{mark} {escape(headline(result))}</div>',
        f'<div style="color:{_MUTED}">{escape(run_line(result))}</div>',
    ]
    shown = _shown(result)
    head = "".join(f'<th style="{_CELL};background:#f6f8fa">{escape(h)}</th>' for h in HEADER)
    rows = []
    grouped = has_groups(result)
    for group, members in groups(result):
        members = [r for r in members if r.name in shown]
        if grouped and members:
            rows.append(
                f'<tr><td colspan="{len(HEADER)}" style="{_CELL};background:#eef1f4;'
                f'font-weight:600">{escape(group or "ungrouped")}</td></tr>'
            )
        rows += [_row(r) for r in members]
    parts.append(
        f'<table style="border-collapse:collapse;margin:4px 0"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    hidden = len(result.inputs) - len(shown)
    if hidden:
        parts.append(f'<div style="color:{_MUTED}">and {hidden} more inputs that passed</div>')
    for s in result.screens:
        parts.append(
            f"<div>joint screen over {len(s.inputs)} inputs: "
            f"<b>{escape(s.status.name.lower())}</b></div>"
        )
    where = [breakdown_line(b) for r in result.failed_inputs for b in breakdowns(r)]
    if where:
        items = "".join(f'<li style="{_MONO}">{escape(line)}</li>' for line in where)
        parts.append(
            "<div>where the errors are (worst |analytic − numeric| / threshold, 1 = limit):"
            f'</div><ul style="margin:2px 0">{items}</ul>'
        )
    if result.findings:
        items = "".join(
            f"<li><code>{escape(f.input)}</code>: {escape(f.summary)}"
            f'<br><span style="color:{_MUTED}">hint: {escape(f.hint)}</span></li>'
            for f in result.findings[:MAX_FINDINGS]
        )
        more = len(result.findings) - MAX_FINDINGS
        tail = f'<div style="color:{_MUTED}">and {more} more</div>' if more > 0 else ""
        parts.append(f'<div>likely causes:</div><ul style="margin:2px 0">{items}</ul>{tail}')
    parts.append(
        f'<div style="color:{_MUTED};font-size:smaller">full report: '
        "<code>gradcheck.write_report(result, &quot;check.html&quot;)</code></div>"
    )
    parts.append("</div>")
    return "\n".join(parts)
