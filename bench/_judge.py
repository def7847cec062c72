"""Judging a diagnosis against the measured truth of a planted bug (shared by the two zoos).

The truth is measured, not written by hand: per input, the elements where the buggy analytic
gradient differs from the correct one at the same point. A top finding is

``named``  when its kind is one of the accepted kinds and nothing it says is contradicted;
``wrong``  when there is a top finding and it is not named;
``none``   when the check failed without a finding.

A finding is *contradicted* when it names an input whose gradient is right, or points at
elements (``evidence["element_indices"]``) or indices of an axis (``evidence["indices"]`` along
``evidence["axis_position"]``) that hold no wrong element.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

import gradcheck


def differences(
    correct: Mapping[str, np.ndarray], buggy: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Per input, the elements where ``buggy`` differs from ``correct`` (beyond 1e-12 relative)."""
    out = {}
    for name, b in buggy.items():
        a = np.asarray(correct[name], dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        scale = max(float(np.max(np.abs(a), initial=0.0)), 1e-300)
        out[name] = np.abs(a - b) > 1e-12 * scale
    return out


def problems(f: gradcheck.Finding, wrong: Mapping[str, np.ndarray]) -> list[str]:
    """What a finding says that the measured truth contradicts (empty: nothing)."""
    out = []
    for name in f.inputs:
        if name in wrong and not wrong[name].any():
            out.append(f"names {name}, whose gradient is right")
    diff = wrong.get(f.input)
    if diff is None:
        return out
    for index in f.evidence.get("element_indices", []) or []:  # type: ignore[union-attr]
        if not diff[tuple(index)]:
            out.append(f"points at {f.input}{list(index)}, which is right")
    position, indices = f.evidence.get("axis_position"), f.evidence.get("indices")
    if isinstance(position, int) and isinstance(indices, list):
        for i in indices:
            if not np.take(diff, i, axis=position).any():
                out.append(f"points at index {i} of axis {position} of {f.input}, which is right")
    return out


def outcome(
    findings: tuple[gradcheck.Finding, ...],
    accepted: Collection[str],
    wrong: Mapping[str, np.ndarray],
) -> str:
    """``named``, ``wrong`` or ``none`` for the top finding (see the module docstring)."""
    if not findings:
        return "none"
    top = findings[0]
    return "named" if top.kind in accepted and not problems(top, wrong) else "wrong"


def contradicted(findings: tuple[gradcheck.Finding, ...], wrong: Mapping[str, np.ndarray]) -> int:
    """How many of the findings the truth contradicts."""
    return sum(bool(problems(f, wrong)) for f in findings)
