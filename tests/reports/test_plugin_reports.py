"""The pytest plugin's output: report section, session summary, report files, import cost."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import plugin_helpers as P
import pytest
import rep_helpers as H

from gradcheck._plugin import report_stem

TESTS = """
from layer import *

def test_good(gradcheck):
    gradcheck.check_layer(forward, backward, inputs())
    gradcheck.check_layer(forward, backward, inputs(1))

def test_bad(gradcheck):
    gradcheck.check_layer(forward, backward, inputs())
    gradcheck.check_layer(forward, backward_bad_unit_b, inputs(), annotations=NOTES)

def test_no_check():
    pass
"""


def test_failing_test_gets_the_text_report_as_a_section(pytester):
    pytester.makepyfile(layer=P.LAYER, test_it=TESTS)
    result = P.run(pytester)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- gradcheck report -*",
            "test_it.py::test_bad (check_layer)",
            "gradcheck FAILED: 1 of 2 inputs have gradient mismatches",
            "(method central*",
            "",
            "input  *shape*checked*verdict",
            "[[]ungrouped[]]",
            "x  *ok",
            "[[]dense[]]",
            "w  *FAIL 4",
            "",
            "where the errors are*",
            "  w by unit: a * b * FAIL 4/4",
        ]
    )
    # only the failing test has the section
    assert result.stdout.str().count("- gradcheck report -") == 1


def test_session_summary_line(pytester):
    pytester.makepyfile(layer=P.LAYER, test_it=TESTS)
    result = P.run(pytester)
    result.stdout.fnmatch_lines(
        [
            "gradcheck: 4 checks in 2 tests, 1 failed, worst error * = * x threshold "
            "(w[[]*[]] in test_it.py::test_bad)",
        ]
    )


def test_no_summary_without_checks(pytester):
    pytester.makepyfile(test_it="def test_nothing():\n    pass\n")
    result = P.run(pytester)
    result.assert_outcomes(passed=1)
    assert "gradcheck:" not in result.stdout.str()


def test_report_dir_gets_html_and_json_per_check(pytester):
    pytester.makepyfile(layer=P.LAYER, test_it=TESTS)
    result = P.run(pytester, "--gradcheck-report-dir", "artifacts/gradcheck")
    result.assert_outcomes(passed=2, failed=1)
    folder = pytester.path / "artifacts" / "gradcheck"
    names = sorted(p.name for p in folder.iterdir())
    bad, good = (
        report_stem("test_it.py::test_bad", 1)[:-4],
        report_stem("test_it.py::test_good", 1)[:-4],
    )
    assert names == [
        f"{bad}-001.html",
        f"{bad}-001.json",
        f"{bad}-002.html",
        f"{bad}-002.json",
        f"{good}-001.html",
        f"{good}-001.json",
        f"{good}-002.html",
        f"{good}-002.json",
    ]
    assert bad.startswith("test_it_py_test_bad-")
    validator = jsonschema.Draft202012Validator(H.schema())
    failed = json.loads((folder / f"{bad}-002.json").read_text())
    assert validator.is_valid(failed)
    assert (failed["title"], failed["passed"]) == ("test_it.py::test_bad (check_layer)", False)
    html = (folder / f"{bad}-002.html").read_text()
    assert "data:image/png;base64," in html
    assert "test_it.py::test_bad" in html
    result.stdout.fnmatch_lines(["gradcheck: 4 checks *; reports in artifacts*gradcheck"])


def test_help_lists_the_option(pytester):
    P.run(pytester, "--help").stdout.fnmatch_lines(["*--gradcheck-report-dir=DIR*"])


def test_summary_collects_the_checks_of_xdist_workers(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(layer=P.LAYER, test_it=TESTS)
    result = pytester.runpytest_subprocess(*P.PLUGIN_ARGS, "-n", "2")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["gradcheck: 4 checks in 2 tests, 1 failed, worst error *"])


def test_importing_the_plugin_stays_cheap():
    heavy = ("matplotlib", "jinja2", "tqdm", "hypothesis", "lstm_ref", "gradcheck._report._html")
    code = (
        f"import sys; import gradcheck._plugin; print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"
