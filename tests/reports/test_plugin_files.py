"""The plugin's report files: names that never collide, failed checks only, skipped reports,
memory, replay bundles; and what it says about its marker."""

from __future__ import annotations

import subprocess
import sys

import plugin_helpers as P
import pytest

from gradcheck._plugin import report_stem

IDS = ["a b", "a.b", "a/b", "a:b", "0.5", "0_5"]


@pytest.fixture(autouse=True, scope="module")
def _imports():
    P.warm_up()


PARAMETRIZED = """
from layer import *

@pytest.mark.parametrize("k", range({n}), ids={ids!r})
def test_p(gradcheck, k):
    gradcheck.check_layer(forward, backward, inputs(k))
"""


# the file names are what these tests are about: a stand-in writer saves rendering time
NAMES_ONLY = """
from pathlib import Path

import gradcheck._report as report

real = report.write_report


def write_report(result, path, format=None, *, title=None):
    Path(path).write_text(title or "")
    return Path(path)


report.write_report = write_report


def pytest_unconfigure(config):  # this process may run other tests after this one
    report.write_report = real
"""


def _files(folder, suffix):
    return sorted(p.name for p in folder.iterdir() if p.suffix == suffix)


def test_ids_that_slug_alike_get_distinct_stable_names():
    stems = [report_stem(f"test_it.py::test_p[{i}]", 1) for i in IDS]
    assert len(set(stems)) == len(IDS)
    assert stems == [report_stem(f"test_it.py::test_p[{i}]", 1) for i in IDS]  # stable
    assert all(s.startswith("test_it_py_test_p_") for s in stems)
    long = report_stem("t.py::test[" + "x" * 500 + "]", 12)
    assert len(long) < 100
    assert long.endswith("-012")


def test_every_parametrized_check_keeps_its_own_report(pytester):
    pytester.makeconftest(NAMES_ONLY)
    pytester.makepyfile(layer=P.LAYER, test_it=PARAMETRIZED.format(n=len(IDS), ids=IDS))
    result = P.run(pytester, "--gradcheck-report-dir", "out")
    result.assert_outcomes(passed=len(IDS))
    first = _files(pytester.path / "out", ".json")
    assert len(first) == len(IDS)
    assert len(_files(pytester.path / "out", ".html")) == len(IDS)
    # the same names on the next run: a report is overwritten, not duplicated
    P.run(pytester, "--gradcheck-report-dir", "out").assert_outcomes(passed=len(IDS))
    assert _files(pytester.path / "out", ".json") == first


def test_under_xdist_21_tests_leave_21_reports(pytester):
    pytest.importorskip("xdist")
    ids = [f"{i}{sep}5" for i in range(7) for sep in (".", "_", " ")]
    pytester.makeconftest(NAMES_ONLY)
    pytester.makepyfile(layer=P.LAYER, test_it=PARAMETRIZED.format(n=21, ids=ids))
    result = pytester.runpytest_subprocess(
        *P.PLUGIN_ARGS, "-n", "2", "--gradcheck-report-dir", "out"
    )
    result.assert_outcomes(passed=21)
    assert len(_files(pytester.path / "out", ".json")) == 21
    html = _files(pytester.path / "out", ".html")
    assert len(html) == 21
    titles = {(pytester.path / "out" / name).read_text() for name in html}
    assert titles == {f"test_it.py::test_p[{i}] (check_layer)" for i in ids}
    result.stdout.fnmatch_lines(["gradcheck: 21 checks in 21 tests, 0 failed*"])


TWO_CHECKS = """
from layer import *

def test_good(gradcheck):
    gradcheck.check_layer(forward, backward, inputs())

def test_bad(gradcheck):
    gradcheck.check_layer(forward, backward, inputs())
    gradcheck.check_layer(forward, backward_bad_unit_b, inputs(), annotations=NOTES)
"""


def test_failed_only_keeps_the_reports_of_failed_checks(pytester):
    pytester.makepyfile(layer=P.LAYER, test_it=TWO_CHECKS)
    result = P.run(pytester, "--gradcheck-report-dir", "out", "--gradcheck-report-failed-only")
    result.assert_outcomes(passed=1, failed=1)
    stem = report_stem("test_it.py::test_bad", 2)
    assert _files(pytester.path / "out", ".json") == [f"{stem}.json"]
    assert _files(pytester.path / "out", ".html") == [f"{stem}.html"]
    result.stdout.fnmatch_lines(["gradcheck: 3 checks in 2 tests, 1 failed*"])


@pytest.mark.parametrize("flag", ["--gradcheck-report-failed-only", "--gradcheck-bundles"])
def test_report_flags_need_a_report_dir(pytester, flag):
    pytester.makepyfile(test_it="def test_nothing():\n    pass\n")
    result = P.run(pytester, flag)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{flag} needs --gradcheck-report-dir DIR*"])


BROKEN_RENDERER = """
import gradcheck._report._html as html

real = html.render_html

def render_html(result, title=None):
    if "test_a" in (title or ""):
        raise ValueError("cannot draw this")
    return real(result, title)

html.render_html = render_html


def pytest_unconfigure(config):  # this process runs other tests after this one
    html.render_html = real
"""

AB = """
from layer import *

def test_a(gradcheck):
    gradcheck.check_layer(forward, backward, inputs())

def test_b(gradcheck):
    gradcheck.check_layer(forward, backward, inputs(1))
"""


@pytest.mark.parametrize("warnings", ["default", "error"])
def test_a_report_that_cannot_be_rendered_is_skipped_with_a_warning(pytester, warnings):
    pytester.makeconftest(BROKEN_RENDERER)
    pytester.makepyfile(layer=P.LAYER, test_it=AB)
    result = P.run(pytester, "--gradcheck-report-dir", "out", "-W", warnings)
    result.assert_outcomes(passed=2)  # the session goes on; test_b runs and is reported
    assert "INTERNALERROR" not in result.stdout.str()
    a, b = report_stem("test_it.py::test_a", 1), report_stem("test_it.py::test_b", 1)
    assert _files(pytester.path / "out", ".html") == [f"{b}.html"]
    assert sorted(_files(pytester.path / "out", ".json")) == sorted([f"{a}.json", f"{b}.json"])
    result.stdout.fnmatch_lines(
        [
            "gradcheck: 1 report(s) could not be written (see the warnings), the first: "
            f"{a}.html (test_it.py::test_a (check_layer)): ValueError: cannot draw this"
        ]
    )
    if warnings == "default":
        result.stdout.fnmatch_lines(
            ["*GradcheckPluginWarning: gradcheck: a report was skipped: *cannot draw this"]
        )


def test_an_annotation_matplotlib_cannot_parse_still_gets_its_report(pytester):
    pytester.makepyfile(
        layer=P.LAYER,
        test_it="""
        from layer import *

        def test_math(gradcheck):
            notes = {"w": {"axes": ["$x^$", ("$\\\\frac$", ("$a", "b$$"))]}}
            gradcheck.check_layer(forward, backward, inputs(), annotations=notes)

        def test_after(gradcheck):
            gradcheck.check_layer(forward, backward, inputs())
        """,
    )
    result = P.run(pytester, "--gradcheck-report-dir", "out")
    result.assert_outcomes(passed=2)
    assert len(_files(pytester.path / "out", ".html")) == 2
    assert "could not be written" not in result.stdout.str()


MANY = """
import tracemalloc

import numpy as np

def fn(w):
    return float(np.sum(np.sin(w)))

def grad(w):
    return (np.cos(w),)

def test_many_checks(gradcheck):
    rng = np.random.default_rng(0)
    tracemalloc.start()
    gradcheck.check_grad(fn, grad, {"w": rng.standard_normal((60, 60))}, mode="sample")
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(300):
        gradcheck.check_grad(fn, grad, {"w": rng.standard_normal((60, 60))}, mode="sample",
                             samples=4)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print(f"memory grown over 300 checks: {grown / 1e6:.2f} MB")
    # each result holds 5 arrays of 3600 float64 (about 0.1 MB): kept, 300 would take 40 MB
    assert grown < 4e6
"""

CHEAP_REPORTS = """
import gradcheck._report as report

written = []
real = report.write_report

def write_report(result, path, format=None, *, title=None):
    written.append(str(path))
    return path

report.write_report = write_report

def pytest_sessionfinish(session):
    print(f"reports rendered: {len(written)}")


def pytest_unconfigure(config):  # this process runs other tests after this one
    report.write_report = real
"""


def test_results_are_not_kept_in_memory_until_the_test_ends(pytester):
    # rendering 600 reports would take minutes: a stand-in writer counts them instead
    pytester.makeconftest(CHEAP_REPORTS)
    pytester.makepyfile(test_it=MANY)
    result = P.run(pytester, "--gradcheck-report-dir", "out", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*memory grown over 300 checks: * MB*", "*reports rendered: 602*"])


BUNDLED = """
from layer import *

def test_bad(gradcheck):
    gradcheck.check_layer(forward, backward_bad_unit_b, inputs(), annotations=NOTES, seed=7)

def test_good(gradcheck):
    gradcheck.check_layer(forward, backward, inputs())

def test_lambda(gradcheck):
    gradcheck.check_grad(lambda v: float(np.sum(v**3)), lambda v: (3 * v**2 + 0.1,),
                         {"v": np.linspace(-1, 1, 5)})
"""


def test_bundles_of_failed_checks_replay_on_the_command_line(pytester):
    pytester.makepyfile(layer=P.LAYER, test_it=BUNDLED)
    result = P.run(pytester, "--gradcheck-report-dir", "out", "--gradcheck-bundles")
    result.assert_outcomes(passed=1, failed=2)
    folder = pytester.path / "out"
    bad = folder / f"{report_stem('test_it.py::test_bad', 1)}.npz"
    lam = folder / f"{report_stem('test_it.py::test_lambda', 1)}.npz"
    assert _files(folder, ".npz") == sorted([bad.name, lam.name])
    run = subprocess.run(
        [sys.executable, "-m", "gradcheck", "replay", str(bad)],
        capture_output=True,
        text=True,
        cwd=pytester.path,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr  # the check fails again
    assert "w by unit: a * b" not in run.stdout
    assert "replay: same verdict and numbers as recorded" in run.stderr
    assert "gradcheck FAILED: 1 of 2 inputs" in run.stdout
    # the lambdas cannot be found by name: the bundle says to replay from Python
    run = subprocess.run(
        [sys.executable, "-m", "gradcheck", "replay", str(lam)],
        capture_output=True,
        text=True,
        cwd=pytester.path,
        timeout=120,
    )
    assert run.returncode == 2
    assert "gradcheck.replay(bundle, ...)" in run.stderr


def test_a_marker_typo_says_it_is_in_the_marker(pytester):
    pytester.makepyfile(
        layer=P.LAYER,
        test_it="""
        from layer import *

        @pytest.mark.gradcheck(metod="richardson")
        def test_typo(gradcheck):
            gradcheck.check_layer(forward, backward, inputs())

        @pytest.mark.gradcheck(samles=3)
        class TestGroup:
            def test_in_class(self, gradcheck):
                gradcheck.check_layer(forward, backward, inputs())

        @pytest.mark.gradcheck(method="fast")
        def test_bad_value(gradcheck):
            gradcheck.check_layer(forward, backward, inputs())
        """,
    )
    result = P.run(pytester)
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.gradcheck(metod=...) on this test: unknown option 'metod'; "
            "did you mean 'method'?*",
            "*@pytest.mark.gradcheck(samles=...) on test_it.py::TestGroup: unknown option "
            "'samles'; did you mean 'samples'?*",
            "*method must be one of 'central', 'richardson', 'complex', got method='fast'*",
            "*options from @pytest.mark.gradcheck on this test: method='fast'*",
        ]
    )


def test_a_marker_on_a_test_without_the_fixture_warns(pytester):
    pytester.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.gradcheck(method="richardson")
        def test_forgot_the_fixture():
            pass

        @pytest.mark.gradcheck(method="richardson")
        def test_uses_it(gradcheck):
            pass
        """,
    )
    result = P.run(pytester, "-W", "default")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*GradcheckPluginWarning: @pytest.mark.gradcheck on test_forgot_the_fixture has no "
            "effect: the test does not use the gradcheck fixture*"
        ]
    )
    assert "test_uses_it has no effect" not in result.stdout.str()
    # where warnings are errors, that test errors (with the message), not the session
    result = P.run(pytester, "-W", "error")
    result.assert_outcomes(passed=1, errors=1)
    assert "INTERNALERROR" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        ["E *GradcheckPluginWarning: @pytest.mark.gradcheck on test_forgot_the_fixture has no *"]
    )
