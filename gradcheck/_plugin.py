"""The pytest plugin of gradcheck (registered through the ``pytest11`` entry point).

Provides

* the session-scoped fixture ``gradcheck``: a stateless checker whose ``check_*`` methods run
  gradcheck's checks and raise :class:`gradcheck.GradientCheckFailure` (an ``AssertionError``)
  when one fails, so a test needs no ``assert``. Being session-scoped, it is safe inside
  hypothesis ``@given`` tests (no function-scoped fixture health check);
* the marker ``@pytest.mark.gradcheck(**options)``: check options for every check of a test
  (module, class and function markers merge, the closest wins; options passed to a call win
  over the marker's);
* ``--gradcheck-report-dir DIR``: an HTML and a JSON report of every check, for CI artifacts
  (``--gradcheck-report-failed-only``: of the failed checks only; ``--gradcheck-bundles``: also
  a replay bundle of each failed check, see :func:`gradcheck.replay`). A report that cannot be
  rendered is skipped with a warning, never ending the session;
* the text report of a failed check as a "gradcheck report" section of the failing test's
  output, and a one-line summary at the end of the session (checks run, failed, worst error).

Results are not kept in memory until the test ends: each is spooled to a temporary file as it
comes and rendered after the test (outside its timing).

Importing this module loads nothing beyond pytest and gradcheck's own package; reports,
matplotlib and jinja2 are imported when used.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib
import math
import pickle
import re
import shutil
import tempfile
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._result import CheckResult

__all__ = ["Checker", "GradcheckPluginWarning"]


class GradcheckPluginWarning(pytest.PytestWarning):
    """A report that could not be written, or a ``gradcheck`` marker that has no effect."""


#: name of the entry the plugin adds to a test's ``user_properties`` (aggregated by the session)
PROPERTY = "gradcheck"


@dataclass
class _State:
    """What the plugin tracks during a session (one per process)."""

    report_dir: Path | None
    failed_only: bool = False
    bundles: bool = False
    current: pytest.Item | None = None
    failed_text: list[str] = field(default_factory=list)
    #: (title, file) of each result of the current test waiting to be rendered
    pending: list[tuple[str, Path]] = field(default_factory=list)
    spool: Path | None = None
    item_checks: int = 0
    item_failed: int = 0
    item_worst: dict[str, Any] | None = None
    item_errors: list[str] = field(default_factory=list)
    # session totals, fed by the reports of every test (also those of xdist workers)
    tests: int = 0
    checks: int = 0
    failed: int = 0
    worst: dict[str, Any] | None = None
    write_errors: list[str] = field(default_factory=list)

    def start(self, item: pytest.Item | None) -> None:
        self.current = item
        self.failed_text = []
        for _, path in self.pending:  # a test interrupted before its teardown
            path.unlink(missing_ok=True)
        self.pending = []
        self.item_checks = self.item_failed = 0
        self.item_worst = None
        self.item_errors = []

    def spool_dir(self) -> Path:
        """This process' folder of results waiting to be rendered (created on first use)."""
        if self.spool is None:
            self.spool = Path(tempfile.mkdtemp(prefix="gradcheck-spool-"))
        return self.spool


_STATE = pytest.StashKey[_State]()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:80] or "check"


def report_stem(nodeid: str, n: int) -> str:
    """The file name (without suffix) of the ``n``-th report of the test ``nodeid``.

    A readable slug of the test id plus a short hash of the whole id: ids that slug alike
    (``a b``, ``a.b``, ``a/b``, ``0.5`` and ``0_5``) still get distinct files, and the name of a
    test's report is the same from run to run (and in every xdist worker).
    """
    digest = hashlib.sha1(nodeid.encode("utf-8")).hexdigest()[:10]
    return f"{_slug(nodeid)}-{digest}-{n:03d}"


def _write_reports(state: _State, nodeid: str) -> None:
    """Render the reports of the checks the test ran (after it, not inside it).

    Each result is read back from its spool file and rendered alone, so memory does not grow
    with the number of checks. A report that cannot be rendered (a bug, an annotation that
    matplotlib cannot draw, a full disk) is skipped and recorded, never raised: the session
    goes on.
    """
    pending, state.pending = state.pending, []
    if state.report_dir is None or not pending:
        return
    from ._report import write_report

    for title, path in pending:
        try:
            with path.open("rb") as f:
                result = pickle.load(f)  # our own file, written by _record in this process
        except Exception as exc:
            state.item_errors.append(f"{path.stem} ({title}): {type(exc).__name__}: {exc}")
            continue
        finally:
            path.unlink(missing_ok=True)
        stem = state.report_dir / path.stem
        for suffix in (".json", ".html"):
            try:
                write_report(result, stem.with_suffix(suffix), title=title)
            except Exception as exc:
                state.item_errors.append(
                    f"{stem.name}{suffix} ({title}): {type(exc).__name__}: {exc}"
                )
        del result


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

    Each method takes the arguments of the function of the same name in :mod:`gradcheck`
    (``check_torch``, ``check_torch_module`` and ``check_jax``: of ``check_function`` and
    ``check_module`` in :mod:`gradcheck.torch` and :mod:`gradcheck.jax`), merges the options
    of the test's ``@pytest.mark.gradcheck(...)`` marker under its own,
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

    def check_jvp(self, fn: Any, jvp: Any, inputs: Any, **options: Any) -> CheckResult:
        """Run :func:`gradcheck.check_jvp` and raise if it fails."""
        __tracebackhide__ = True
        return self._run("check_jvp", (fn, jvp, inputs), options)

    def check_hvp(self, grad: Any, hvp: Any, inputs: Any, **options: Any) -> CheckResult:
        """Run :func:`gradcheck.check_hvp` and raise if it fails."""
        __tracebackhide__ = True
        return self._run("check_hvp", (grad, hvp, inputs), options)

    def check_gradgrad(
        self, fn: Any, vjp: Any, vjp_jvp: Any, inputs: Any, **options: Any
    ) -> CheckResult:
        """Run :func:`gradcheck.check_gradgrad` and raise if it fails."""
        __tracebackhide__ = True
        return self._run("check_gradgrad", (fn, vjp, vjp_jvp, inputs), options)

    def check_torch(self, fn: Any, inputs: Any, **options: Any) -> CheckResult:
        """Run :func:`gradcheck.torch.check_function` and raise if it fails."""
        __tracebackhide__ = True
        return self._run("torch.check_function", (fn, inputs), options)

    def check_torch_module(self, module: Any, inputs: Any = (), **options: Any) -> CheckResult:
        """Run :func:`gradcheck.torch.check_module` and raise if it fails."""
        __tracebackhide__ = True
        return self._run("torch.check_module", (module, inputs), options)

    def check_jax(self, fn: Any, inputs: Any, **options: Any) -> CheckResult:
        """Run :func:`gradcheck.jax.check_function` and raise if it fails."""
        __tracebackhide__ = True
        return self._run("jax.check_function", (fn, inputs), options)

    def options(self) -> dict[str, Any]:
        """The options the current test's ``gradcheck`` markers set."""
        return _marker_options(self._state.current)

    def _run(self, name: str, args: tuple[Any, ...], options: Mapping[str, Any]) -> CheckResult:
        __tracebackhide__ = True  # the failure points at the test's line, not at the plugin
        import gradcheck

        state = self._state
        marked = _marker_options(state.current)
        merged = {**marked, **options}
        if "." in name:  # a front end: gradcheck.torch, gradcheck.jax (imported when used)
            module, attr = name.rsplit(".", 1)
            check = getattr(importlib.import_module(f"gradcheck.{module}"), attr)
        else:
            check = getattr(gradcheck, name)
        try:
            result: CheckResult = check(*args, **merged)
        except gradcheck.InvalidArgumentError as exc:
            from_marker = {k: v for k, v in marked.items() if k not in options}
            if from_marker:
                shown = ", ".join(f"{k}={v!r}" for k, v in from_marker.items())
                exc.add_note(f"options from @pytest.mark.gradcheck on this test: {shown}")
            raise
        self._record(name, args, merged, result)
        if not result.passed:
            raise gradcheck.GradientCheckFailure(_short_message(result), result)
        return result

    def _record(
        self, name: str, args: tuple[Any, ...], options: Mapping[str, Any], result: CheckResult
    ) -> None:
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
        if state.report_dir is None or (state.failed_only and result.passed):
            return
        stem = report_stem(nodeid, state.item_checks)
        if state.bundles and not result.passed and "." not in name:  # numpy checks only
            self._bundle(name, args, options, result, state.report_dir / f"{stem}.npz", title)
        spooled = state.spool_dir() / f"{stem}.pickle"
        try:
            with spooled.open("wb") as f:
                pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an unpicklable annotation, a full disk: no report, no crash
            spooled.unlink(missing_ok=True)
            state.item_errors.append(f"{stem} ({title}): {type(exc).__name__}: {exc}")
            return
        state.pending.append((title, spooled))

    def _bundle(
        self,
        name: str,
        args: tuple[Any, ...],
        options: Mapping[str, Any],
        result: CheckResult,
        path: Path,
        title: str,
    ) -> None:
        """Save a replay bundle of a failed check; a failure to save is recorded, not raised."""
        from ._bundle import bundle_from_call

        try:
            bundle_from_call(name, args, options, result, title=title).save(path)
        except Exception as exc:
            path.unlink(missing_ok=True)
            self._state.item_errors.append(
                f"{path.name} ({title}): the bundle could not be saved: {type(exc).__name__}: {exc}"
            )


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
    if not parts:  # the values passed: a contract of the front ends failed
        parts = [f.summary for f in result.findings if f.kind == "contract"][:2]
    detail = f" ({'; '.join(parts)})" if parts else ""
    return f"{headline(result)}{detail}. Full report in the 'gradcheck report' section."


def _marker_options(item: pytest.Item | None) -> dict[str, Any]:
    """The options of the item's ``gradcheck`` markers, the closest last; checked by name."""
    if item is None:
        return {}
    from ._api import _KNOWN
    from ._errors import InvalidArgumentError

    options: dict[str, Any] = {}
    for node, mark in reversed(list(item.iter_markers_with_node("gradcheck"))):
        if mark.args:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.gradcheck takes keyword options only "
                f"(e.g. method='richardson'), got positional {mark.args!r}"
            )
        for key in mark.kwargs:
            if key not in _KNOWN:
                close = difflib.get_close_matches(key, sorted(_KNOWN), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                where = "this test" if node is item else f"{node.nodeid or 'the session'}"
                raise InvalidArgumentError(
                    f"@pytest.mark.gradcheck({key}=...) on {where}: unknown option {key!r}"
                    f"{hint} The marker takes the options of gradcheck.CheckOptions: "
                    f"{', '.join(sorted(_KNOWN))}"
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
    group.addoption(
        "--gradcheck-report-failed-only",
        action="store_true",
        default=False,
        help="with --gradcheck-report-dir: write the reports of failed checks only",
    )
    group.addoption(
        "--gradcheck-bundles",
        action="store_true",
        default=False,
        help="with --gradcheck-report-dir: also save a replay bundle (.npz) of each failed "
        "check, to rerun it elsewhere with gradcheck.replay or 'gradcheck replay'",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gradcheck(**options): options of the gradcheck fixture's checks in this test "
        "(method=, mode=, seed=, safety=, ... see gradcheck.CheckOptions)",
    )
    report_dir = config.getoption("gradcheck_report_dir", None)
    path = None
    for flag in ("failed_only", "bundles"):
        option = "report_failed_only" if flag == "failed_only" else flag
        if config.getoption(f"gradcheck_{option}", False) and not report_dir:
            raise pytest.UsageError(
                f"--gradcheck-{option.replace('_', '-')} needs --gradcheck-report-dir DIR"
            )
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
    state = _State(
        report_dir=path,
        failed_only=bool(config.getoption("gradcheck_report_failed_only", False)),
        bundles=bool(config.getoption("gradcheck_bundles", False)),
    )
    config.stash[_STATE] = state
    config.pluginmanager.register(_Session(state), "gradcheck-session")


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None and state.spool is not None:
        shutil.rmtree(state.spool, ignore_errors=True)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Warn about a ``gradcheck`` marker on a test that does not use the ``gradcheck`` fixture.

    At setup rather than collection: where warnings are errors, the test errors with the
    message instead of the whole session.
    """
    __tracebackhide__ = True
    if any(m.name == "gradcheck" for m in item.own_markers) and "gradcheck" not in getattr(
        item, "fixturenames", ()
    ):
        item.warn(
            GradcheckPluginWarning(
                f"@pytest.mark.gradcheck on {item.name} has no effect: the test does not use "
                "the gradcheck fixture (add a 'gradcheck' argument and run the checks through "
                "it: gradcheck.check_layer(...) and the like)"
            )
        )


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
        for error in state.item_errors:
            _warn(item, f"gradcheck: a report was skipped: {error}")
    if call.when == "teardown" and state.item_checks:
        summary: dict[str, Any] = {"checks": state.item_checks, "failed": state.item_failed}
        summary["worst"] = state.item_worst
        summary["report_errors"] = list(state.item_errors)
        report.user_properties.append((PROPERTY, summary))
    return report


def _warn(item: pytest.Item, message: str) -> None:
    """A warning on the test; where warnings are errors, the session summary still says it."""
    with contextlib.suppress(Warning):
        item.warn(GradcheckPluginWarning(message))


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
                state.write_errors += [str(e) for e in value.get("report_errors", ())]

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
            f"gradcheck: {len(state.write_errors)} report(s) could not be written (see the "
            f"warnings), the first: {state.write_errors[0]}",
            yellow=True,
        )
