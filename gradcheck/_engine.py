"""The checking engine: steps, finite differences, error estimates, verdicts and modes.

Everything here works on a scalar objective ``f(arrays)`` (see ``_objective``) and the analytic
gradients it returned at the unperturbed point. A *line* is a direction along which the derivative
is compared: a single element (element-wise modes) or a random direction (directional modes).

Numerics, for a line with nominal step ``h`` (``tau * max(1, |x|)`` for an element):

stage 1
    central differences ``D(h) = (f(x+h) - f(x-h)) / ((x+h) - (x-h))`` dividing by the step actually
    representable; error estimate ``e1 = 2 * noise / denom + tau * |f(x+h) - 2 f(x) + f(x-h)| /
    (3 denom)`` (rounding plus a curvature proxy for truncation). With ``method="richardson"`` the
    extrapolation from steps ``h`` and ``2h``, with the difference of the two as error estimate;
    with ``method="complex"``, ``Im f(x + ih) / h``, exact up to rounding.
stage 2 (confirmation)
    a line whose residual ``|analytic - numeric|`` exceeds ``safety * e1 + floor`` is not yet
    declared a mismatch: it is re-evaluated at ``2h`` and ``4h``, two Richardson extrapolations
    are formed, their disagreement plus the measured noise level becomes the error estimate, and
    the one-sided differences at ``h`` and ``4h`` tell a kink (a jump that does not shrink with
    the step) from a wrong gradient.

``noise`` is first ``2 * eps * M`` (``M`` the magnitude of the terms summed into the objective);
before any confirmation it is measured (Moré and Wild's ECnoise: high-order differences of 8
evaluations along a random direction), never below half an ulp of ``M``.
"""

from __future__ import annotations

import math
import pickle
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._annotations import Annotation
from ._diagnose import diagnose
from ._errors import (
    ComplexStepError,
    GradcheckError,
    InputMutationError,
    InvalidArgumentError,
    InvalidGradientError,
    NondeterminismError,
    NonFiniteError,
    UserCodeError,
)
from ._objective import Arrays, Base
from ._result import CheckResult, DirectionCheck, ElementCheck, InputResult, Status

F64 = NDArray[np.float64]

#: rounding noise of one evaluation, before it is measured: NOISE_C * eps * magnitude
NOISE_C = 2.0
#: floor of every threshold: FLOOR_C * eps * (|analytic| + gradient scale of the input + size of f)
#: (the last term bounds the rounding of a backward pass whose adjoints are larger than the
#: gradients checked, e.g. through a saturated tanh, where 1 - tanh**2 keeps few digits)
FLOOR_C = 64.0
#: complex step error estimate: CS_C * eps * (|numeric| + largest |analytic| of the input)
CS_C = 256.0
#: one-sided jump at h over jump at 4h above this ratio (1/4 for a smooth function) is a kink
KINK_RATIO = 0.5
#: calls per element of the full mode, by method
CALLS_PER_ELEMENT = {"central": 2, "richardson": 4, "complex": 1}


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
    annotations: Mapping[str, Annotation] = field(default_factory=dict)
    nondet_tol: float = 0.0
    progress: Callable[[int, int], None] | None = None

    def public(self) -> dict[str, object]:
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


# --------------------------------------------------------------------------------------------
# evaluation of element probes (shared by the local loop and executor workers)


def _eval_probes(
    objective: Callable[[Arrays], complex],
    arrays: Arrays,
    probes: Sequence[tuple[int, int, Any]],
    names: Sequence[str],
) -> list[complex]:
    """Evaluate ``objective`` with element ``j`` of input ``k`` set to ``value``, for each probe.

    The element is restored bit for bit after each evaluation, also when the objective raises.
    """
    flats = [a.reshape(-1) for a in arrays]
    values: list[complex] = []
    for k, j, value in probes:
        flat = flats[k]
        old = flat[j]
        flat[j] = value
        try:
            v = objective(arrays)
        except GradcheckError:
            raise
        except Exception as exc:
            where = _where(names[k], arrays[k].shape, j, value, old)
            raise UserCodeError(
                f"the function raised {type(exc).__name__}: {exc} (evaluated at {where})",
                during=f"perturbed evaluation at {where}",
            ) from exc
        finally:
            flat[j] = old
        if not np.isfinite(v):
            where = _where(names[k], arrays[k].shape, j, value, old)
            raise NonFiniteError(
                f"the function returned {v} at {where}; the step left the region where it is "
                "finite (a log or division near a singularity?)"
            )
        values.append(v)
    return values


def _where(name: str, shape: tuple[int, ...], j: int, value: Any, old: Any) -> str:
    index = tuple(int(i) for i in np.unravel_index(j, shape)) if shape else ()
    delta = value - old
    return f"{name}{list(index)} {'+' if np.real(delta) >= 0 else '-'} {abs(delta):.3g}" + (
        "i" if np.iscomplexobj(delta) else ""
    )


# --------------------------------------------------------------------------------------------
# numerics on arrays of lines


def _richardson(r1: F64, r2: F64, s1: F64, s2: F64) -> F64:
    """Eliminate the ``s**2`` term from two estimates at half-steps ``s1 < s2``."""
    w1, w2 = s2 * s2, s1 * s1
    out: F64 = (w1 * r1 - w2 * r2) / (w1 - w2)
    return out


def _ecnoise(values: F64) -> float:
    """Noise level of a function from evaluations at equally spaced points (Moré and Wild).

    Returns the standard deviation of the noise estimated from the first difference order whose
    level agrees with the next two orders (within a factor 4) and changes sign; when no order
    qualifies, the largest level of orders 3 to 6 (conservative).
    """
    levels = []
    signs = []
    diff = values.astype(np.float64)
    for order in range(1, len(values)):
        diff = np.diff(diff)
        gamma = math.factorial(order) ** 2 / math.factorial(2 * order)
        levels.append(math.sqrt(gamma * float(np.mean(diff**2))))
        signs.append(bool(np.any(diff > 0) and np.any(diff < 0)))
    for i in range(1, len(levels) - 2):
        window = levels[i : i + 3]
        if min(window) > 0 and max(window) <= 4 * min(window) and signs[i]:
            return levels[i]
    return max(levels[2:6])


@dataclass
class _Lines:
    """Candidates of one input (element lines) or one direction, with their stage results."""

    numeric: F64
    analytic: F64
    error_estimate: F64
    threshold: F64
    status: NDArray[np.int8]


# --------------------------------------------------------------------------------------------
# the engine


class Engine:
    """Runs one check. Create, call :meth:`run`, get a :class:`CheckResult`."""

    def __init__(
        self,
        objective: Any,
        names: Sequence[str],
        arrays: Sequence[NDArray[Any]],
        wrt: Sequence[int],
        options: Options,
    ) -> None:
        self.objective = objective
        self.names = tuple(names)
        self.wrt = tuple(wrt)
        self.opts = options
        self.work: Arrays = [np.array(a, copy=True, order="C") for a in arrays]
        self.pristine = [w.copy() for w in self.work]
        self.calls = 0
        self.backward_calls = 0
        self.notes: list[str] = []
        self.rng = np.random.default_rng(options.seed)
        self.noise_measured: dict[object, float] = {}
        self.planned = 0
        self._xscales: dict[int, F64] = {}

    # ---- basic evaluations -------------------------------------------------------------------

    def _mutation_check(self, during: str) -> None:
        changed = tuple(
            self.names[k]
            for k in range(len(self.work))
            if self.work[k].tobytes() != self.pristine[k].tobytes()  # bit for bit
        )
        if changed:
            for k in range(len(self.work)):
                np.copyto(self.work[k], self.pristine[k])
            raise InputMutationError(
                f"{during} changed its input(s) {list(changed)} in place; a function under a "
                "gradient check must not modify its inputs (copy them first)",
                names=changed,
                during=during,
            )

    def _eval(self, arrays: Arrays, where: str) -> complex:
        try:
            v: complex = self.objective(arrays)
        except GradcheckError:
            raise
        except Exception as exc:
            raise UserCodeError(
                f"the function raised {type(exc).__name__}: {exc} (evaluated {where})",
                during=f"evaluation {where}",
            ) from exc
        self.calls += 1
        if not np.isfinite(v):
            raise NonFiniteError(f"the function returned {v} {where}")
        return v

    def _eval_elements(self, probes: list[tuple[int, int, Any]], arrays: Arrays) -> NDArray[Any]:
        executor = self.opts.executor
        if executor is not None and len(probes) >= 8:
            values = self._eval_parallel(executor, probes, arrays)
            self.calls += len(probes)
            self._progress()
        elif self.opts.progress is None:
            values = _eval_probes(self.objective, arrays, probes, self.names)
            self.calls += len(probes)
        else:
            values = []
            for lo in range(0, len(probes), 64):
                chunk = probes[lo : lo + 64]
                values += _eval_probes(self.objective, arrays, chunk, self.names)
                self.calls += len(chunk)
                self._progress()
        return np.asarray(values)

    def _progress(self) -> None:
        if self.opts.progress is not None:
            self.planned = max(self.planned, self.calls)
            self.opts.progress(self.calls, self.planned)

    def _eval_parallel(
        self, executor: Executor, probes: list[tuple[int, int, Any]], arrays: Arrays
    ) -> list[complex]:
        workers = int(getattr(executor, "_max_workers", 0) or 2)
        bounds = _guided_chunks(len(probes), workers)
        futures: list[Future[list[complex]]] = [
            executor.submit(_eval_probes, self.objective, arrays, probes[lo:hi], self.names)
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        try:
            values: list[complex] = []
            for fut in futures:
                values.extend(fut.result())
            return values
        finally:
            for fut in futures:
                fut.cancel()

    # ---- entry -------------------------------------------------------------------------------

    def run(self) -> CheckResult:
        t0 = time.perf_counter()
        base = self.objective.base(self.work, self._mutation_check)
        self.calls += 1
        self.backward_calls += 1
        self.grads = self._validate_grads(base.grads)
        self.f0 = base.value
        again = self._eval(self.work, "a second time at the unperturbed inputs")
        self._mutation_check("the second evaluation")
        diff = abs(complex(again) - self.f0)
        if diff > self.opts.nondet_tol:
            raise NondeterminismError(
                f"the function is not deterministic: two evaluations at the same inputs gave "
                f"{self.f0!r} and {float(np.real(again))!r} (difference {diff:.3g}); finite "
                "differences would measure this noise, not the gradient. Fix the randomness "
                "(seed it inside the function) or pass nondet_tol=... to accept it",
                difference=diff,
            )

        dtypes = [self.work[k].dtype for k in self.wrt] + list(base.out_dtypes)
        self.eps = max(float(np.finfo(dt).eps) for dt in dtypes)
        self.tau = self.eps ** (1 / 3)
        # rounding noise of one evaluation, before it is measured: relative to the magnitude of
        # the terms summed into the value, not to the value itself, which may cancel to near 0;
        # sum |g_j x_j| (the size of the first-order terms) stands in for it when the function
        # does not expose its terms
        linear = sum(
            float(np.sum(np.abs(self.grads[k] * self.work[k].astype(np.float64)))) for k in self.wrt
        )
        self.fscale = max(base.magnitude, abs(self.f0), linear)
        self.noise_guess = NOISE_C * self.eps * self.fscale
        # gradient scale of each input for the threshold floor: its largest |analytic|, but at
        # least a typical gradient of the whole check (the median of those maxima, or the root
        # mean square of all gradient elements): rounding in a backward pass is relative to the
        # adjoints flowing through it, not to the final value of a small gradient
        largest = {k: float(np.max(np.abs(self.grads[k]))) for k in self.wrt}
        count = sum(self.grads[k].size for k in self.wrt)
        rms = math.sqrt(sum(float(np.sum(self.grads[k] ** 2)) for k in self.wrt) / count)
        typical = max(float(np.median(list(largest.values()))), rms)
        self.gscale = {k: max(g, typical) for k, g in largest.items()}

        if self.opts.method == "complex":
            self._setup_complex()

        self.elements: dict[int, _ElementState] = {}
        self.directions: dict[int, list[DirectionCheck]] = {k: [] for k in self.wrt}
        self.screens: list[DirectionCheck] = []
        mode_used = self._dispatch()
        self.planned = self.calls
        self._progress()
        self._mutation_check("a perturbed evaluation")
        inputs = {self.names[k]: self._input_result(k) for k in self.wrt}
        passed = all(r.passed for r in inputs.values()) and all(d.passed for d in self.screens)
        findings = () if passed else diagnose(inputs)
        noise = max([self.noise_guess, *self.noise_measured.values()])
        return CheckResult(
            passed=passed,
            inputs=inputs,
            method=self.opts.method,
            mode=self.opts.mode,
            mode_used=mode_used,
            calls=self.calls,
            backward_calls=self.backward_calls,
            wall_time=time.perf_counter() - t0,
            noise=noise,
            screens=tuple(self.screens),
            notes=tuple(self.notes),
            options=self.opts.public(),
            findings=findings,
        )

    def _validate_grads(self, grads: list[object]) -> dict[int, F64]:
        n = len(self.names)
        if len(grads) != n:
            raise InvalidGradientError(
                f"the backward pass returned {len(grads)} gradient(s) but there are {n} inputs "
                f"{list(self.names)}; return one gradient per input, in order (None for inputs "
                "that are not checked)"
            )
        out: dict[int, F64] = {}
        for k in self.wrt:
            g, x, name = grads[k], self.work[k], self.names[k]
            if not isinstance(g, np.ndarray):
                raise InvalidGradientError(
                    f"the gradient for {name!r} must be a numpy array of shape {x.shape}, got "
                    f"{type(g).__name__} {g!r}"[:200]
                )
            if g.shape != x.shape:
                raise InvalidGradientError(
                    f"the gradient for {name!r} has shape {g.shape} but {name!r} has shape "
                    f"{x.shape}" + ("; is it transposed?" if g.shape == x.shape[::-1] else "")
                )
            if g.dtype != x.dtype:
                raise InvalidGradientError(
                    f"the gradient for {name!r} has dtype {g.dtype} but {name!r} has dtype "
                    f"{x.dtype}; a gradient must have its input's dtype (a silent up- or "
                    "down-cast in the backward pass?)"
                )
            if not np.all(np.isfinite(g)):
                bad = tuple(int(i) for i in np.argwhere(~np.isfinite(g))[0])
                raise NonFiniteError(
                    f"the gradient for {name!r} contains {g[bad]} at index {list(bad)}"
                )
            out[k] = g.astype(np.float64)
        return out

    # ---- complex step setup ------------------------------------------------------------------

    def _setup_complex(self) -> None:
        import warnings

        # every real floating input becomes complex, checked or not, so that the function sees
        # one consistent dtype; other inputs (labels, flags) are passed unchanged
        self.cwork = [
            w.astype(np.result_type(w.dtype, np.complex64)) if w.dtype.kind == "f" else w
            for w in self.work
        ]
        self.tau_c = 1e-20 if self.eps < 1e-10 else 1e-10
        # the imaginary parts are no more precise than the smallest subnormal number: with tiny
        # derivatives (1e-300) they underflow and lose relative precision
        self.subnormal = max(
            float(np.finfo(w.dtype).smallest_subnormal) for w in self.cwork if w.dtype.kind == "c"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            try:
                v = self.objective(self.cwork)
            except GradcheckError:
                raise
            except Exception as exc:
                raise ComplexStepError(
                    f"method='complex' needs a function that accepts complex input, but it raised "
                    f"{type(exc).__name__}: {exc}. Use method='central', or keep the forward pass "
                    "free of abs, maximum, comparisons and float casts"
                ) from exc
        self.calls += 1
        if not np.iscomplexobj(v):
            raise ComplexStepError(
                "method='complex': given complex inputs the function returned a real value, so "
                "it discards the imaginary part (a float cast, np.real or abs?); use "
                "method='central'"
            )
        # one random direction: the complex step and (confirmed) central differences must agree
        u = self._direction(self.wrt)
        scaled = {k: u[k] * self._xscale(k) for k in self.wrt}
        cplus, scaled = self._complex_step(self.wrt, scaled)
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            vc = self._eval(cplus, "at a complex-step point")
        cs = float(np.imag(vc)) / self.tau_c
        gmag = sum(float(np.sum(np.abs(self.grads[k] * scaled[k]))) for k in self.wrt)
        floor = np.array([FLOOR_C * self.eps * (abs(cs) + gmag)])
        line = _DirectionLine(self, self.wrt, scaled, slope=cs)
        verdict = self._judge(line, floor, user_tolerance=False)
        if verdict.status[0] == Status.MISMATCH:
            raise ComplexStepError(
                f"method='complex': along a random direction the complex step gives {cs:.6g} "
                f"but central differences give {verdict.numeric[0]:.6g} (error estimate "
                f"{verdict.error_estimate[0]:.3g}); the function is not complex-step safe (abs, "
                "maximum, comparisons or conjugation on complex values in its forward pass). "
                "Use method='central'"
            )

    # ---- modes ---------------------------------------------------------------------------------

    def _dispatch(self) -> str:
        mode = self.opts.mode
        total = sum(self.work[k].size for k in self.wrt)
        per = CALLS_PER_ELEMENT[self.opts.method]
        per_direction = 2 if self.opts.method == "central" else per
        if mode in ("full", "auto"):
            self.planned = self.calls + total * per
        if mode == "sample":
            samples = sum(min(self.work[k].size, self.opts.samples) for k in self.wrt)
            self.planned = self.calls + samples * per
        if mode == "directional":
            self.planned = self.calls + len(self.wrt) * self.opts.directions * per_direction
        if mode == "auto" and total * per > self.opts.budget:
            self.planned = self.calls + self.opts.directions * per_direction
        if mode == "auto":
            cost = total * CALLS_PER_ELEMENT[self.opts.method]
            if cost <= self.opts.budget:
                mode = "full"
                self.notes.append(f"auto: {total} elements ({cost} calls) within the budget; full")
            else:
                self.notes.append(
                    f"auto: {total} elements ({cost} calls) over the budget of "
                    f"{self.opts.budget}; directional screen"
                )
                self._auto_screen()
                return "directional"
        if mode == "full":
            for k in self.wrt:
                self._check_elements(k, np.arange(self.work[k].size))
        elif mode == "sample":
            for k in self.wrt:
                self._check_elements(k, self._sample(k))
        else:
            for k in self.wrt:
                self._check_directions(k, self.opts.directions)
        return mode

    def _sample(self, k: int) -> NDArray[np.intp]:
        size = self.work[k].size
        n = min(size, self.opts.samples)
        chosen = {0, size - 1}
        rest = np.setdiff1d(np.arange(size), list(chosen))
        extra = max(0, n - len(chosen))
        picks = self.rng.choice(rest, size=extra, replace=False) if extra else np.zeros(0, int)
        return np.array(sorted(chosen | {int(p) for p in picks})[: max(n, 1)], dtype=np.intp)

    def _auto_screen(self) -> None:
        screens = [self._direction_check(self.wrt) for _ in range(self.opts.directions)]
        self.screens.extend(screens)
        if all(s.status == Status.OK for s in screens):
            return
        # localize: which inputs fail on their own, then which elements
        self.notes.append("auto: the joint screen failed; screening inputs one by one")
        remaining = self.opts.budget
        for k in self.wrt:
            before = self.calls
            self._check_directions(k, self.opts.directions)
            remaining -= self.calls - before
        for k in self.wrt:
            if all(d.status == Status.OK for d in self.directions[k]):
                continue
            size = self.work[k].size
            per = CALLS_PER_ELEMENT[self.opts.method]
            if size * per <= max(remaining, 0):
                before = self.calls
                self._check_elements(k, np.arange(size))
                remaining -= self.calls - before
                self.notes.append(f"auto: {self.names[k]} checked element by element")
            else:
                before = self.calls
                self._bisect(k, max(remaining, 16 * per * self.opts.directions))
                remaining -= self.calls - before

    def _bisect(self, k: int, budget: int) -> None:
        """Group testing: split a failing input in halves, test each with a random direction."""
        size = self.work[k].size
        start = self.calls
        queue: list[tuple[int, int]] = [(0, size // 2), (size // 2, size)]
        leaves: list[NDArray[np.intp]] = []
        while queue and self.calls - start < budget:
            lo, hi = queue.pop(0)
            if hi - lo <= 8:
                leaves.append(np.arange(lo, hi))
                if sum(len(x) for x in leaves) >= 64:
                    break
                continue
            if self._direction_check((k,), block=(lo, hi), record=False).status == Status.OK:
                continue
            mid = (lo + hi) // 2
            queue.extend([(lo, mid), (mid, hi)])
        if leaves:
            self._check_elements(k, np.concatenate(leaves))
        self.notes.append(
            f"auto: {self.names[k]} localized by bisection ({self.calls - start} calls"
            + ("; stopped at the budget" if queue else "")
            + ")"
        )

    # ---- lines: the shared numerics of element-wise and directional checks ---------------------

    def _threshold(self, numeric: F64, err: F64, floor: F64, user: bool = True) -> F64:
        if user and (self.opts.atol is not None or self.opts.rtol is not None):
            out: F64 = (self.opts.atol or 0.0) + (self.opts.rtol or 0.0) * np.abs(numeric)
            return out
        thr: F64 = self.opts.safety * err + floor
        return thr

    def _judge(self, lines: _Line, floor: F64, user_tolerance: bool = True) -> _Lines:
        """Stage 1 on every line, stage 2 (confirmation) on the lines stage 1 flagged.

        ``user_tolerance=False`` ignores the caller's rtol/atol (for internal consistency checks).
        """
        n = lines.count
        everything = np.arange(n)
        # central: steps h; richardson: steps 2h and 4h (extrapolation amplifies noise, so it
        # works on larger steps, where the h**2 term it removes is also larger)
        first = (2.0, 4.0) if self.opts.method == "richardson" else (1.0,)
        evals = {m: lines.at(m, everything) for m in first}

        def stage1(noise: float) -> tuple[F64, F64, F64, F64]:
            fp, fm, dp, dm, a1 = evals[first[0]]
            r1 = (fp - fm) / (dp + dm) - a1
            if len(first) == 2:
                fp2, fm2, dp2, dm2, a2 = evals[first[1]]
                resid = _richardson(r1, (fp2 - fm2) / (dp2 + dm2) - a2, dp, dp2)
                err = np.abs(resid - r1) + 1.5 * noise / dp
            else:
                resid = r1
                curvature = self.tau * np.abs(fp - 2 * self.f0 + fm) / (3 * (dp + dm))
                err = noise / dp + curvature
            numeric = a1 + resid
            return numeric, err, self._threshold(numeric, err, floor, user_tolerance), a1

        numeric, err, thr, analytic = stage1(self.noise_guess)
        flagged = np.abs(analytic - numeric) > thr
        if flagged.sum() > max(4, 0.02 * n):
            # many candidates: the noise guess may be low; measure it and judge again
            measured = lines.noise(flagged)
            if measured > self.noise_guess:
                numeric, err, thr, analytic = stage1(measured)
                flagged = np.abs(analytic - numeric) > thr
        status = np.full(n, Status.OK, dtype=np.int8)
        if flagged.any():
            sel = np.flatnonzero(flagged)
            sub: dict[float, _Eval] = {
                m: (e[0][sel], e[1][sel], e[2][sel], e[3][sel], e[4][sel]) for m, e in evals.items()
            }
            for m in (1.0, 2.0, 4.0):
                if m not in sub:
                    sub[m] = lines.at(m, sel)
            verdict = self._stage2(sub, floor[sel], lines.noise(flagged), user_tolerance)
            numeric[sel], err[sel], thr[sel], status[sel], analytic[sel] = verdict
        return _Lines(numeric, analytic, err, thr, status)

    def _stage2(
        self, evals: dict[float, _Eval], floor: F64, noise: float, user_tolerance: bool = True
    ) -> tuple[F64, F64, F64, NDArray[np.int8], F64]:
        """Richardson over steps h, 2h, 4h on the residual; kink test on one-sided slopes.

        The numeric value is the extrapolation from ``2h`` and ``4h`` (least noise; its ``h**4``
        truncation is negligible at these steps); the error estimate is its disagreement with the
        extrapolation from ``h`` and ``2h`` plus the measured noise amplified by the extrapolation.
        A line whose one-sided slopes differ by a jump that does not shrink with the step is a
        kink when the analytic value lies between them, and a mismatch otherwise.
        """
        r: dict[float, F64] = {}
        s: dict[float, F64] = {}
        jump: dict[float, F64] = {}
        for m, (fp, fm, dp, dm, a) in evals.items():
            s[m] = (dp + dm) / 2
            r[m] = (fp - fm) / (dp + dm) - a
            jump[m] = (fp - self.f0) / dp - (self.f0 - fm) / dm
        r_lo = _richardson(r[1.0], r[2.0], s[1.0], s[2.0])
        r_hi = _richardson(r[2.0], r[4.0], s[2.0], s[4.0])
        fp, fm, dp, dm, analytic = evals[1.0]
        numeric = analytic + r_hi
        err = np.abs(r_lo - r_hi) + 1.5 * noise / s[2.0]
        thr = self._threshold(numeric, err, floor, user_tolerance)
        # one-sided slopes at h, and extrapolated to a zero step (removes their O(h) truncation)
        fp2, fm2, dp2, dm2, _ = evals[2.0]
        up, down = (fp - self.f0) / dp, (self.f0 - fm) / dm
        up0 = 2 * up - (fp2 - self.f0) / dp2
        down0 = 2 * down - (self.f0 - fm2) / dm2
        lo = np.minimum.reduce([up, down, up0, down0])
        hi = np.maximum.reduce([up, down, up0, down0])
        slope_noise = max(noise, self.noise_guess)
        slope_tol = self.opts.safety * 4 * slope_noise / s[1.0] + floor
        kinky = (np.abs(jump[1.0]) > KINK_RATIO * np.abs(jump[4.0])) & (
            np.abs(jump[1.0]) > 16 * slope_noise / s[1.0] + floor
        )
        within = (analytic >= lo - slope_tol) & (analytic <= hi + slope_tol)
        bad = np.abs(r_hi) > thr
        status = np.where(
            kinky,
            np.where(within, Status.KINK, Status.MISMATCH),
            np.where(bad, Status.MISMATCH, Status.OK),
        ).astype(np.int8)
        # at a kink the two-sided estimate is meaningless: report the nearer one-sided slope
        nearest = np.where(np.abs(analytic - up) <= np.abs(analytic - down), up, down)
        numeric = np.where(kinky, nearest, numeric)
        err = np.where(kinky, slope_tol, err)
        thr = np.where(kinky, slope_tol, thr)
        return numeric, err, thr, status, analytic

    def _ecnoise(self, arrays_at: Callable[[int], Arrays]) -> float:
        """Noise level from 8 evaluations at equally spaced points ``arrays_at(1..8)``."""
        values = [self.f0]
        for i in range(1, 9):
            values.append(
                float(np.real(self._eval(arrays_at(i), "while measuring the noise level")))
            )
        # never below the rounding of the value itself (half an ulp of the largest term summed):
        # a function whose values happen to fall on an exact pattern shows no noise in 9 points
        measured = 3 * _ecnoise(np.array(values))
        return max(measured, float(self.noise_guess / (2 * NOISE_C)))

    # ---- element-wise checks -----------------------------------------------------------------

    def _floor(self, k: int, a: F64) -> F64:
        out: F64 = FLOOR_C * self.eps * (np.abs(a) + self.gscale[k] + self.fscale)
        return out

    def _check_elements(self, k: int, idx: NDArray[np.intp]) -> None:
        if len(idx) == 0:
            return
        a = self.grads[k].reshape(-1)[idx]
        if self.opts.method == "complex":
            lines = self._complex_elements(k, idx, a)
        else:
            lines = self._judge(_ElementLines(self, k, idx), self._floor(k, a))
        state = self.elements.setdefault(k, _ElementState.empty(self.work[k].size))
        state.store(idx, lines)

    def _complex_elements(self, k: int, idx: NDArray[np.intp], a: F64) -> _Lines:
        xf = np.real(self.work[k].reshape(-1)[idx]).astype(np.float64)
        h = self.tau_c * np.maximum(1.0, np.abs(xf))
        cx = self.cwork[k].reshape(-1)[idx]
        probes = [(k, int(j), v) for j, v in zip(idx, cx + 1j * h, strict=True)]
        values = self._eval_elements(probes, self.cwork)
        numeric = np.imag(values).astype(np.float64) / h
        err = CS_C * (self.eps * (np.abs(numeric) + self.gscale[k]) + self.subnormal / h)
        thr = self._threshold(numeric, err, self._floor(k, a))
        status = np.where(np.abs(a - numeric) > thr, Status.MISMATCH, Status.OK).astype(np.int8)
        return _Lines(numeric, a, err, thr, status)

    # ---- directional checks ------------------------------------------------------------------

    def _direction(self, ks: Sequence[int], block: tuple[int, int] | None = None) -> dict[int, F64]:
        spans = [block if block is not None else (0, self.work[k].size) for k in ks]
        # one draw for all inputs: the same numbers as one draw per input, in order
        draw = self.rng.standard_normal(sum(hi - lo for lo, hi in spans))
        draw /= math.sqrt(float(np.dot(draw, draw)))
        u = {}
        at = 0
        for k, (lo, hi) in zip(ks, spans, strict=True):
            if (lo, hi) == (0, self.work[k].size):
                u[k] = draw[at : at + hi - lo].reshape(self.work[k].shape)
            else:
                v = np.zeros(self.work[k].size)
                v[lo:hi] = draw[at : at + hi - lo]
                u[k] = v.reshape(self.work[k].shape)
            at += hi - lo
        return u

    def _xscale(self, k: int) -> F64:
        """``max(1, |x|)`` of input ``k``: the scale of its steps (computed once)."""
        if k not in self._xscales:
            self._xscales[k] = np.maximum(1.0, np.abs(self.work[k]))
        return self._xscales[k]

    def _complex_step(
        self, ks: Sequence[int], scaled: dict[int, F64]
    ) -> tuple[Arrays, dict[int, F64]]:
        """The complex inputs stepped by ``i tau_c scaled``, in their own dtype (complex64 stays
        complex64), and the step actually represented there, divided by ``tau_c``."""
        arrays = list(self.cwork)
        actual = {}
        for k in ks:
            c = self.cwork[k]
            arrays[k] = (c + 1j * self.tau_c * scaled[k]).astype(c.dtype)
            actual[k] = (arrays[k].imag - c.imag).astype(np.float64) / self.tau_c
        return arrays, actual

    def _check_directions(self, k: int, count: int) -> None:
        for _ in range(count):
            self._direction_check((k,))

    def _direction_check(
        self, ks: Sequence[int], block: tuple[int, int] | None = None, record: bool = True
    ) -> DirectionCheck:
        u = self._direction(ks, block)
        scaled = {k: u[k] * self._xscale(k) for k in ks}
        gmag = sum(float(np.sum(np.abs(self.grads[k] * scaled[k]))) for k in ks)
        floor = np.array([FLOOR_C * self.eps * gmag])
        if self.opts.method == "complex":
            arrays, scaled = self._complex_step(ks, scaled)
            gmag = sum(float(np.sum(np.abs(self.grads[k] * scaled[k]))) for k in ks)
            v = self._eval(arrays, "along a random direction (complex step)")
            numeric = np.array([float(np.imag(v)) / self.tau_c])
            analytic = np.array([sum(float(np.sum(self.grads[k] * scaled[k])) for k in ks)])
            err = CS_C * (self.eps * (np.abs(numeric) + gmag) + self.subnormal / self.tau_c)
            thr = self._threshold(numeric, err, floor)
            bad = abs(analytic[0] - numeric[0]) > thr[0]
            status = Status.MISMATCH if bad else Status.OK
        else:
            lines = self._judge(_DirectionLine(self, ks, scaled), floor)
            numeric, analytic = lines.numeric, lines.analytic
            err, thr, status = lines.error_estimate, lines.threshold, Status(int(lines.status[0]))
        check = DirectionCheck(
            inputs=tuple(self.names[k] for k in ks),
            analytic=float(analytic[0]),
            numeric=float(numeric[0]),
            abs_error=float(abs(analytic[0] - numeric[0])),
            error_estimate=float(err[0]),
            threshold=float(thr[0]),
            status=status,
        )
        if record and len(ks) == 1:
            self.directions[ks[0]].append(check)
        return check

    # ---- results ---------------------------------------------------------------------------------

    def _input_result(self, k: int) -> InputResult:
        shape = self.work[k].shape
        size = self.work[k].size
        state = self.elements.get(k, _ElementState.empty(size))
        analytic = self.grads[k]
        status = state.status.copy()
        if self.opts.kinks == "skip":
            status[status == Status.KINK] = Status.SKIPPED
        checked_mask = (status != Status.UNCHECKED) & (status != Status.SKIPPED)
        flat_a = analytic.reshape(-1)
        worst = None
        max_abs = max_rel = math.nan
        if checked_mask.any():
            abs_err = np.abs(flat_a - state.numeric)
            denom = np.maximum(np.abs(flat_a), np.abs(state.numeric))
            rel_err = np.divide(abs_err, denom, out=np.zeros_like(abs_err), where=denom > 0)
            cand = np.flatnonzero(checked_mask)
            ratio = abs_err[cand] / np.where(
                state.threshold[cand] > 0, state.threshold[cand], 1e-300
            )
            j = int(cand[int(np.argmax(ratio))])
            worst = ElementCheck(
                index=tuple(int(i) for i in np.unravel_index(j, shape)) if shape else (),
                analytic=float(flat_a[j]),
                numeric=float(state.numeric[j]),
                abs_error=float(abs_err[j]),
                rel_error=float(rel_err[j]),
                error_estimate=float(state.error_estimate[j]),
                threshold=float(state.threshold[j]),
                status=Status(int(status[j])),
            )
            max_abs = float(np.max(abs_err[cand]))
            max_rel = float(np.max(rel_err[cand]))
        kink_idx = np.flatnonzero(state.status == Status.KINK)
        return InputResult(
            name=self.names[k],
            shape=shape,
            dtype=str(self.work[k].dtype),
            checked=int(checked_mask.sum()),
            mismatches=int(np.sum(status == Status.MISMATCH)),
            kinks=tuple(tuple(int(i) for i in np.unravel_index(int(j), shape)) for j in kink_idx),
            worst=worst,
            max_abs_error=max_abs,
            max_rel_error=max_rel,
            directions=tuple(self.directions[k]),
            analytic=analytic.copy(),
            numeric=state.numeric.reshape(shape),
            error_estimate=state.error_estimate.reshape(shape),
            threshold=state.threshold.reshape(shape),
            status=status.reshape(shape),
            annotation=self.opts.annotations.get(self.names[k]),
            kink_policy=self.opts.kinks,
        )


@dataclass
class _ElementState:
    numeric: F64
    error_estimate: F64
    threshold: F64
    status: NDArray[np.int8]

    @classmethod
    def empty(cls, size: int) -> _ElementState:
        nan = np.full(size, np.nan)
        return cls(nan, nan.copy(), nan.copy(), np.zeros(size, dtype=np.int8))

    def store(self, idx: NDArray[np.intp], lines: _Lines) -> None:
        self.numeric[idx] = lines.numeric
        self.error_estimate[idx] = lines.error_estimate
        self.threshold[idx] = lines.threshold
        self.status[idx] = lines.status


_Eval = tuple[F64, F64, F64, F64, F64]
"""``f(x+)``, ``f(x-)``, ``x+ - x``, ``x - x-`` and the analytic derivative along that step."""


class _Line:
    """A batch of lines along which derivatives are compared (see ``Engine._judge``)."""

    count: int

    def at(self, m: float, sel: NDArray[np.intp]) -> _Eval:
        """Evaluate the lines ``sel`` at ``x +- m*h``."""
        raise NotImplementedError

    def noise(self, flagged: NDArray[np.bool_]) -> float:
        """Measured noise of one evaluation near these lines (cached per input or line)."""
        raise NotImplementedError


class _ElementLines(_Line):
    """One line per element ``idx`` of input ``k``, with step ``tau * max(1, |x|)``."""

    def __init__(self, engine: Engine, k: int, idx: NDArray[np.intp]) -> None:
        self.engine = engine
        self.k = k
        self.idx = idx
        self.x = engine.work[k].reshape(-1)[idx]
        self.a = engine.grads[k].reshape(-1)[idx]
        self.count = len(idx)

    def at(self, m: float, sel: NDArray[np.intp]) -> _Eval:
        e, k = self.engine, self.k
        x = self.x[sel]
        dtype = e.work[k].dtype
        xf = x.astype(np.float64)
        h = m * e.tau * np.maximum(1.0, np.abs(xf))
        xp, xm = (xf + h).astype(dtype), (xf - h).astype(dtype)
        idx = self.idx[sel]
        probes = [(k, int(j), v) for j, v in zip(idx, xp, strict=True)]
        probes += [(k, int(j), v) for j, v in zip(idx, xm, strict=True)]
        values = np.real(e._eval_elements(probes, e.work)).astype(np.float64)
        n = len(idx)
        dp = xp.astype(np.float64) - xf
        dm = xf - xm.astype(np.float64)
        return values[:n], values[n:], dp, dm, self.a[sel]

    def noise(self, flagged: NDArray[np.bool_]) -> float:
        """ECnoise along a random direction over this input's elements that passed stage 1.

        Elements flagged by stage 1 are left out: a kink among them would pass for noise. The
        spacing is ``h/8``, so the 8 points stay inside the central-difference stencil.
        """
        e, k = self.engine, self.k
        if k in e.noise_measured:
            return e.noise_measured[k]
        size = e.work[k].size
        mask = np.ones(size, dtype=bool)
        mask[self.idx[flagged]] = False
        if not mask.any():
            mask[:] = True
        v = np.where(mask, e.rng.standard_normal(size), 0.0)
        v /= np.linalg.norm(v)
        x = e.work[k].reshape(-1)
        step = (e.tau / 8) * v * np.maximum(1.0, np.abs(x.astype(np.float64)))

        def arrays_at(i: int) -> Arrays:
            arrays = list(e.work)
            arrays[k] = (x + i * step).astype(x.dtype).reshape(e.work[k].shape)
            return arrays

        noise = e._ecnoise(arrays_at)
        e.noise_measured[k] = noise
        e.notes.append(f"noise of one evaluation measured near {e.names[k]}: {noise:.3g}")
        return noise


class _DirectionLine(_Line):
    """One line along a random direction ``scaled`` over inputs ``ks``."""

    count = 1

    def __init__(
        self,
        engine: Engine,
        ks: Sequence[int],
        scaled: dict[int, F64],
        slope: float | None = None,
    ) -> None:
        self.engine = engine
        self.ks = tuple(ks)
        self.scaled = scaled
        self.slope = slope  # compare against this number instead of <g, u> (complex-step guard)
        self.measured: float | None = None

    def _shifted(self, t: float) -> tuple[Arrays, float]:
        """The inputs at ``x + t * scaled`` and ``<g, x(t) - x>``."""
        e = self.engine
        arrays = list(e.work)
        dot = 0.0
        for k in self.ks:
            x = e.work[k]
            shifted = (x + t * self.scaled[k]).astype(x.dtype, copy=False)
            arrays[k] = shifted
            # the displacement actually represented in the input's dtype
            moved = shifted.astype(np.float64, copy=False) - x
            dot += float(np.vdot(e.grads[k], moved))
        return arrays, dot

    def at(self, m: float, sel: NDArray[np.intp]) -> _Eval:
        e = self.engine
        step = m * e.tau
        plus, dot_p = self._shifted(step)
        minus, dot_m = self._shifted(-step)
        fp = float(np.real(e._eval(plus, "along a random direction")))
        fm = float(np.real(e._eval(minus, "along a random direction")))
        # compare along the displacement actually representable in the inputs' dtypes
        a = (dot_p - dot_m) / (2 * step) if self.slope is None else self.slope
        return np.array([fp]), np.array([fm]), np.array([step]), np.array([step]), np.array([a])

    def noise(self, flagged: NDArray[np.bool_]) -> float:
        if self.measured is None:
            e = self.engine
            self.measured = e._ecnoise(lambda i: self._shifted(i * e.tau / 8)[0])
            e.noise_measured[("direction", id(self))] = self.measured
        return self.measured


def _guided_chunks(n: int, workers: int, smallest: int = 8) -> list[int]:
    """Chunk bounds for ``n`` probes over ``workers``: each chunk a share of what is left
    (guided self-scheduling), so the first chunks are large (few round trips) and the last
    ones small (the workers finish together instead of one waiting for the other's chunk)."""
    bounds = [0]
    while bounds[-1] < n:
        left = n - bounds[-1]
        bounds.append(bounds[-1] + min(left, max(smallest, -(-left // (2 * workers)))))
    return bounds


def check_picklable(objective: object) -> None:
    """Raise a clear error when an executor is given but the function cannot be shipped."""
    try:
        pickle.dumps(objective)
    except Exception as exc:
        raise InvalidArgumentError(
            "executor: the function must be picklable to run in other processes (define it at "
            f"module level, not as a lambda or closure); pickling failed with: {exc}"
        ) from exc


__all__ = ["Base", "Engine", "Options", "check_picklable"]
