"""The Markdown report, for CI job summaries and review comments (GitHub-flavoured tables)."""

from __future__ import annotations

import re

from .._breakdown import Breakdown, breakdowns, groups, has_groups, runs
from .._format import HEADER, SHOWN_INDICES, SHOWN_STEPS, cells, headline, index, ratio, run_line
from .._result import CheckResult

_ESCAPE = str.maketrans({c: "\\" + c for c in "\\`*_[]<|~"})


def esc(text: str) -> str:
    """Escape Markdown (and inline HTML) special characters in plain text."""
    return text.translate(_ESCAPE).replace("\n", " ")


def code(text: str) -> str:
    """Inline code that survives backticks and pipes inside ``text``."""
    text = text.replace("|", "\\|").replace("\n", " ")
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _breakdown_table(b: Breakdown) -> list[str]:
    noun = "step" if b.name == "time" else b.name
    rows = []
    if b.kind == "block" or len(b.rows) <= SHOWN_STEPS:
        for row in b.rows:
            rows.append(
                [
                    esc(row.label),
                    f"{row.mismatches}/{row.checked}",
                    ratio(row.max_excess),
                    index(row.worst_index) if row.worst_index is not None else "-",
                    "❌" if row.failed else "✅",
                ]
            )
    else:
        for first, last, failed, worst in runs(b.rows):
            members = b.rows[first.start : last.stop]
            label = first.label if first is last else f"{first.label}–{last.label}"
            bad = sum(r.mismatches for r in members)
            total = sum(r.checked for r in members)
            rows.append([esc(label), f"{bad}/{total}", ratio(worst), "", "❌" if failed else "✅"])
    header = [esc(noun), "mismatches", "worst error / threshold", "worst index", ""]
    return [f"**{code(b.input)}** by {esc(b.name)}", "", *_table(header, rows), ""]


def render_markdown(result: CheckResult, title: str | None = None) -> str:
    """The report as Markdown: verdict, table of inputs, breakdowns, likely causes, details."""
    mark = "✅" if result.passed else "❌"
    lines = [f"### {mark} {esc(headline(result))}", ""]
    if title:
        lines += [f"**{esc(title)}**", ""]
    lines += [esc(run_line(result)), ""]
    rows = []
    grouped = has_groups(result)
    for group, members in groups(result):
        if grouped:
            rows.append([f"**{esc(group or 'ungrouped')}**"] + [""] * (len(HEADER) - 1))
        for r in members:
            c = cells(r)
            c[0] = code(c[0])
            c[-1] = ("✅ " if r.passed else "❌ ") + c[-1]
            rows.append([esc(x) if i not in (0, len(c) - 1) else x for i, x in enumerate(c)])
    lines += _table([esc(h) for h in HEADER], rows)
    for s in result.screens:
        lines += [
            "",
            f"Joint screen over {len(s.inputs)} inputs: analytic {s.analytic:.3e}, numeric "
            f"{s.numeric:.3e}, threshold {s.threshold:.3e}: **{s.status.name.lower()}**",
        ]
    failed = result.failed_inputs
    bds = [b for r in failed for b in breakdowns(r)]
    if bds:
        lines += ["", "#### Where the errors are", ""]
        for b in bds:
            lines += _breakdown_table(b)
    if result.findings:
        lines += ["", "#### Likely causes", ""]
        for f in result.findings:
            kinds = " or ".join(k.value for k in f.kinds)
            what = f"{kinds}, confidence {f.confidence.value}"
            lines.append(f"- **{code(f.input)}** ({esc(what)}): {esc(f.summary)}  ")
            lines.append(f"  _{esc(f.hint)}_")
    mism = []
    for r in failed:
        idx = r.mismatch_indices()
        if idx:
            shown = ", ".join(index(i) for i in idx[:SHOWN_INDICES])
            more = f" and {len(idx) - SHOWN_INDICES} more" if len(idx) > SHOWN_INDICES else ""
            mism.append(f"- {code(r.name)}: {esc(shown + more)}")
    if mism:
        lines += ["", "#### Mismatching elements (worst first)", "", *mism]
    details = [f"- {esc(n)}" for n in result.notes]
    opts = ", ".join(f"{k}={v!r}" for k, v in result.options.items())
    details.append(f"- options: {esc(opts)}")
    details.append(f"- noise of one evaluation: {result.noise:.3g}")
    lines += ["", "<details><summary>How the check ran</summary>", "", *details, "", "</details>"]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).rstrip() + "\n"
