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
from dataclasses import dataclass, field, replace
from typing import ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from .._annotations import Annotation
from .._dtypes import is_low_precision
from .._result import DirectionCheck, Status
from .evaluator import Evaluator
from .numerics import (
    F64,
    FLOOR_C,
    FLOOR_G,
    Scales,
    Tolerance,
    Verdicts,
    ecnoise,
    staircase_grid,
    value_grid,
)
from .streams import stream

#: the noise is measured on values that take at least this many distinct levels (of 9) ...
DISTINCT = 5
#: ... widening the spacing 16 times at most this many times to get them
WIDEN_TRIES = 8


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
class Budget:
    """A number of calls, or of seconds (turned into calls by the time of one call)."""

    calls: int | None = None
    seconds: float | None = None

    def public(self) -> object:
        return self.calls if self.seconds is None else f"{self.seconds:g}s"


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
    budget: Budget = Budget(calls=4000)
    screen: Budget = Budget(calls=128)
    kinks: str = "report"
    executor: Executor | None = None
    annotations: dict[str, Annotation] = field(default_factory=dict)
    nondet_tol: float = 0.0
    progress: Callable[[int, int], None] | None = None
    sizes: dict[str, int] = field(default_factory=dict)

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
            "budget": self.budget.public(),
            "screen": self.screen.public(),
            "kinks": self.kinks,
            "executor": None if self.executor is None else type(self.executor).__name__,
            "nondet_tol": self.nondet_tol,
            "progress": self.progress is not None,
            **({"sizes": dict(self.sizes)} if self.sizes else {}),
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


def _select(v: Verdicts, mask: NDArray[np.bool_]) -> Verdicts:
    return Verdicts(v.numeric[mask], v.analytic[mask], v.error_estimate[mask], v.threshold[mask],
                    v.status[mask])  # fmt: skip


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
        self._analytic_noise: dict[int, F64] | None = None
        self._backward_terms: dict[int, F64] | None = None
        self._noise: dict[tuple[int, ...], float] = {}

    # ---- scales -------------------------------------------------------------------------------

    def floor(self, k: int, a: F64) -> F64:
        """The threshold floor of analytic values ``a`` of input ``k``."""
        s = self.scales
        out: F64 = s.eps * (FLOOR_C * np.abs(a) + FLOOR_G * s.gscale[k])
        return out

    def terms(self, k: int) -> float:
        """The function's terms per unit of input ``k``: ``fscale`` over the median scale of its
        elements (the size of a gradient whose terms cancel; see ``FLOOR_T``)."""
        return self.scales.fscale / float(np.median(self.xscale(k)))

    def backward_terms(self, k: int) -> F64:
        """Per element of input ``k`` (flat), the size of the terms its backward pass sums:
        ``|backward(|dout|)|``, one more backward pass when first needed (zeros for objectives
        without cotangents). A gradient that cancels its terms (a bias's ``sum(dout)``) is
        rounded by up to ``eps`` times that, at every point alike."""
        if self._backward_terms is None:
            self._backward_terms = self.ev.absolute_grads(self.wrt) or {}
        got = self._backward_terms.get(k)
        return np.zeros(self.size(k)) if got is None else got

    def analytic_noise(self, k: int) -> F64:
        """Per element of input ``k`` (flat), the measured rounding of its analytic gradient.

        Rounding in a backward pass follows the adjoints flowing through it, which may be far
        larger than the gradient it ends in (a saturated tanh, a gradient recovered from an
        optimizer step), so ``eps * |gradient|`` can understate it by orders of magnitude. It is
        measured once per check, when first needed: the function and its backward pass run
        again with every checked input moved by ``+-d`` relative (a random sign per element),
        with ``d`` of ``sqrt(eps)`` and of 16 ulps, and the second difference
        ``g(x+d) + g(x-d) - 2 g(x)`` cancels the gradient's own change to first order, leaving
        the rounding of three evaluations (``sqrt(6)`` times that of one). A second difference
        beyond ``sqrt(eps)`` of the gradient's scale is no rounding (a kink between the points,
        or a backward pass with noise of its own) and is left out. Each element gets the larger
        of its own value and the 90th percentile of its input's, in the gradient's own units.
        """
        if self._analytic_noise is None:
            self._analytic_noise = self._measure_analytic_noise()
        return self._analytic_noise[k]

    def _measure_analytic_noise(self) -> dict[int, F64]:
        if any(is_low_precision(self.work[k].dtype) for k in self.wrt):
            # a step of sqrt(eps) (3% in float16) changes the gradient itself more than its
            # rounding: the floor's model (a few eps) is all there is
            return {k: np.zeros(self.size(k)) for k in self.wrt}
        rng = stream(self.opts.seed, "analytic", self.names)
        signs = {k: rng.choice([-1.0, 1.0], size=self.work[k].shape) for k in self.wrt}
        # two distances: sqrt(eps) relative changes every rounding (a few ulps may not: an
        # integer number of ulps added to x leaves the rounding of x + y as it was), but where
        # the function varies on a scale much smaller than |x| (an offset far above the
        # spread) its second difference there is the function's own, beyond the cap below;
        # 16 ulps sees the rounding there. Each element keeps the larger of the two
        levels = [self._second_difference(signs, d) for d in ("sqrt", "ulps")]
        out = {k: np.maximum(levels[0][k], levels[1][k]) for k in self.wrt}
        return {k: np.maximum(v, float(np.quantile(v, 0.9))) for k, v in out.items()}

    def _second_difference(self, signs: dict[int, F64], distance: str) -> dict[int, F64]:
        """Per element, the rounding of the analytic gradient seen from ``g(x+d) + g(x-d) -
        2 g(x)`` with ``d`` of ``sqrt(eps)`` or 16 ulps relative (random signs)."""
        plus, minus = list(self.work), list(self.work)
        for k in self.wrt:
            x = self.work[k]
            eps = float(np.finfo(x.dtype).eps)
            d = (math.sqrt(eps) if distance == "sqrt" else 16 * eps) * signs[k]
            plus[k] = (x * (1 + d)).astype(x.dtype)
            minus[k] = (x * (1 - d)).astype(x.dtype)
        g_plus = self.ev.gradients_at(plus, self.wrt)
        g_minus = self.ev.gradients_at(minus, self.wrt)
        out = {}
        for k in self.wrt:
            g = self.grads[k].reshape(-1)
            second = np.abs(g_plus[k].reshape(-1) + g_minus[k].reshape(-1) - 2 * g)
            # a change beyond sqrt(eps) of the gradient's scale is no rounding (a kink between
            # the points, or a backward pass with noise of its own); the scale is at least what
            # the function's terms amount to per unit of the input, so that the rounding of a
            # gradient that is zero in exact arithmetic (a residue of cancelling terms) counts
            terms = self.terms(k)
            cap = math.sqrt(self.scales.eps) * np.maximum(
                np.abs(g), max(self.scales.gscale[k], terms)
            )
            out[k] = np.where(second <= cap, second, 0.0) / math.sqrt(6)
        return out

    def noise_level(self) -> float:
        """The rounding noise of one evaluation assumed when choosing steps (no calls spent)."""
        return max(self.scales.noise_guess, self.opts.nondet_tol)

    def xscale(self, k: int) -> F64:
        """The scale of each element of input ``k``, in the input's own units (computed once).

        ``max(|x|, rms(x))``: an element's magnitude, or the input's typical one for elements
        near zero. An input that is zero everywhere gives no unit: its elements get
        ``max(|x|, 1)``; so does an input that is zero as far as the function can tell, whose
        first-order terms ``sum |g x|`` are not zero but below the rounding of the value (a bias
        of 1e-30 added to terms of size 1) and whose slopes are not so steep that a unit move
        would change the value by ``1/sqrt(eps)`` times its size: its own size would make steps
        that move nothing. Steps and directions are measured on it, so a check behaves the same
        whatever the input's units.
        """
        if k not in self._xscales:
            x = np.abs(self.work[k].astype(np.float64))
            rms = float(np.sqrt(np.mean(x * x)))
            terms = float(np.sum(np.abs(self.grads[k]) * x))
            # (an analytic gradient that is zero everywhere says nothing: it may be the bug; and
            # one so steep that a unit move would change the value by 1/sqrt(eps) times its size
            # varies on a scale far below 1: sqrt near 0)
            sc = self.scales
            steep = sc.gscale.get(k, 0.0) > sc.fscale / math.sqrt(sc.eps)
            silent = 0 < terms <= sc.eps * sc.fscale and not steep
            self._xscales[k] = np.maximum(x, 1.0) if rms == 0 or silent else np.maximum(x, rms)
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

    def noise(self, ks: Sequence[int]) -> float:
        """The rounding noise (standard deviation) of one evaluation near lines over inputs ``ks``.

        Measured once per set of inputs, with Moré and Wild's ECnoise on 9 evaluations at equally
        spaced points along a random direction over those inputs (spacing ``eps^(1/3) / 8`` of
        each element's scale; the unperturbed point is left out, so that a kink there cannot
        pass for noise); when no difference order qualifies, along a second direction, keeping
        the smaller estimate. Spacings widen where the values do not move (``_widening``). The
        noise of a function depends on where it is moved: moving an input that barely changes it
        leaves its terms, and their rounding, as they are. Never below half an ulp of the value,
        nor below ``nondet_tol``.
        """
        key = tuple(ks)
        if key not in self._noise:
            sc = self.scales
            estimates = []
            for _ in range(2):
                u = self.direction(key)
                values, seen = self._widening(key, u)
                if len(np.unique(values)) == 1 and seen == 0:
                    # the value never moved: along -u, then (a function flat on one side, a
                    # loss that stays 0 as every margin grows) or no estimate (an input the
                    # function does not depend on keeps the floor)
                    values, seen = self._widening(key, {k: -v for k, v in u.items()}, True)
                    if not np.all(np.isfinite(values)) or (
                        len(np.unique(values)) == 1 and not seen
                    ):
                        continue
                level, qualified = ecnoise(values)
                # (where ECnoise finds no order that qualifies, its conservative level is the
                # function's own curvature at that spacing, not rounding: a grid seen decides)
                estimates.append(max(level, seen) if qualified or not seen else seen)
                if qualified:
                    break
            # never below half an ulp of the value in the check's precision, nor half an ulp
            # (of float64, the arithmetic of the contraction) of the size of the terms summed
            # into it: nine points can show less noise than there is (their roundings may
            # happen to align)
            floor = 0.5 * max(sc.eps * abs(sc.f0), float(np.finfo(np.float64).eps) * sc.fscale)
            noise = max(min(estimates, default=0.0), floor, self.opts.nondet_tol)
            self._noise[key] = noise
            self.noise_measured[key] = noise
        return self._noise[key]

    def _widening(
        self, key: tuple[int, ...], u: dict[int, F64], tolerant: bool = False
    ) -> tuple[F64, float]:
        """Values along ``u`` for the noise measurement, at the first spacing (``tau / 8``, then
        16 times wider each time) where they take distinct levels, and the rounding grid seen on
        the way (a standard deviation; 0 if none).

        An input whose moves change the value by less than the rounding of the intermediates
        they pass through (a weight times an input of 1e-5, added to a bias) leaves the value as
        it was, or moves it by whole rounding steps: the spacing then sees no noise, yet the
        rounding is there along every line of this input. Wider spacings until the values take
        distinct levels, or leave the function's domain. Values that repeat (fewer levels than
        points) on levels further apart than their own rounding are rounded on a grid that
        coarse (a value computed as log(1 + p) with p of 1e-14 moves in whole ulps of 1):
        uniform rounding on a grid q has a standard deviation of q / sqrt(12). A wider spacing
        may show that grid as a straight staircase, one step per point, in which ECnoise sees no
        noise at all; the slope it shows, had the values been smooth, would have moved them
        across many of their ulps at the narrower spacing, where they took fewer levels: a grid
        about that coarse. ``tolerant``: NaN values where the function fails at the first
        spacing (the opposite direction may leave its domain), instead of an error.
        """
        sc = self.scales
        spacing = sc.tau / 8
        values = self._along(key, u, spacing, tolerant=tolerant)
        if not np.all(np.isfinite(values)):
            return values, 0.0
        wider, seen, narrower = spacing, 0.0, None
        moves = any(sc.gscale.get(k, 0.0) > 0 for k in key)
        for _ in range(WIDEN_TRIES if moves else 0):
            seen = max(seen, value_grid(values, sc.eps) / math.sqrt(12))
            if len(np.unique(values)) >= DISTINCT:
                break
            wider *= 16
            more = self._along(key, u, wider, tolerant=True)
            if not np.all(np.isfinite(more)):
                break
            values, narrower = more, values
        if narrower is not None:
            seen = max(seen, staircase_grid(values, narrower, sc.eps) / math.sqrt(12))
        return values, seen

    def _along(
        self, key: tuple[int, ...], u: dict[int, F64], spacing: float, tolerant: bool
    ) -> F64:
        """The value at 9 equally spaced points along ``u`` (spacing ``spacing`` of each
        element's scale), the unperturbed point left out."""
        values = []
        for i in range(1, 10):
            arrays = list(self.work)
            for k in key:
                x = self.work[k]
                arrays[k] = (x + i * spacing * u[k] * self.xscale(k)).astype(x.dtype)
            v = self.ev.value(arrays, "while measuring the noise level", tolerant=tolerant)
            values.append(float(np.real(v)))
        return np.array(values)

    # ---- checks ---------------------------------------------------------------------------------

    def check_elements(self, k: int, idx: NDArray[np.intp]) -> None:
        """Check elements ``idx`` of input ``k`` with the check's method and record the verdicts."""
        if len(idx) == 0:
            return
        verdicts = self.method.elements(self, k, idx)
        state = self.elements.setdefault(k, ElementState.empty(self.size(k)))
        state.store(idx, verdicts)

    def improve_elements(self, k: int, idx: NDArray[np.intp]) -> None:
        """Judge elements ``idx`` of input ``k`` again on the ladder of steps (stage 2), and keep
        each new verdict that has the lower threshold (a mismatch it shows stands)."""
        improve = getattr(self.method, "improve", None)
        if improve is None or len(idx) == 0:
            return
        verdicts: Verdicts = improve(self, k, idx)
        es = self.elements[k]
        better = (verdicts.threshold < es.threshold[idx]) | (verdicts.status == Status.MISMATCH)
        better &= es.status[idx] != Status.MISMATCH  # a declared mismatch is not taken back
        es.store(idx[better], _select(verdicts, better))

    def bounds(self, k: int) -> F64:
        """Per element of input ``k`` (flat), the smallest relative error in that element the
        check would have caught: ``(threshold + safety * estimate) / |gradient|`` for an element
        checked on its own (the numerical value may be off by ``safety`` times its one-sigma
        estimate towards the error, as the threshold allows it to be away from it); for an
        element under random-sign block directions, the same of the best of them times
        ``sqrt(block size) / scale`` (its weight in the direction); inf where no check covers
        it."""
        safety = self.tol.safety
        g = np.abs(self.grads[k].reshape(-1))
        out = np.full(self.size(k), np.inf)
        es = self.elements.get(k)
        with np.errstate(divide="ignore", invalid="ignore"):
            if es is not None:
                judged = (es.status == Status.OK) | (es.status == Status.MISMATCH)
                own = (es.threshold + safety * es.error_estimate) / g
                out = np.where(judged, np.minimum(out, own), out)
            xs = self.xscale(k).reshape(-1)
            for d in self.directions[k]:
                if d.status not in (Status.OK, Status.MISMATCH):
                    continue
                lo, hi = d.elements if d.elements is not None else (0, self.size(k))
                weight = 1 / math.sqrt(hi - lo)
                through = (d.threshold + safety * d.error_estimate) / (
                    g[lo:hi] * weight * xs[lo:hi]
                )
                out[lo:hi] = np.minimum(out[lo:hi], through)
        result: F64 = np.where(np.isnan(out), np.inf, out)
        return result

    def calls_for(self, budget: Budget) -> int:
        """``budget`` in calls (a budget in seconds, by the time one call took)."""
        if budget.seconds is None:
            assert budget.calls is not None
            return budget.calls
        return int(budget.seconds / max(self.ev.seconds_per_call, 1e-9))

    def check_block(self, k: int, lo: int, hi: int, record: bool = True) -> DirectionCheck:
        """Check the direction with random signs over elements ``lo:hi`` (flat) of input ``k``.

        Every element of the block has the same weight ``1/sqrt(hi - lo)`` in the direction, so
        an error in any one of them moves the directional derivative by as much.
        """
        size = self.size(k)
        signs = self.rng.choice([-1.0, 1.0], size=hi - lo) / math.sqrt(hi - lo)
        u = np.zeros(size)
        u[lo:hi] = signs
        scaled = {k: u.reshape(self.work[k].shape) * self.xscale(k)}
        check = self._judge_direction((k,), scaled, record=False)
        check = replace(check, elements=None if (lo, hi) == (0, size) else (lo, hi))
        if record:
            self.directions[k].append(check)
        return check

    def check_directions(self, k: int, count: int) -> None:
        """Check ``count`` random directions over input ``k`` alone and record them."""
        for _ in range(count):
            self.check_direction((k,))

    def check_direction(
        self, ks: Sequence[int], block: tuple[int, int] | None = None, record: bool = True
    ) -> DirectionCheck:
        """Check one random (Gaussian) direction over inputs ``ks`` (over elements ``block``).

        With ``record``, a direction over one input is kept in that input's result.
        """
        u = self.direction(ks, block)
        scaled = {k: u[k] * self.xscale(k) for k in ks}
        return self._judge_direction(ks, scaled, record)

    def _judge_direction(
        self, ks: Sequence[int], scaled: dict[int, F64], record: bool
    ) -> DirectionCheck:
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


__all__ = ["Budget", "CheckState", "ElementState", "Options"]
