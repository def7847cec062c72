"""pytest plugin: prints the mutation self-test's table at the end of the session.

test_prop_mutants.py records one row per (mutant, property) with ``record_property``; the
rows travel with the test reports (also from pytest-xdist workers), and this hook turns
them into a Markdown table: each mutant, when it shows, and the smallest shape at which
the property caught it.

tests/properties/conftest.py loads it when this directory is collected in the main process.
Under pytest-xdist the main process collects nothing, so the root conftest.py lists it in
``pytest_plugins`` as ``tests.properties.prop_report``; a guard prints the table once when
both load it.
"""

from __future__ import annotations

from typing import Any

import pytest

from lstm_ref.mutants import MUTANTS

_PRINTED = pytest.StashKey[bool]()


def _rows(terminalreporter: Any) -> dict[str, dict[str, dict[str, Any]]]:
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for category in ("passed", "failed"):
        for report in terminalreporter.stats.get(category, []):
            if getattr(report, "when", None) != "call":
                continue
            for key, value in getattr(report, "user_properties", ()):
                if key == "mutant":
                    rows.setdefault(value["name"], {})[value["property"]] = value
    return rows


def mutant_table(rows: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """The Markdown tables of the mutation self-test: LSTM mutants, then converter mutants."""

    def cell(entry: dict[str, Any] | None) -> str:
        if entry is None:
            return "-"
        return f"{entry['smallest']} ({entry['failed']}/{entry['tried']})"

    lines = [
        "| mutant | the bug | shows when | model loss property | sequence property |",
        "|---|---|---|---|---|",
    ]
    for name in [n for n in MUTANTS if n in rows]:
        by = rows[name]
        lines.append(
            f"| `{name}` | {MUTANTS[name].description} | {MUTANTS[name].reveals} "
            f"| {cell(by.get('model'))} | {cell(by.get('sequence'))} |"
        )
    converters = [n for n in rows if n not in MUTANTS]
    if converters:
        lines += [
            "",
            "| converter mutant | the bug | shows when | property | smallest revealing example |",
            "|---|---|---|---|---|",
        ]
        for name in converters:
            ((prop, entry),) = rows[name].items()
            lines.append(
                f"| `{name}` | {entry['description']} | {entry['reveals']} "
                f"| test_{prop} | {cell(entry)} |"
            )
    return lines


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    if config.stash.get(_PRINTED, False):
        return
    config.stash[_PRINTED] = True
    rows = _rows(terminalreporter)
    if not rows:
        return
    terminalreporter.section("mutation self-test: smallest revealing shapes")
    terminalreporter.write_line(
        "Each property was run against each planted bug; a cell gives the smallest shape "
        "(head/objective) hypothesis shrank the failure to, and (failed/tried) examples."
    )
    for line in mutant_table(rows):
        terminalreporter.write_line(line)
