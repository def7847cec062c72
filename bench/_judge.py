"""Judging a diagnosis against the measured truth of a planted bug (shared by the two zoos).

The truth is measured, not written by hand: per input, the elements where the buggy analytic
gradient differs from the correct one at the same point. A top finding is

``named``  when one of the kinds it names (``kind``, or the one alternative it names beside it
           when the numbers do not tell two mistakes apart: ``Finding.kinds``) is one of the
           accepted kinds, and nothing it says is contradicted;
``wrong``  when there is a top finding and it is not named;
``none``   when the check failed without a finding.

A finding is *contradicted* when it names an input whose gradient is right, or points at
elements (``evidence["element_indices"]``) or indices of an axis (``evidence["indices"]`` along
``evidence["axis_position"]``) that hold no wrong element.

The accepted kinds of a catalogue mutant (``lstm_ref.mutants``) are its planted ``finding`` and,
for the few in :data:`ALSO_ACCEPTED`, one more kind that is as true of the bug, with the reason
written beside it. :func:`via` says how a named finding named the bug, so the benches can count
the findings named only through an alternative or through that second kind.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

import gradcheck

#: catalogue mutants that a second kind names as truly as the planted one, and why
ALSO_ACCEPTED: Mapping[str, tuple[str, str]] = {
    "tanh_grad_g": (
        "missing_term",
        "a wrong activation derivative (1 - g for 1 - g**2) is a wrong factor of the chain rule, "
        "which is what missing_term names (FindingKind.MISSING_TERM: a term or factor of the "
        "chain rule missing or wrong); the second zoo's rnn.tanh_deriv, the same mistake in a "
        "plain RNN, is accepted as missing_term only. The planted block (gate g) is where the "
        "mistake is made; through the recurrence its error reaches every gate and layer",
    ),
    "sigmoid_grad_i": (
        "missing_term",
        "a wrong activation derivative (s for s * (1 - s)) is a wrong factor of the chain rule, "
        "as for tanh_grad_g",
    ),
}


def accepted_kinds(mutant: str, planted: str) -> frozenset[str]:
    """The kinds that name a catalogue mutant: its planted kind, and :data:`ALSO_ACCEPTED`'s."""
    also = ALSO_ACCEPTED.get(mutant)
    return frozenset({planted} | ({also[0]} if also else set()))


def via(top: gradcheck.Finding, primary: Collection[str]) -> str:
    """How a named top finding names the bug: ``kind``, ``alternative`` or ``also accepted``.

    ``primary`` holds the kinds accepted without :data:`ALSO_ACCEPTED` (a mutant's planted kind,
    or a zoo case's accepted kinds).
    """
    if top.kind in primary:
        return "kind"
    if any(k in primary for k in top.alternatives):
        return "alternative"
    return "also accepted"


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
    # a finding names at most two kinds (gradcheck.Finding enforces it): naming every kind
    # would make any finding "right"
    assert len(top.kinds) <= 2, top
    said = any(kind in accepted for kind in top.kinds)
    return "named" if said and not problems(top, wrong) else "wrong"


def contradicted(findings: tuple[gradcheck.Finding, ...], wrong: Mapping[str, np.ndarray]) -> int:
    """How many of the findings the truth contradicts."""
    return sum(bool(problems(f, wrong)) for f in findings)
