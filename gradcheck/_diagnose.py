"""Diagnosis: likely causes of a failed check, read from the structure of the errors."""

from __future__ import annotations

from collections.abc import Mapping

from ._result import Finding, InputResult


def diagnose(inputs: Mapping[str, InputResult]) -> tuple[Finding, ...]:
    """Findings for the failed inputs of a check, best first (none when every input passed)."""
    return ()
