"""docs/diagnosis.md's Python example runs and prints what the page says it prints."""

from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "diagnosis.md"


def test_the_sizes_example_prints_what_the_page_shows(capsys):
    (code,) = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    exec(compile(code, str(PAGE), "exec"), {"__name__": "__docs__"})
    printed = capsys.readouterr().out.strip()
    shown = " ".join(line[2:] for line in code.splitlines() if line.startswith("# ")).strip()
    assert printed == shown
