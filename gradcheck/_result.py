"""Result objects of a gradient check."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from ._annotations import Annotation
from ._errors import GradientCheckFailure

#: element indices listed per input in :meth:`InputResult.to_dict` (mismatches, kinks)
SHOWN_INDICES = 20

__all__ = [
    "CheckResult",
    "Confidence",
    "DirectionCheck",
    "ElementCheck",
    "Finding",
    "FindingKind",
    "InputResult",
    "Status",
]


class Status(enum.IntEnum):
    """Verdict codes of one checked element (stored per element in :attr:`InputResult.status`).

    ``UNVERIFIED``: the numerical derivative could not be computed precisely enough (at any step
    tried) for the comparison to mean anything; the element is not counted as a pass, and the
    check does not pass.
    """

    UNCHECKED = 0
    OK = 1
    MISMATCH = 2
    KINK = 3
    SKIPPED = 4
    UNVERIFIED = 5


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

    ``inputs`` names the inputs the direction spans (all checked inputs for a joint screen);
    ``elements``, for a direction over a block of one input, the range ``(start, stop)`` of the
    block's flat indices (None: the whole input). Values are derivatives along the direction, in
    the inputs' scaled units.
    """

    inputs: tuple[str, ...]
    analytic: float
    numeric: float
    abs_error: float
    error_estimate: float
    threshold: float
    status: Status
    elements: tuple[int, int] | None = None

    @property
    def passed(self) -> bool:
        """True when this direction was verified and showed no mismatch."""
        return self.status not in (Status.MISMATCH, Status.UNVERIFIED)


class FindingKind(enum.StrEnum):
    """The patterns the diagnosis names (the ``kind`` of a :class:`Finding`).

    The values are plain strings, so ``finding.kind == "block"`` holds; the JSON report's schema
    lists the same values. A finding whose numbers fit two kinds of mistake names the second in
    :attr:`Finding.alternatives`.

    Examples
    --------
    >>> FindingKind("constant_ratio") is FindingKind.CONSTANT_RATIO
    True
    """

    #: analytic = c * numeric at every checked element
    CONSTANT_RATIO = "constant_ratio"
    #: the analytic gradient is exactly zero where the numeric one is not
    ALL_ZERO = "all_zero"
    #: the error sits in one block, one index of an axis, or one group of inputs
    BLOCK = "block"
    #: only some time steps (or rows) count: the error sits in a range of steps, or a sum (a
    #: weight's, or the upstream gradient passed down) stops short: a partial sum
    TIME_RANGE = "time_range"
    #: two labelled blocks, or two groups of inputs, exchanged
    SWAPPED_BLOCKS = "swapped_blocks"
    #: the right formula applied to the wrong operand: the gradient of one input is (a copy of)
    #: another input's, or the deltas are paired with the wrong operand
    WRONG_INPUT = "wrong_input"
    #: the analytic gradient (or each square block of it) is the numeric one transposed
    TRANSPOSED = "transposed"
    #: a term or factor of the chain rule is missing or wrong (a dropped carry, a second path,
    #: a wrong local derivative)
    MISSING_TERM = "missing_term"
    #: only a few elements are wrong, every other element passes
    WRONG_ELEMENTS = "wrong_elements"
    #: the analytic gradient is nonzero exactly where the numeric one is zero
    UNMASKED = "unmasked"
    #: the analytic gradient is the numeric one reversed along one or more axes
    REVERSED = "reversed"
    #: the backward pass breaks its framework's contract (``gradcheck.torch``, ``gradcheck.jax``):
    #: not linear in the cotangent, two runs disagree, a gradient of the wrong shape or dtype
    CONTRACT = "contract"


class Confidence(enum.StrEnum):
    """How firmly the numbers support a :class:`Finding`.

    ``EXACT``
        the stated relation holds at every checked element within the check's own thresholds,
        and the relation is itself the mistake (a zero, a factor, an exchange, a copy, a
        transpose, a mask, an error confined to the named elements);
    ``HIGH``
        the relation holds approximately (within 1% at every element, or with a residual far
        below the error in place), or one block stands out clearly from the others;
    ``LOW``
        a clue: what the summary states holds on the numbers, but several kinds of mistake
        produce it; the hint names them.

    Examples
    --------
    >>> [c.value for c in Confidence]
    ['exact', 'high', 'low']
    """

    EXACT = "exact"
    HIGH = "high"
    LOW = "low"


#: a finding names at most this many kinds of mistake beside its own
MAX_ALTERNATIVES = 1

_E = TypeVar("_E", FindingKind, Confidence)


def _member(enum_: type[_E], name: str, value: object) -> _E:
    """``enum_(value)``, or an InvalidArgumentError naming the field and the choices."""
    if value not in {m.value for m in enum_}:
        from ._errors import InvalidArgumentError

        choices = ", ".join(repr(m.value) for m in enum_)
        raise InvalidArgumentError(
            f"Expected one of {choices} for Finding.{name}, but got {name}={value!r}"
        )
    return enum_(value)


@dataclass(frozen=True)
class Finding:
    """A likely cause of a mismatch, read from the structure of the errors of a failed check.

    A finding is stated only when its evidence holds on the numbers; when nothing holds, a failed
    check has no finding.

    Attributes
    ----------
    kind : FindingKind
        The pattern (a string enum: ``"constant_ratio"``, ``"block"``...).
    input : str
        The input whose gradient shows the pattern most clearly.
    summary : str
        One sentence stating the pattern, with its numbers.
    hint : str
        What kind of mistake usually produces it, in plain language.
    evidence : Mapping[str, object]
        The numbers that support it (JSON-safe).
    score : float
        How well the pattern explains the mismatch, from 0 to 1; findings are sorted by it.
    confidence : Confidence
        How firmly the numbers support it: ``exact``, ``high`` or ``low`` (see
        :class:`Confidence`).
    inputs : tuple of str
        Every input showing the same pattern, ``input`` first (empty means ``(input,)``).
    alternatives : tuple of FindingKind
        Other kinds of mistake that produce the same numbers, which the summary names beside
        ``kind`` (empty when the numbers single out one): the finding is right for any of
        :attr:`kinds`. At most one.

    Examples
    --------
    >>> f = Finding("missing_term", "W", "W is wrong ...", "...", alternatives=("time_range",))
    >>> [k.value for k in f.kinds]
    ['missing_term', 'time_range']
    """

    kind: FindingKind
    input: str
    summary: str
    hint: str
    evidence: Mapping[str, object] = field(default_factory=dict)
    score: float = 0.0
    confidence: Confidence = Confidence.LOW
    inputs: tuple[str, ...] = ()
    alternatives: tuple[FindingKind, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _member(FindingKind, "kind", self.kind))
        object.__setattr__(self, "confidence", _member(Confidence, "confidence", self.confidence))
        given: object = self.alternatives
        if isinstance(given, str):
            from ._errors import InvalidArgumentError

            raise InvalidArgumentError(
                "Expected a tuple of finding kinds for Finding.alternatives, but got the string "
                f"alternatives={given!r}; write ({given!r},)"
            )
        others = tuple(_member(FindingKind, "alternatives", k) for k in self.alternatives)
        if len(others) > MAX_ALTERNATIVES or self.kind in others or len(set(others)) < len(others):
            from ._errors import InvalidArgumentError

            raise InvalidArgumentError(
                f"Expected at most {MAX_ALTERNATIVES} kind other than kind={self.kind.value!r} "
                f"for Finding.alternatives, but got alternatives={self.alternatives!r}"
            )
        object.__setattr__(self, "alternatives", others)
        if not self.inputs:
            object.__setattr__(self, "inputs", (self.input,))

    @property
    def kinds(self) -> tuple[FindingKind, ...]:
        """``kind`` and the :attr:`alternatives`: every kind of mistake the finding names."""
        return (self.kind, *self.alternatives)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of the finding."""
        return {
            "kind": self.kind.value,
            "alternatives": [k.value for k in self.alternatives],
            "input": self.input,
            "inputs": list(self.inputs),
            "summary": self.summary,
            "hint": self.hint,
            "confidence": self.confidence.value,
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
    bounds: NDArray[np.float64] | None = field(default=None, repr=False)

    @property
    def detection_bound(self) -> float:
        """The smallest relative error that the check would have caught in any one element
        whose gradient is at least 1/8 of the input's largest (``inf`` when some such element
        was not covered; ``nan`` when the check does not say, as for a fixed ``rtol``).

        ``bounds`` holds it per element: ``(threshold + safety * error estimate) / |gradient|``
        for an element checked on its own (``safety`` of the threshold, 4 by default: the
        numerical value may be off by that many one-sigma estimates towards the error, as the
        threshold allows it to be away from it),
        and through the best random-sign block direction that covers it otherwise.

        Examples
        --------
        >>> import numpy as np
        >>> from gradcheck import check_grad
        >>> r = check_grad(lambda x: float(np.sum(np.sin(x))), lambda x: (np.cos(x),),
        ...                {"x": np.linspace(0, 1, 5)})
        >>> r.inputs["x"].detection_bound < 1e-6
        True
        """
        if self.bounds is None:
            return math.nan
        g = np.abs(np.asarray(self.analytic, dtype=np.float64))
        if not g.size or g.max() == 0:
            return math.nan
        significant = g >= g.max() / 8
        return float(np.max(np.asarray(self.bounds)[significant]))

    @property
    def size(self) -> int:
        """Number of elements of the input."""
        return math.prod(self.shape)

    @property
    def unverified(self) -> int:
        """Number of elements whose numerical derivative was too uncertain to judge them."""
        return int(np.sum(self.status == Status.UNVERIFIED))

    @property
    def passed(self) -> bool:
        """True when no element and no direction of this input failed or stayed unverified."""
        failed_kinks = self.kink_policy == "fail" and bool(self.kinks)
        return (
            self.mismatches == 0
            and self.unverified == 0
            and not failed_kinks
            and all(d.passed for d in self.directions)
        )

    def mismatch_indices(self) -> list[tuple[int, ...]]:
        """Indices of the mismatching elements, worst first."""
        idx = np.argwhere(self.status == Status.MISMATCH)
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero threshold: exact match
            ratio = np.abs(self.analytic - self.numeric) / self.threshold
        if not len(idx):
            return []
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero threshold (atol=rtol=0)
            ratio = np.abs(self.analytic - self.numeric) / self.threshold
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
            "unverified": self.unverified,
            "detection_bound": _num(self.detection_bound),
            "kinks": len(self.kinks),
            "max_abs_error": _num(self.max_abs_error),
            "max_rel_error": _num(self.max_rel_error),
            "worst": worst,
            "mismatch_indices": [list(i) for i in self.mismatch_indices()[:SHOWN_INDICES]],
            "kink_indices": [list(k) for k in self.kinks[:SHOWN_INDICES]],
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

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        # picklable (a mapping proxy is not): results cross process boundaries (executors,
        # pytest-xdist) and the pytest plugin spools them to disk
        state = {f.name: getattr(self, f.name) for f in fields(self)}
        state["inputs"], state["options"] = dict(self.inputs), dict(self.options)
        return _rebuild, (state,)

    @property
    def failed_inputs(self) -> list[InputResult]:
        """The inputs that failed, in order."""
        return [r for r in self.inputs.values() if not r.passed]

    def findings_for(self, name: str) -> tuple[Finding, ...]:
        """The findings that name input ``name`` (as their main input or among the others).

        Parameters
        ----------
        name : str
            The name of a checked input.

        Returns
        -------
        tuple of Finding
            Best first; empty when the input passed or no pattern holds for it.

        Raises
        ------
        InvalidArgumentError
            When ``name`` is not one of the checked inputs.

        Examples
        --------
        >>> import numpy as np
        >>> from gradcheck import check_grad
        >>> def grad(x, w):
        ...     return 2 * x, -2 * w  # the sign of w's gradient is flipped
        >>> r = check_grad(lambda x, w: float(np.sum(x**2) + np.sum(w**2)), grad,
        ...                {"x": np.arange(1.0, 4.0), "w": np.arange(1.0, 4.0)})
        >>> [(f.kind.value, f.evidence["factor"]) for f in r.findings_for("w")]
        [('constant_ratio', '-1')]
        >>> r.findings_for("x")
        ()
        """
        if name not in self.inputs:
            from ._errors import InvalidArgumentError

            raise InvalidArgumentError(
                f"findings_for got name={name!r}, which is not a checked input; the checked "
                f"inputs are {list(self.inputs)}"
            )
        return tuple(f for f in self.findings if name in f.inputs)

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

    def __repr__(self) -> str:
        failed = [r.name for r in self.failed_inputs]
        return (
            f"CheckResult(passed={self.passed}, inputs={list(self.inputs)}, failed={failed}, "
            f"method={self.method!r}, mode_used={self.mode_used!r}, calls={self.calls}, "
            f"findings={len(self.findings)})"
        )

    def _repr_html_(self) -> str:
        """A compact HTML table, shown by Jupyter when the result ends a cell.

        Examples
        --------
        >>> import numpy as np
        >>> from gradcheck import check_grad
        >>> r = check_grad(lambda x: float(np.sum(x**2)), lambda x: (2 * x,), {"x": np.ones(2)})
        >>> "gradcheck passed" in r._repr_html_()
        True
        """
        from ._report._notebook import render_notebook_html

        return render_notebook_html(self)

    def _repr_markdown_(self) -> str:
        """The Markdown report (``gradcheck.report(result, "markdown")``), for notebook viewers."""
        from ._report._markdown import render_markdown

        return render_markdown(self)


def _rebuild(state: dict[str, Any]) -> CheckResult:
    return CheckResult(**state)


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
