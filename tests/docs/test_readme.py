"""The README's Python examples run as written."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_blocks_run(code, capsys, tmp_path, monkeypatch):
    # the front ends' examples need their framework (an extra): skipped where it is missing
    for framework in sorted(set(re.findall(r"^(?:import|from) (torch|jax)\b", code, re.M))):
        pytest.importorskip(framework, reason=f"the block uses {framework}, not installed")
    monkeypatch.chdir(tmp_path)  # a block that writes a file writes it here
    # the blocks are written for the repository root: what they import from examples/ is found
    monkeypatch.setattr(sys, "path", [str(README.parent / "examples"), *sys.path])
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})


def test_readme_has_examples():
    assert BLOCKS
