"""The second zoo (bench/_zoo.py: layers outside the LSTM with the bugs people write), judged
against the measured truth (bench/_judge.py), as in ``python bench/diagnosis_zoo.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from _judge import differences, outcome, problems  # noqa: E402
from _zoo import CASES  # noqa: E402


def _judged(case):
    ok, bad = case.check(buggy=False), case.check(buggy=True)
    assert ok.passed, f"{case.name}: the correct backward pass fails\n{ok}"
    assert not bad.passed, f"{case.name}: the bug is not detected"
    truth = differences(
        {k: r.analytic for k, r in ok.inputs.items()},
        {k: r.analytic for k, r in bad.inputs.items()},
    )
    return bad, truth


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_no_finding_is_contradicted_by_the_truth(case):
    bad, truth = _judged(case)
    for f in bad.findings:
        assert not problems(f, truth), f"{case.name}: {f.summary}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_no_top_finding_is_wrong(case):
    # no finding is better than a wrong one: a top finding names the bug or there is none
    bad, truth = _judged(case)
    assert outcome(bad.findings, case.accepted, truth) != "wrong", bad.findings[0]


def test_most_bugs_are_named():
    named = 0
    for case in CASES:
        bad, truth = _judged(case)
        named += outcome(bad.findings, case.accepted, truth) == "named"
    assert named >= 0.8 * len(CASES)
