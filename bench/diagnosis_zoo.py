"""How often the diagnosis names bugs it was not written for, and how often it says a wrong thing.

Run: ``python bench/diagnosis_zoo.py`` (a few seconds on one core); ``--verbose`` prints every
finding of every case.

The cases are the layers and bugs of ``bench/_zoo.py`` (normalisation, attention, convolution,
embeddings with repeated ids, masks, losses, recurrent layers in the column-vector convention,
affine layers). For each case the correct backward pass is checked first (it must pass), then
the buggy one. What the bug makes wrong is measured, not written by hand: an input is *wrong*
when its analytic gradient differs from the correct backward pass's, an element is wrong when
its value does.

The top finding of the buggy check is

``named``
    when one of the kinds it names (its kind, or the alternative it names beside it when the
    numbers fit two mistakes) is one of the case's accepted kinds and nothing it says is
    contradicted;
``wrong``
    when there is a top finding and it is not named (a kind that does not describe the bug, or
    a right input named);
``none``
    when the check failed without a finding.

Beside the top finding, every finding is checked against the measured truth: it must name only
wrong inputs, and the elements or indices it points at (``evidence["element_indices"]``,
``evidence["indices"]`` along ``evidence["axis_position"]``) must hold wrong elements (see
``bench/_judge.py``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _judge import contradicted, differences, outcome, problems, via  # noqa: E402
from _zoo import CASES, Case  # noqa: E402

import gradcheck  # noqa: E402


def truth(ok: gradcheck.CheckResult, bad: gradcheck.CheckResult) -> dict[str, np.ndarray]:
    """Per input, the elements where the buggy analytic gradient differs from the correct one."""
    return differences(
        {k: r.analytic for k, r in ok.inputs.items()},
        {k: r.analytic for k, r in bad.inputs.items()},
    )


def judge(case: Case, verbose: bool) -> tuple[str, int, int, str, str]:
    """Outcome of the top finding, findings in all, contradicted findings, a description, and
    how a named top finding names the bug (``kind`` or ``alternative``; empty otherwise)."""
    ok = case.check(buggy=False)
    if not ok.passed:
        raise SystemExit(f"{case.name}: the correct backward pass fails its check:\n{ok}")
    bad = case.check(buggy=True)
    if bad.passed:
        raise SystemExit(f"{case.name}: the planted bug is not detected")
    wrong = truth(ok, bad)
    if verbose:
        for f in bad.findings:
            kinds = "/".join(f.kinds)
            print(f"      {kinds} [{f.confidence}] {f.score:.2f} {f.input}: {f.summary}")
            for p in problems(f, wrong):
                print(f"        CONTRADICTED: {p}")
    top = bad.findings[0] if bad.findings else None
    kind = f"{'/'.join(top.kinds)} [{top.confidence}]" if top else "-"
    result = outcome(bad.findings, case.accepted, wrong)
    how = via(top, case.accepted) if top is not None and result == "named" else ""
    return result, len(bad.findings), contradicted(bad.findings, wrong), kind, how


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--only", nargs="*", default=None, help="case names (or prefixes)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    cases = [c for c in CASES if args.only is None or any(c.name.startswith(p) for p in args.only)]
    counts = {"named": 0, "wrong": 0, "none": 0}
    families: dict[str, dict[str, int]] = {}
    findings = contradicted = firm_wrong = through_alternative = 0
    print(f"  {'case':36s} {'accepted':44s} {'top finding':34s} outcome")
    for case in cases:
        said, count, bad, kind, how = judge(case, args.verbose)
        through_alternative += how == "alternative"
        counts[said] += 1
        findings += count
        contradicted += bad
        fam = families.setdefault(case.family, {"named": 0, "wrong": 0, "none": 0})
        fam[said] += 1
        firm_wrong += said == "wrong" and not kind.endswith("[low]")
        accepted = ", ".join(sorted(case.accepted)) or "(none)"
        shown = said + (" (through the alternative)" if how == "alternative" else "")
        print(f"  {case.name:36s} {accepted:44s} {kind:34s} {shown}")
    total = len(cases)
    print()
    for family, c in sorted(families.items()):
        n = sum(c.values())
        print(f"  {family:10s} {c['named']}/{n} named, {c['wrong']} wrong, {c['none']} none")
    print(
        f"named: {counts['named']}/{total} = {counts['named'] / total:.1%}; wrong top finding: "
        f"{counts['wrong']}/{total} = {counts['wrong'] / total:.1%}; no finding: {counts['none']}"
    )
    print(f"wrong top findings stated at exact or high confidence: {firm_wrong}")
    print(f"named through the alternative a finding names beside its kind: {through_alternative}")
    print(f"findings in all: {findings}, contradicted by the measured truth: {contradicted}")
    print(f"wall time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
