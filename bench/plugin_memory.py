"""Memory the pytest plugin holds while one test runs many checks with a report folder.

Run: ``python bench/plugin_memory.py [--checks 300] [--size 60]``.

Writes a throwaway test that runs ``--checks`` sampled checks of a ``size x size`` input through
the ``gradcheck`` fixture, under ``pytest --gradcheck-report-dir``, and prints how much traced
memory (tracemalloc) grew between the first check and the last. Report rendering is replaced by a
stand-in that counts the reports (rendering hundreds of HTML pages would take minutes and is not
what is measured: what the plugin keeps until the test ends is).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

TEST = """
import tracemalloc

import numpy as np


def fn(w):
    return float(np.sum(np.sin(w)))


def grad(w):
    return (np.cos(w),)


def test_many_checks(gradcheck):
    rng = np.random.default_rng(0)
    tracemalloc.start()
    gradcheck.check_grad(fn, grad, {{"w": rng.standard_normal(({size}, {size}))}}, mode="sample")
    before = tracemalloc.get_traced_memory()[0]
    for _ in range({checks}):
        w = rng.standard_normal(({size}, {size}))
        gradcheck.check_grad(fn, grad, {{"w": w}}, mode="sample", samples=4)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print(f"RESULT memory grown over {checks} checks of {size}x{size}: {{grown / 1e6:.2f}} MB")
"""

CONFTEST = """
import gradcheck._report as report

written = []


def write_report(result, path, format=None, *, title=None):
    written.append(str(path))
    return path


report.write_report = write_report


def pytest_sessionfinish(session):
    print(f"RESULT reports rendered after the test: {len(written)}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=300)
    parser.add_argument("--size", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        test = TEST.format(checks=args.checks, size=args.size)
        (folder / "test_memory.py").write_text(textwrap.dedent(test))
        (folder / "conftest.py").write_text(CONFTEST)
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-s",
                "-p",
                "no:cacheprovider",
                "--gradcheck-report-dir",
                str(folder / "reports"),
                "test_memory.py",
            ],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
    lines = [line for line in run.stdout.splitlines() if "RESULT" in line]
    if run.returncode != 0 or not lines:
        sys.exit(run.stdout + run.stderr)
    for line in lines:
        print(line.split("RESULT ", 1)[1])


if __name__ == "__main__":
    main()
