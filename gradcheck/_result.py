"""Result objects of a gradient check."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._annotations import Annotation
from ._errors import GradientCheckFailure

__all__ = ["CheckResult", "DirectionCheck", "ElementCheck", "Finding", "InputResult", "Status"]


class Status(enum.IntEnum):
    """Verdict codes of one checked element (stored per element in :attr:`InputResult.status`)."""

    UNCHECKED = 0
    OK = 1
    MISMATCH = 2
    KINK = 3
    SKIPPED = 4


@dataclass(frozen=True)
class ElementCheck:
    """The verdict on one element: both values, their errors, and the threshold used.

    ``abs_error = |analytic - numeric|``, ``rel_error = abs_error / max(|analytic|, |numeric|)``
    (0 when both are 0). The element failed when ``abs_error > threshold``.
    """

    index: tuple[int, ...]
    analytic: float
    numeric: float
    abs_error: float
    rel_error: float
    error_estimate: float
    threshold: float
    status: Status

    @property
    def excess(self) -> float:
        """``abs_error / threshold``: above 1 means the element failed."""
        return _ratio(self.abs_error, self.threshold)


@dataclass(frozen=True)
class DirectionCheck:
    """The verdict on one directional derivative ``<g, u>`` against finite differences.

    ``inputs`` names the inputs the direction spans (all checked inputs for a joint screen).
    Values are derivatives along the direction, in the inputs' scaled units.
    """

    inputs: tuple[str, ...]
    analytic: float
    numeric: float
    abs_error: float
    error_estimate: float
    threshold: float
    status: Status

    @property
    def passed(self) -> bool:
        """True unless this direction showed a mismatch."""
        return self.status != Status.MISMATCH


@dataclass(frozen=True)
class Finding:
    """A likely cause of a mismatch, read from the structure of the errors of a failed check.

    Attributes
    ----------
    kind : str
        The pattern: ``"constant_ratio"``, ``"all_zero"``, ``"block"``, ``"time_range"``,
        ``"swapped_blocks"``, ``"wrong_input"``, ``"transposed"`` or ``"missing_term"``.
    input : str
        The input whose gradient shows the pattern.
    summary : str
        One sentence stating the pattern, with its numbers.
    hint : str
        What kind of mistake usually produces it, in plain language.
    evidence : Mapping[str, object]
        The numbers that support it (JSON-safe).
    score : float
        How well the pattern explains the mismatch, from 0 to 1; findings are sorted by it.
    """

    kind: str
    input: str
    summary: str
    hint: str
    evidence: Mapping[str, object] = field(default_factory=dict)
    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of the finding."""
        return {
            "kind": self.kind,
            "input": self.input,
            "summary": self.summary,
            "hint": self.hint,
            "evidence": {k: _jsonable(v) for k, v in self.evidence.items()},
            "score": _num(self.score),
        }


@dataclass(frozen=True, eq=False)
class InputResult:
    """Everything the check found about one input.

    The per-element arrays (``analytic``, ``numeric``, ``error_estimate``, ``threshold``,
    ``status``) have the input's shape; ``numeric``, ``error_estimate`` and ``threshold`` are NaN
    where the element was not checked.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    checked: int
    mismatches: int
    kinks: tuple[tuple[int, ...], ...]
    worst: ElementCheck | None
    max_abs_error: float
    max_rel_error: float
    directions: tuple[DirectionCheck, ...]
    analytic: NDArray[np.float64] = field(repr=False)
    numeric: NDArray[np.float64] = field(repr=False)
    error_estimate: NDArray[np.float64] = field(repr=False)
    threshold: NDArray[np.float64] = field(repr=False)
    status: NDArray[np.int8] = field(repr=False)
    annotation: Annotation | None = None
    kink_policy: str = "report"

    @property
    def size(self) -> int:
        """Number of elements of the input."""
        return math.prod(self.shape)

    @property
    def passed(self) -> bool:
        """True when no element and no direction of this input failed."""
        failed_kinks = self.kink_policy == "fail" and bool(self.kinks)
        return self.mismatches == 0 and not failed_kinks and all(d.passed for d in self.directions)

    def mismatch_indices(self) -> list[tuple[int, ...]]:
        """Indices of the mismatching elements, worst first."""
        idx = np.argwhere(self.status == Status.MISMATCH)
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero threshold: exact match
            ratio = np.abs(self.analytic - self.numeric) / self.threshold
        if not len(idx):
            return []
        order = np.argsort(-ratio[tuple(idx.T)], kind="stable")
        return [tuple(int(i) for i in idx[o]) for o in order]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary (non-finite numbers become the strings 'nan', 'inf', '-inf')."""
        worst = None
        if self.worst is not None:
            w = self.worst
            worst = {
                "index": list(w.index),
                "analytic": _num(w.analytic),
                "numeric": _num(w.numeric),
                "abs_error": _num(w.abs_error),
                "rel_error": _num(w.rel_error),
                "error_estimate": _num(w.error_estimate),
                "threshold": _num(w.threshold),
                "status": w.status.name.lower(),
            }
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "size": self.size,
            "checked": self.checked,
            "passed": self.passed,
            "mismatches": self.mismatches,
            "kinks": [list(k) for k in self.kinks],
            "max_abs_error": _num(self.max_abs_error),
            "max_rel_error": _num(self.max_rel_error),
            "worst": worst,
            "mismatch_indices": [list(i) for i in self.mismatch_indices()[:20]],
            "directions": [
                {
                    "inputs": list(d.inputs),
                    "analytic": _num(d.analytic),
                    "numeric": _num(d.numeric),
                    "abs_error": _num(d.abs_error),
                    "error_estimate": _num(d.error_estimate),
                    "threshold": _num(d.threshold),
                    "status": d.status.name.lower(),
                }
                for d in self.directions
            ],
        }


@dataclass(frozen=True, eq=False)
class CheckResult:
    """The outcome of a gradient check.

    Attributes
    ----------
    passed : bool
        True when no checked element or direction of any input mismatched (and, with
        ``kinks="fail"``, no kink was found).
    inputs : Mapping[str, InputResult]
        One entry per checked input, in the order given.
    method, mode : str
        The numerical method and the mode requested; ``mode_used`` says what ``"auto"`` chose.
    calls, backward_calls : int
        Evaluations of the function (forward or loss) and of the backward pass.
    wall_time : float
        Seconds spent in the check.
    noise : float
        The estimated absolute rounding noise of one function evaluation.
    screens : tuple of DirectionCheck
        Joint directional screens over all inputs (``mode="auto"`` on large inputs).
    notes : tuple of str
        Remarks on how the check ran (mode chosen, budget reached...).
    options : Mapping[str, object]
        The options used, JSON-safe.
    findings : tuple of Finding
        For a failed check, the likely causes read from the pattern of the errors, best first.
    """

    passed: bool
    inputs: Mapping[str, InputResult]
    method: str
    mode: str
    mode_used: str
    calls: int
    backward_calls: int
    wall_time: float
    noise: float
    screens: tuple[DirectionCheck, ...] = ()
    notes: tuple[str, ...] = ()
    options: Mapping[str, object] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", MappingProxyType(dict(self.inputs)))
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    @property
    def failed_inputs(self) -> list[InputResult]:
        """The inputs that failed, in order."""
        return [r for r in self.inputs.values() if not r.passed]

    def raise_for_failure(self) -> CheckResult:
        """Raise :class:`GradientCheckFailure` if the check failed; otherwise return ``self``.

        Examples
        --------
        >>> import numpy as np
        >>> from gradcheck import check_grad
        >>> r = check_grad(lambda x: float(np.sum(x**2)), lambda x: (2 * x,),
        ...                {"x": np.arange(3.0)}).raise_for_failure()
        >>> r.passed
        True
        """
        if not self.passed:
            from ._format import format_text

            raise GradientCheckFailure(format_text(self), self)
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of the result (non-finite numbers encoded as strings).

        Examples
        --------
        >>> import json, numpy as np
        >>> from gradcheck import check_grad
        >>> r = check_grad(lambda x: float(np.sum(x**2)), lambda x: (2 * x,), {"x": np.ones(2)})
        >>> json.loads(json.dumps(r.to_dict()))["passed"]
        True
        """
        return {
            "passed": self.passed,
            "method": self.method,
            "mode": self.mode,
            "mode_used": self.mode_used,
            "calls": self.calls,
            "backward_calls": self.backward_calls,
            "wall_time": _num(self.wall_time),
            "noise": _num(self.noise),
            "notes": list(self.notes),
            "options": {k: _jsonable(v) for k, v in self.options.items()},
            "screens": [
                {
                    "inputs": list(d.inputs),
                    "analytic": _num(d.analytic),
                    "numeric": _num(d.numeric),
                    "abs_error": _num(d.abs_error),
                    "error_estimate": _num(d.error_estimate),
                    "threshold": _num(d.threshold),
                    "status": d.status.name.lower(),
                }
                for d in self.screens
            ],
            "inputs": [r.to_dict() for r in self.inputs.values()],
            "findings": [f.to_dict() for f in self.findings],
        }

    def __str__(self) -> str:
        from ._format import format_text

        return format_text(self)


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return math.inf if num > 0 else 0.0


def _num(value: float) -> float | str:
    value = float(value)
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _num(float(value))
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)
