"""The README's Python examples run as written."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_blocks_run(code, capsys, monkeypatch):
    monkeypatch.chdir(README.parent)  # the blocks are written for the repository root
    monkeypatch.setattr(sys, "path", list(sys.path))  # and may put examples/ on the path
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})


def test_readme_has_examples():
    assert BLOCKS
