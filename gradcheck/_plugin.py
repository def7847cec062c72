"""The pytest plugin of gradcheck (registered through the ``pytest11`` entry point).

Provides

* the session-scoped fixture ``gradcheck``: a stateless checker whose ``check_*`` methods run
  gradcheck's checks and raise :class:`gradcheck.GradientCheckFailure` (an ``AssertionError``)
  when one fails, so a test needs no ``assert``. Being session-scoped, it is safe inside
  hypothesis ``@given`` tests (no function-scoped fixture health check);
* the marker ``@pytest.mark.gradcheck(**options)``: check options for every check of a test
  (module, class and function markers merge, the closest wins; options passed to a call win
  over the marker's);
* ``--gradcheck-report-dir DIR``: an HTML and a JSON report of every check, for CI artifacts;
* the text report of a failed check as a "gradcheck report" section of the failing test's
  output, and a one-line summary at the end of the session (checks run, failed, worst error).

Importing this module loads nothing beyond pytest and gradcheck's own package; reports,
matplotlib and jinja2 are imported when used.
"""

from __future__ import annotations

import math
import re
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._result import CheckResult

__all__ = ["Checker"]

#: name of the entry the plugin adds to a test's ``user_properties`` (aggregated by the session)
PROPERTY = "gradcheck"


@dataclass
class _State:
    """What the plugin tracks during a session (one per process)."""

    report_dir: Path | None
    current: pytest.Item | None = None
    failed_text: list[str] = field(default_factory=list)
    pending: list[tuple[str, CheckResult]] = field(default_factory=list)
    item_checks: int = 0
    item_failed: int = 0
    item_worst: dict[str, Any] | None = None
    # session totals, fed by the reports of every test (also those of xdist workers)
    tests: int = 0
    checks: int = 0
    failed: int = 0
    worst: dict[str, Any] | None = None
    write_errors: list[str] = field(default_factory=list)

    def start(self, item: pytest.Item | None) -> None:
        self.current = item
        self.failed_text = []
        self.pending = []
        self.item_checks = self.item_failed = 0
        self.item_worst = None


_STATE = pytest.StashKey[_State]()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:120] or "check"


def _write_reports(state: _State, nodeid: str) -> None:
    """Write the HTML and JSON reports of the checks the test ran (after it, not inside it)."""
    if state.report_dir is None or not state.pending:
        return
    from ._report import write_report

    for n, (title, result) in enumerate(state.pending, start=1):
        stem = str(state.report_dir / f"{_slug(nodeid)}-{n:03d}")
        try:
            write_report(result, stem + ".html", title=title)
            write_report(result, stem + ".json", title=title)
        except OSError as exc:  # a full disk must not crash the session
            state.write_errors.append(f"{stem}: {exc}")
    state.pending = []


def _worst(result: CheckResult) -> dict[str, Any] | None:
    from ._breakdown import worst_excess

    best: dict[str, Any] | None = None
    for r in result.inputs.values():
        ex = worst_excess(r)
        if math.isnan(ex) or (best is not None and ex <= best["excess"]):
            continue
        best = {
            "input": r.name,
            "index": list(r.worst.index) if r.worst is not None else None,
            "excess": ex,
            "abs_error": r.worst.abs_error if r.worst is not None else r.max_abs_error,
        }
    return best


def _better(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if b["excess"] > a["excess"] else a


class Checker:
    """The ``gradcheck`` fixture: gradcheck's check functions for use in tests.

    Each method takes the arguments of the function of the same name in :mod:`gradcheck`,
    merges the options of the test's ``@pytest.mark.gradcheck(...)`` marker under its own,
    returns the :class:`~gradcheck.CheckResult` when the check passed and raises
    :class:`~gradcheck.GradientCheckFailure` when it failed. It keeps no state between calls.
    """

    def __init__(self, state: _State) -> None:
        self._state = state

    def check_layer(self, forward: Any, backward: Any, inputs: Any, **options: Any) -> CheckResult:
        """Run :func:`gradcheck.check_layer` and raise if it fails."""
        __tracebackhide__ = True
        return self._run("check_layer", (forward, backward, inputs), options)

    def check_vjp(self, fn: Any, vjp: Any, inputs: Any, **options: Any) -> CheckResult:
        """Run :func:`gradcheck.check_vjp` and raise if it fails."""
        __tracebackhide__ = True
        return self._run("check_vjp", (fn, vjp, inputs), options)

    def check_grad(self, fn: Any, grad: Any, inputs: Any, **options: Any) -> CheckResult:
        """Run :func:`gradcheck.check_grad` and raise if it fails."""
        __tracebackhide__ = True
        return self._run("check_grad", (fn, grad, inputs), options)

    def check_loss(self, loss_fn: Any, params: Any, **options: Any) -> CheckResult:
        """Run :func:`gradcheck.check_loss` and raise if it fails."""
        __tracebackhide__ = True
        return self._run("check_loss", (loss_fn, params), options)

    def check_module(self, layer: Any, inputs: Any, **options: Any) -> CheckResult:
        """Run :func:`gradcheck.check_module` and raise if it fails."""
        __tracebackhide__ = True
        return self._run("check_module", (layer, inputs), options)

    def options(self) -> dict[str, Any]:
        """The options the current test's ``gradcheck`` markers set."""
        return _marker_options(self._state.current)

    def _run(self, name: str, args: tuple[Any, ...], options: Mapping[str, Any]) -> CheckResult:
        __tracebackhide__ = True  # the failure points at the test's line, not at the plugin
        import gradcheck

        state = self._state
        merged = {**_marker_options(state.current), **options}
        result: CheckResult = getattr(gradcheck, name)(*args, **merged)
        self._record(name, result)
        if not result.passed:
            raise gradcheck.GradientCheckFailure(_short_message(result), result)
        return result

    def _record(self, name: str, result: CheckResult) -> None:
        state = self._state
        nodeid = state.current.nodeid if state.current is not None else "outside a test"
        state.item_checks += 1
        worst = _worst(result)
        if worst is not None:
            worst["test"] = nodeid
        state.item_worst = _better(state.item_worst, worst)
        title = f"{nodeid} ({name})"
        if not result.passed:
            from ._format import format_text

            state.item_failed += 1
            state.failed_text = [f"{title}\n{format_text(result, notes=True)}"]
        if state.report_dir is not None:
            state.pending.append((title, result))


def _short_message(result: CheckResult) -> str:
    """The headline and where the worst error is; the full report goes in a report section."""
    from ._format import headline, index, num

    failed = result.failed_inputs
    parts = []
    for r in failed[:3]:
        w = r.worst
        if w is not None and r.mismatches:
            parts.append(
                f"{r.name}: {r.mismatches} of {r.checked} checked elements, worst "
                f"{r.name}{index(w.index)} analytic {num(w.analytic)} vs numeric {num(w.numeric)}"
            )
        else:
            parts.append(f"{r.name}: failed")
    if len(failed) > 3:
        parts.append(f"and {len(failed) - 3} more inputs")
    detail = f" ({'; '.join(parts)})" if parts else ""
    return f"{headline(result)}{detail}. Full report in the 'gradcheck report' section."


def _marker_options(item: pytest.Item | None) -> dict[str, Any]:
    if item is None:
        return {}
    options: dict[str, Any] = {}
    for mark in reversed(list(item.iter_markers("gradcheck"))):
        if mark.args:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.gradcheck takes keyword options only "
                f"(e.g. method='richardson'), got positional {mark.args!r}"
            )
        options.update(mark.kwargs)
    return options


# --------------------------------------------------------------------------------------------
# hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradcheck", "gradient checks (gradcheck)")
    group.addoption(
        "--gradcheck-report-dir",
        metavar="DIR",
        default=None,
        help="write an HTML and a JSON report of every check run through the gradcheck "
        "fixture into DIR (for CI artifacts)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gradcheck(**options): options of the gradcheck fixture's checks in this test "
        "(method=, mode=, seed=, safety=, ... see gradcheck.CheckOptions)",
    )
    report_dir = config.getoption("gradcheck_report_dir", None)
    path = None
    if report_dir:
        import importlib.util

        missing = [m for m in ("jinja2", "matplotlib") if importlib.util.find_spec(m) is None]
        if missing:
            raise pytest.UsageError(
                f"--gradcheck-report-dir writes HTML reports, which need {' and '.join(missing)}; "
                'install them with pip install "gradcheck[report]"'
            )
        path = Path(report_dir)
        path.mkdir(parents=True, exist_ok=True)
    state = _State(report_dir=path)
    config.stash[_STATE] = state
    config.pluginmanager.register(_Session(state), "gradcheck-session")


@pytest.fixture(scope="session")
def gradcheck(pytestconfig: pytest.Config) -> Checker:
    """A checker with gradcheck's ``check_*`` functions; a failed check fails the test.

    Session-scoped and stateless, so it also works inside hypothesis ``@given`` tests. Options
    come from the call and from ``@pytest.mark.gradcheck(...)`` markers on the test.
    """
    return Checker(pytestconfig.stash[_STATE])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    state = item.config.stash[_STATE]
    state.start(item)
    try:
        return (yield)
    finally:
        state.start(None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    state = item.config.stash[_STATE]
    if report.failed and state.failed_text:
        report.sections.append(("gradcheck report", "\n\n".join(state.failed_text)))
    if call.when == "teardown":
        _write_reports(state, item.nodeid)
    if call.when == "teardown" and state.item_checks:
        summary = {"checks": state.item_checks, "failed": state.item_failed}
        summary["worst"] = state.item_worst  # type: ignore[assignment]
        report.user_properties.append((PROPERTY, summary))
    return report


class _Session:
    """Session totals from the reports of every test (those of xdist workers included)."""

    def __init__(self, state: _State) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        for name, value in report.user_properties:
            if name == PROPERTY and isinstance(value, dict):
                state = self.state
                state.tests += 1
                state.checks += int(value.get("checks", 0))
                state.failed += int(value.get("failed", 0))
                state.worst = _better(state.worst, value.get("worst"))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.state.checks:
            _summary_line(self.state, terminalreporter)


def _summary_line(state: _State, terminalreporter: Any) -> None:
    line = (
        f"gradcheck: {state.checks} check{'s' if state.checks != 1 else ''} in {state.tests} "
        f"test{'s' if state.tests != 1 else ''}, {state.failed} failed"
    )
    w = state.worst
    if w is not None:
        where = w["input"] + (("[" + ", ".join(map(str, w["index"])) + "]") if w["index"] else "")
        line += (
            f", worst error {w['abs_error']:.3g} = {w['excess']:.3g} x threshold "
            f"({where} in {w['test']})"
        )
    if state.report_dir is not None:
        line += f"; reports in {state.report_dir}"
    terminalreporter.write_line(line, red=bool(state.failed), green=not state.failed)
    if state.write_errors:
        terminalreporter.write_line(
            f"gradcheck: {len(state.write_errors)} report(s) could not be written, the first: "
            f"{state.write_errors[0]}",
            yellow=True,
        )
