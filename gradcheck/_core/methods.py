"""Numerical methods: how a batch of lines becomes verdicts.

A method is registered in :data:`METHODS` under its public name. It says how many calls an element
or a direction costs, may prepare itself once per check (:meth:`Method.prepare`), and judges
element lines (:meth:`Method.elements`) and random directions (:meth:`Method.direction`). A new
method is a subclass of :class:`Method` added to :data:`METHODS`; nothing else names methods.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from .._dtypes import is_float, is_low_precision
from .._errors import ComplexStepError, GradcheckError
from .._objective import Arrays
from .._result import Status
from .ladder import refine
from .lines import DirectionLine, ElementLines, Line
from .numerics import (
    CS_C,
    CS_NOISE,
    F64,
    FLOOR_A,
    FLOOR_C,
    FLOOR_T,
    NEARBY_C,
    NEARBY_PAIRS,
    NEARBY_STEPS,
    Eval,
    Verdicts,
    central,
    extrapolated,
    verified,
)
from .state import CheckState
from .steps import CENTRAL, RICHARDSON, StepRule
from .streams import stream


class Method:
    """A numerical method (see the module docstring)."""

    name: ClassVar[str]
    #: calls per element of a full check
    calls_per_element: ClassVar[int]
    #: calls per random direction
    calls_per_direction: ClassVar[int]

    def prepare(self, state: CheckState) -> None:
        """Set up once per check, after the unperturbed evaluation (nothing by default)."""

    def elements(self, state: CheckState, k: int, idx: NDArray[np.intp]) -> Verdicts:
        """Verdicts on elements ``idx`` of input ``k``."""
        raise NotImplementedError

    def direction(
        self, state: CheckState, ks: Sequence[int], scaled: dict[int, F64], floor: F64
    ) -> Verdicts:
        """The verdict along the direction ``scaled`` over inputs ``ks`` (one line)."""
        raise NotImplementedError


class FiniteDifference(Method):
    """Real-valued finite differences: stage 1 at steps ``first``, confirmed by stage 2."""

    #: multiples of the step evaluated in stage 1
    first: ClassVar[tuple[float, ...]]
    #: how the steps of the lines are chosen
    rule: ClassVar[StepRule]

    def stage1(
        self, lines: Line, evals: dict[float, Eval], f0: float, noise: float
    ) -> tuple[F64, F64, NDArray[np.bool_]]:
        """Numeric derivative, error estimate and whether rounding dominates it (stage 1)."""
        raise NotImplementedError

    def judge(self, state: CheckState, lines: Line, floor: F64, user: bool = True) -> Verdicts:
        """Stage 1 on every line, stage 2 (confirmation) on the lines stage 1 flagged.

        ``user=False`` ignores the caller's rtol/atol (for internal consistency checks).
        """
        tol, sc = state.tol, state.scales
        n = lines.count
        evals = {m: lines.at(m, np.arange(n)) for m in self.first}
        analytic = evals[self.first[0]].analytic

        noise = state.noise(lines.inputs)
        numeric, err, noisy = self.stage1(lines, evals, sc.f0, noise)
        # the caller's rtol/atol (if any) decide what is a mismatch; whether the numeric value
        # is precise enough to mean something is the estimate's to say
        thr = tol.threshold(numeric, err, floor, user)
        estimate = tol.threshold(numeric, err, floor, user=False)
        flagged = np.abs(analytic - numeric) > thr
        suspect = flagged | ~verified(estimate, analytic, numeric, lines.scale, noisy)
        analytic = analytic.copy()
        status = np.full(n, Status.OK, dtype=np.int8)
        if suspect.any():
            sel = np.flatnonzero(suspect)
            sub = {m: e.select(sel) for m, e in evals.items()}
            mine = (numeric[sel], err[sel], estimate[sel])
            v = refine(
                state, lines, sel, sub, floor[sel], noise, flagged[sel], noisy[sel], user, mine
            )
            numeric[sel], err[sel], thr[sel], status[sel] = (
                v.numeric,
                v.error_estimate,
                v.threshold,
                v.status,
            )
            analytic[sel] = v.analytic
        _excuse(state, lines, numeric, analytic, thr, status, user)
        return Verdicts(numeric, analytic, err, thr, status)

    def elements(self, state: CheckState, k: int, idx: NDArray[np.intp]) -> Verdicts:
        a = state.grads[k].reshape(-1)[idx]
        return self.judge(state, ElementLines(state, k, idx, self.rule), state.floor(k, a))

    def improve(self, state: CheckState, k: int, idx: NDArray[np.intp]) -> Verdicts:
        """Elements ``idx`` of input ``k`` judged on the ladder of steps, as stage 2 judges a
        suspect (to lower their thresholds when a budget leaves calls for it)."""
        lines = ElementLines(state, k, idx, self.rule)
        n = lines.count
        evals = {m: lines.at(m, np.arange(n)) for m in self.first}
        noise = state.noise(lines.inputs)
        numeric, err, noisy = self.stage1(lines, evals, state.scales.f0, noise)
        floor = state.floor(k, state.grads[k].reshape(-1)[idx])
        # stage 1's estimate counts as one of the two a mismatch needs, and as one the
        # detection bound must get past (``_Estimates.detectable``)
        mine = (numeric, err, state.tol.threshold(numeric, err, floor, user=False))
        v = refine(
            state, lines, np.arange(n), evals, floor, noise, np.zeros(n, bool), noisy, True, mine
        )
        _excuse(state, lines, v.numeric, v.analytic, v.threshold, v.status)
        return v

    def direction(
        self, state: CheckState, ks: Sequence[int], scaled: dict[int, F64], floor: F64
    ) -> Verdicts:
        return self.judge(state, DirectionLine(state, ks, scaled, self.rule), floor)


def _excuse(
    state: CheckState,
    lines: Line,
    numeric: F64,
    analytic: F64,
    thr: F64,
    status: NDArray[np.int8],
    user: bool = True,
) -> None:
    """Mismatches within ``FLOOR_T * eps`` times the function's terms per unit of the line
    (``Line.terms``) of their threshold, in place: no mismatch, their threshold widened by that
    much, and unverified unless it is still tight against their value. Where that falls short,
    the terms the backward pass sums into the line's derivative (``Line.backward_terms``, one
    more backward pass) are added.

    A rounding of the backward pass that no move of the point changes (a sum that cancels the
    same terms at every point: the bias gradient ``sum(dout)`` of a layer whose output is the
    bias, in float32) escapes the measured rounding of the analytic gradient; it is at most of
    that size. When every term of the value is 0 (weights and bias 0), only the backward
    pass's own terms (``sum |dout|`` for that bias) say how large it may be. It only excuses a
    mismatch: it does not make a line verified. Where the caller's ``rtol``/``atol`` decide
    (``user``), they stand as given.
    """
    tol = state.tol
    if user and (tol.rtol is not None or tol.atol is not None):
        return
    bad = status == Status.MISMATCH
    if not bad.any():
        return
    sel = np.flatnonzero(bad)
    gap = np.abs(analytic[sel] - numeric[sel])
    wider = thr[sel] + FLOOR_T * state.scales.eps * lines.terms(sel)
    if not (gap <= wider).all():  # one more backward pass, only where the terms fall short
        wider = wider + FLOOR_T * state.scales.eps * lines.backward_terms(sel)
    excused = gap <= wider
    if not excused.any():
        return
    sel, wider = sel[excused], wider[excused]
    thr[sel] = wider
    ok = verified(wider, analytic[sel], numeric[sel], lines.scale, np.zeros(len(sel), bool))
    status[sel] = np.where(ok, Status.OK, Status.UNVERIFIED)


class Central(FiniteDifference):
    """Central differences at step ``h``, 2 calls per element."""

    name = "central"
    calls_per_element = 2
    calls_per_direction = 2
    first = (1.0,)
    rule = CENTRAL

    def stage1(
        self, lines: Line, evals: dict[float, Eval], f0: float, noise: float
    ) -> tuple[F64, F64, NDArray[np.bool_]]:
        return central(evals[1.0], f0, lines.length, noise)


class Richardson(FiniteDifference):
    """Richardson extrapolation from steps ``h`` and ``2h``, 4 calls per element.

    Extrapolation amplifies noise, so its steps follow a rule of its own (truncation of order 4),
    larger than those of central differences.
    """

    name = "richardson"
    calls_per_element = 4
    calls_per_direction = 4
    first = (1.0, 2.0)
    rule = RICHARDSON

    def stage1(
        self, lines: Line, evals: dict[float, Eval], f0: float, noise: float
    ) -> tuple[F64, F64, NDArray[np.bool_]]:
        return extrapolated(evals[1.0], evals[2.0], lines.length, noise)


class ComplexStep(Method):
    """The complex step ``Im f(x + ih) / h``, exact to rounding, 1 call per element.

    Its error model (a few hundred ulps of the derivative and of the input's largest gradient)
    assumes the imaginary parts are computed to a few ulps of themselves. A forward pass that
    cancels them, or absorbs them into larger ones (the log-sum-exp of a confident softmax less
    its picked score), loses more, and the analytic gradient's own rounding may exceed its
    model. So a residual over the threshold is measured again at ``2 * NEARBY_PAIRS`` points
    nearby (every checked input moved by ``+-sqrt(eps)`` of its scale, random signs), each with
    its own backward pass and its own multiple of the step (``NEARBY_STEPS``: where an absorbed
    imaginary part falls between ulps moves with the step): a wrong gradient leaves the same
    residual at every point, rounding scatters it. The line stays a mismatch where its residual
    exceeds its threshold widened by ``NEARBY_C`` times the residuals' spread. A complex step of
    exactly 0 against a nonzero gradient takes central differences' verdict (``_replace``).
    """

    name = "complex"
    calls_per_element = 1
    calls_per_direction = 1

    def prepare(self, state: CheckState) -> None:
        """Complex copies of the inputs, the step, and a guard along one random direction."""
        low = [state.names[k] for k in state.wrt if is_low_precision(state.work[k].dtype)]
        if low:
            raise ComplexStepError(
                f"method='complex' evaluates in complex64 at least, not in the precision of "
                f"{low} ({state.work[state.names.index(low[0])].dtype}); check them in their own "
                "precision with method='central' or 'richardson'"
            )
        # every real floating input becomes complex, checked or not, so that the function sees
        # one consistent dtype; other inputs (labels, flags) are passed unchanged
        self.cwork: Arrays = [
            w.astype(np.result_type(w.dtype, np.complex64)) if _floating(w) else w
            for w in state.work
        ]
        self.tau_c = 1e-20 if state.scales.eps < 1e-10 else 1e-10
        self._nearby: list[tuple[Arrays, dict[int, F64]]] | None = None
        # the imaginary parts are no more precise than the smallest subnormal number: with tiny
        # derivatives (1e-300) they underflow and lose relative precision
        self.subnormal = max(
            float(np.finfo(self.cwork[k].dtype).smallest_subnormal) for k in state.wrt
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            try:
                v = state.ev.objective(self.cwork)
            except GradcheckError:
                raise
            except Exception as exc:
                raise ComplexStepError(
                    f"method='complex' needs a function that accepts complex input, but it raised "
                    f"{type(exc).__name__}: {exc}. Use method='central', or keep the forward pass "
                    "free of abs, maximum, comparisons and float casts"
                ) from exc
        state.ev.calls += 1
        if not np.iscomplexobj(v):
            raise ComplexStepError(
                "method='complex': given complex inputs the function returned a real value, so "
                "it discards the imaginary part (a float cast, np.real or abs?); use "
                "method='central'"
            )
        # one random direction: the complex step and (confirmed) central differences must agree
        u = state.direction(state.wrt)
        scaled = {k: u[k] * state.xscale(k) for k in state.wrt}
        cplus, scaled = self.step(state.wrt, scaled)
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            vc = state.ev.value(cplus, "at a complex-step point")
        cs = float(np.imag(vc)) / self.tau_c
        gmag = sum(float(np.sum(np.abs(state.grads[k] * scaled[k]))) for k in state.wrt)
        floor = np.array([FLOOR_C * state.scales.eps * (abs(cs) + gmag)])
        line = DirectionLine(state, state.wrt, scaled, CENTRAL, slope=cs)
        verdict = Central().judge(state, line, floor, user=False)
        if verdict.status[0] == Status.MISMATCH:
            raise ComplexStepError(
                f"method='complex': along a random direction the complex step gives {cs:.6g} "
                f"but central differences give {verdict.numeric[0]:.6g} (error estimate "
                f"{verdict.error_estimate[0]:.3g}); the function is not complex-step safe (abs, "
                "maximum, comparisons or conjugation on complex values in its forward pass). "
                "Use method='central'"
            )

    def step(self, ks: Sequence[int], scaled: dict[int, F64]) -> tuple[Arrays, dict[int, F64]]:
        """The complex inputs stepped by ``i tau_c scaled``, in their own dtype (complex64 stays
        complex64), and the step actually represented there, divided by ``tau_c``."""
        arrays = list(self.cwork)
        actual = {}
        for k in ks:
            c = self.cwork[k]
            arrays[k] = (c + 1j * self.tau_c * scaled[k]).astype(c.dtype)
            actual[k] = (arrays[k].imag - c.imag).astype(np.float64) / self.tau_c
        return arrays, actual

    def elements(self, state: CheckState, k: int, idx: NDArray[np.intp]) -> Verdicts:
        a = state.grads[k].reshape(-1)[idx]
        h = self.tau_c * state.xscale(k).reshape(-1)[idx]
        cx = self.cwork[k].reshape(-1)[idx]
        probes = [(k, int(j), v) for j, v in zip(idx, cx + 1j * h, strict=True)]
        values = state.ev.probes(probes, self.cwork)
        numeric = np.imag(values).astype(np.float64) / h
        eps = state.scales.eps
        err = CS_C * (eps * (np.abs(numeric) + state.scales.gscale[k]) + self.subnormal / h)
        err += FLOOR_T * eps * state.terms(k)
        floor = state.floor(k, a)
        thr = state.tol.threshold(numeric, err, floor)
        bad = np.abs(a - numeric) > thr
        if bad.any():  # before declaring: is it the analytic gradient's own rounding, or the
            # complex step's (the forward pass's rounding per unit of the input, ``CS_NOISE``)?
            xs = state.xscale(k).reshape(-1)[idx[bad]]
            floor[bad] += FLOOR_A * state.analytic_noise(k)[idx[bad]] + CS_NOISE * (
                state.noise([k]) / xs
            )
            thr[bad] = state.tol.threshold(numeric[bad], err[bad], floor[bad])
            bad = np.abs(a - numeric) > thr
        if bad.any():  # is the residual the same nearby, or is it rounding?
            sel = np.flatnonzero(bad)
            js, hs = idx[sel], h[sel]

            def residuals(cwork: Arrays, grads: dict[int, F64], factor: float) -> F64:
                cx, hf = cwork[k].reshape(-1)[js], hs * factor
                near = [(k, int(j), v) for j, v in zip(js, cx + 1j * hf, strict=True)]
                values = state.ev.probes(near, cwork, tolerant=True)
                out: F64 = grads[k].reshape(-1)[js] - np.imag(values).astype(np.float64) / hf
                return out

            err[sel] += NEARBY_C * self._spread(state, (a - numeric)[sel], residuals)
            thr[sel] = state.tol.threshold(numeric[sel], err[sel], floor[sel])
            bad = np.abs(a - numeric) > thr
        status = np.where(bad, Status.MISMATCH, Status.OK).astype(np.int8)
        out = Verdicts(numeric, a, err, thr, status)
        silent = np.flatnonzero(bad & (numeric == 0))
        if silent.size:
            _replace(out, silent, Central().elements(state, k, idx[silent]))
            state.notes.append(_silent_note(f"{silent.size} element(s) of {state.names[k]!r}"))
        return out

    def _spread(
        self,
        state: CheckState,
        resid: F64,
        residuals: Callable[[Arrays, dict[int, F64], float], F64],
    ) -> F64:
        """The sample standard deviation of each line's residual ``resid`` and its residuals
        at the nearby points (``residuals(complex arrays, gradients, step factor)`` of a point,
        each with its own step, ``NEARBY_STEPS`` times the check's); zero where a point gives
        no finite value (the line then stays as it was)."""
        points = self.nearby(state)
        rows = [resid] + [
            residuals(cwork, grads, f)
            for (cwork, grads), f in zip(points, NEARBY_STEPS, strict=True)
        ]
        table = np.array(rows)
        spread: F64 = np.std(table, axis=0, ddof=1)
        spread[~np.isfinite(spread)] = 0.0
        return spread

    def nearby(self, state: CheckState) -> list[tuple[Arrays, dict[int, F64]]]:
        """The points nearby (computed once per check): every checked input moved by
        ``+-sqrt(eps)`` of its scale with random signs, as complex arrays, and the analytic
        gradients there (one backward pass each)."""
        if self._nearby is None:
            rng = stream(state.opts.seed, "nearby", state.names)
            self._nearby = []
            for _ in range(NEARBY_PAIRS):
                moves = {
                    k: math.sqrt(float(np.finfo(state.work[k].dtype).eps))
                    * rng.choice([-1.0, 1.0], size=state.work[k].shape)
                    * state.xscale(k).reshape(state.work[k].shape)
                    for k in state.wrt
                }
                for sign in (1.0, -1.0):
                    real = list(state.work)
                    for k in state.wrt:
                        real[k] = (state.work[k] + sign * moves[k]).astype(state.work[k].dtype)
                    cwork = [
                        r.astype(c.dtype) if _floating(r) else c
                        for r, c in zip(real, self.cwork, strict=True)
                    ]
                    self._nearby.append((cwork, state.ev.gradients_at(real, state.wrt)))
        return self._nearby

    def direction(
        self, state: CheckState, ks: Sequence[int], scaled: dict[int, F64], floor: F64
    ) -> Verdicts:
        arrays, scaled = self.step(ks, scaled)
        gmag = sum(float(np.sum(np.abs(state.grads[k] * scaled[k]))) for k in ks)
        v = state.ev.value(arrays, "along a random direction (complex step)")
        numeric = np.array([float(np.imag(v)) / self.tau_c])
        analytic = np.array([sum(float(np.sum(state.grads[k] * scaled[k])) for k in ks)])
        eps = state.scales.eps
        err = CS_C * (eps * (np.abs(numeric) + gmag) + self.subnormal / self.tau_c)
        terms = sum(state.terms(k) * float(np.sum(np.abs(scaled[k]))) for k in ks)
        err += FLOOR_T * eps * terms
        thr = state.tol.threshold(numeric, err, floor)
        bad = abs(analytic[0] - numeric[0]) > thr[0]
        if bad:  # before declaring: is it the analytic gradient's own rounding?
            noise = sum(
                float(np.sum(state.analytic_noise(k) * np.abs(scaled[k]).reshape(-1))) for k in ks
            )
            forward = state.noise(ks) * sum(
                float(np.sum(np.abs(scaled[k]) / state.xscale(k))) for k in ks
            )
            thr = state.tol.threshold(numeric, err, floor + FLOOR_A * noise + CS_NOISE * forward)
            bad = abs(analytic[0] - numeric[0]) > thr[0]
        if bad:

            def residuals(cwork: Arrays, grads: dict[int, F64], factor: float) -> F64:
                stepped, tau, a = list(cwork), self.tau_c * factor, 0.0
                for k in ks:
                    c = cwork[k]
                    stepped[k] = (c + 1j * tau * scaled[k]).astype(c.dtype)
                    actual = (stepped[k].imag - c.imag).astype(np.float64) / tau
                    a += float(np.sum(grads[k] * actual))
                v = state.ev.value(stepped, "near a random direction (complex step)", tolerant=True)
                return np.array([a - float(np.imag(v)) / tau])

            err += NEARBY_C * self._spread(state, analytic - numeric, residuals)
            thr = state.tol.threshold(numeric, err, floor)
            bad = abs(analytic[0] - numeric[0]) > thr[0]
        status = np.array([Status.MISMATCH if bad else Status.OK], dtype=np.int8)
        out = Verdicts(numeric, analytic, err, thr, status)
        if bad and numeric[0] == 0:
            _replace(out, np.array([0]), Central().direction(state, ks, scaled, floor))
            names = ", ".join(repr(state.names[k]) for k in ks)
            state.notes.append(_silent_note(f"a direction over {names}"))
        return out


def _silent_note(what: str) -> str:
    return (
        f"complex step: {what} gave an imaginary part of exactly 0 (a real buffer, abs() or a "
        "comparison drops it, or it is absorbed whole); judged by central differences"
    )


def _replace(out: Verdicts, sel: NDArray[np.intp], central: Verdicts) -> None:
    """Lines ``sel`` of the complex step's verdicts ``out`` replaced by central differences'
    verdicts ``central`` on them, in place.

    For lines where the complex step gives exactly 0 against a nonzero analytic value, still a
    mismatch after the nearby points: either no imaginary part reaches the value (the function
    does not depend on the element; the gradient is wrong) or the imaginary parts are absorbed
    whole into larger ones (the log-sum-exp of a saturated softmax, whose value rounds to
    exactly 0). Central differences tell them apart: a flat function stays flat under every
    spacing of their noise measurement, an absorbed one moves by its rounding, and the line is
    left unverified.
    """
    for field in ("numeric", "analytic", "error_estimate", "threshold", "status"):
        getattr(out, field)[sel] = getattr(central, field)


def _floating(w: object) -> bool:
    return isinstance(w, np.ndarray) and is_float(w.dtype)


#: the numerical methods by public name
METHODS: dict[str, type[Method]] = {m.name: m for m in (Central, Richardson, ComplexStep)}
