"""The state of one check: what the methods and modes read and what they record.

:class:`CheckState` holds the options, the evaluator, the analytic gradients and the scales of
the check, and collects the verdicts (per element, per direction, joint screens) and notes. Methods
(``methods.py``) compute verdicts on lines; modes (``modes.py``) decide which lines to check; both
go through the public methods of this class.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from .._annotations import Annotation
from .._objective import Arrays
from .._result import DirectionCheck, Status
from .evaluator import Evaluator
from .numerics import F64, FLOOR_C, NOISE_C, Scales, Tolerance, Verdicts, ecnoise
from .streams import stream


class MethodLike(Protocol):
    """What the state needs of a numerical method (see ``methods.Method``)."""

    name: ClassVar[str]
    calls_per_element: ClassVar[int]
    calls_per_direction: ClassVar[int]

    def elements(self, state: CheckState, k: int, idx: NDArray[np.intp]) -> Verdicts: ...

    def direction(
        self, state: CheckState, ks: Sequence[int], scaled: dict[int, F64], floor: F64
    ) -> Verdicts: ...


@dataclass(frozen=True)
class Options:
    """Validated options (see ``gradcheck.CheckOptions`` for their meaning)."""

    method: str = "central"
    mode: str = "auto"
    seed: int = 0
    rtol: float | None = None
    atol: float | None = None
    safety: float = 4.0
    samples: int = 10
    directions: int = 2
    budget: int = 4000
    kinks: str = "report"
    executor: Executor | None = None
    annotations: dict[str, Annotation] = field(default_factory=dict)
    nondet_tol: float = 0.0
    progress: Callable[[int, int], None] | None = None

    @property
    def tolerance(self) -> Tolerance:
        return Tolerance(self.safety, self.rtol, self.atol)

    def public(self) -> dict[str, object]:
        """The options as JSON-safe values, for the result."""
        return {
            "method": self.method,
            "mode": self.mode,
            "seed": self.seed,
            "rtol": self.rtol,
            "atol": self.atol,
            "safety": self.safety,
            "samples": self.samples,
            "directions": self.directions,
            "budget": self.budget,
            "kinks": self.kinks,
            "executor": None if self.executor is None else type(self.executor).__name__,
            "nondet_tol": self.nondet_tol,
            "progress": self.progress is not None,
        }


@dataclass
class ElementState:
    """Per-element verdicts of one input (NaN and UNCHECKED where not checked)."""

    numeric: F64
    error_estimate: F64
    threshold: F64
    status: NDArray[np.int8]

    @classmethod
    def empty(cls, size: int) -> ElementState:
        nan = np.full(size, np.nan)
        return cls(nan, nan.copy(), nan.copy(), np.zeros(size, dtype=np.int8))

    def store(self, idx: NDArray[np.intp], verdicts: Verdicts) -> None:
        self.numeric[idx] = verdicts.numeric
        self.error_estimate[idx] = verdicts.error_estimate
        self.threshold[idx] = verdicts.threshold
        self.status[idx] = verdicts.status


class CheckState:
    """Everything one check knows and has found."""

    def __init__(
        self,
        evaluator: Evaluator,
        wrt: Sequence[int],
        options: Options,
        grads: dict[int, F64],
        scales: Scales,
        method: MethodLike,
    ) -> None:
        self.ev = evaluator
        self.names = evaluator.names
        self.work = evaluator.work
        self.wrt = tuple(wrt)
        self.opts = options
        self.tol = options.tolerance
        self.grads = grads
        self.scales = scales
        self.method = method
        self.rng = stream(options.seed, "directions", self.names)
        self.noise_measured: dict[Hashable, float] = {}
        self.notes: list[str] = []
        self.elements: dict[int, ElementState] = {}
        self.directions: dict[int, list[DirectionCheck]] = {k: [] for k in self.wrt}
        self.screens: list[DirectionCheck] = []
        self._xscales: dict[int, F64] = {}

    # ---- scales -------------------------------------------------------------------------------

    def floor(self, k: int, a: F64) -> F64:
        """The threshold floor of analytic values ``a`` of input ``k``."""
        s = self.scales
        out: F64 = FLOOR_C * s.eps * (np.abs(a) + s.gscale[k] + s.fscale)
        return out

    def xscale(self, k: int) -> F64:
        """``max(1, |x|)`` of input ``k``: the scale of its steps (computed once)."""
        if k not in self._xscales:
            self._xscales[k] = np.maximum(1.0, np.abs(self.work[k]))
        return self._xscales[k]

    def size(self, k: int) -> int:
        return int(self.work[k].size)

    # ---- randomness and noise -----------------------------------------------------------------

    def direction(self, ks: Sequence[int], block: tuple[int, int] | None = None) -> dict[int, F64]:
        """A random unit direction over inputs ``ks`` (over elements ``block`` of each)."""
        spans = [block if block is not None else (0, self.size(k)) for k in ks]
        # one draw for all inputs: the same numbers as one draw per input, in order
        draw = self.rng.standard_normal(sum(hi - lo for lo, hi in spans))
        draw /= math.sqrt(float(np.dot(draw, draw)))
        u = {}
        at = 0
        for k, (lo, hi) in zip(ks, spans, strict=True):
            if (lo, hi) == (0, self.size(k)):
                u[k] = draw[at : at + hi - lo].reshape(self.work[k].shape)
            else:
                v = np.zeros(self.size(k))
                v[lo:hi] = draw[at : at + hi - lo]
                u[k] = v.reshape(self.work[k].shape)
            at += hi - lo
        return u

    def measure_noise(self, arrays_at: Callable[[int], Arrays]) -> float:
        """Noise level from 8 evaluations at equally spaced points ``arrays_at(1..8)``."""
        values = [self.scales.f0]
        for i in range(1, 9):
            v = self.ev.value(arrays_at(i), "while measuring the noise level")
            values.append(float(np.real(v)))
        # never below the rounding of the value itself (half an ulp of the largest term summed):
        # a function whose values happen to fall on an exact pattern shows no noise in 9 points
        measured = 3 * ecnoise(np.array(values))
        return max(measured, float(self.scales.noise_guess / (2 * NOISE_C)))

    # ---- checks ---------------------------------------------------------------------------------

    def check_elements(self, k: int, idx: NDArray[np.intp]) -> None:
        """Check elements ``idx`` of input ``k`` with the check's method and record the verdicts."""
        if len(idx) == 0:
            return
        verdicts = self.method.elements(self, k, idx)
        state = self.elements.setdefault(k, ElementState.empty(self.size(k)))
        state.store(idx, verdicts)

    def check_directions(self, k: int, count: int) -> None:
        """Check ``count`` random directions over input ``k`` alone and record them."""
        for _ in range(count):
            self.check_direction((k,))

    def check_direction(
        self, ks: Sequence[int], block: tuple[int, int] | None = None, record: bool = True
    ) -> DirectionCheck:
        """Check one random direction over inputs ``ks`` (over elements ``block`` of each).

        With ``record``, a direction over one input is kept in that input's result.
        """
        u = self.direction(ks, block)
        scaled = {k: u[k] * self.xscale(k) for k in ks}
        gmag = sum(float(np.sum(np.abs(self.grads[k] * scaled[k]))) for k in ks)
        floor = np.array([FLOOR_C * self.scales.eps * gmag])
        verdicts = self.method.direction(self, ks, scaled, floor)
        check = DirectionCheck(
            inputs=tuple(self.names[k] for k in ks),
            analytic=float(verdicts.analytic[0]),
            numeric=float(verdicts.numeric[0]),
            abs_error=float(abs(verdicts.analytic[0] - verdicts.numeric[0])),
            error_estimate=float(verdicts.error_estimate[0]),
            threshold=float(verdicts.threshold[0]),
            status=Status(int(verdicts.status[0])),
        )
        if record and len(ks) == 1:
            self.directions[ks[0]].append(check)
        return check


__all__ = ["CheckState", "ElementState", "Options"]
