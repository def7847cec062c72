"""Pure numerics of the check: estimates, error models, thresholds and verdicts on explicit values.

Nothing here calls user code or holds state. A *line* is a direction along which a derivative is
compared (one element, or a random direction); an evaluation of a batch of lines at a multiple
``m`` of their steps is an :class:`Eval`. The functions below turn evaluations into numeric
derivatives, error estimates and verdicts.

stage 1
    central differences ``D(h) = (f(x+h) - f(x-h)) / ((x+h) - (x-h))``, dividing by the step
    actually representable; error estimate ``noise / h + tau * |f(x+h) - 2 f(x) + f(x-h)| /
    (3 * 2h)`` (rounding plus a curvature proxy for truncation). Richardson extrapolation from steps
    ``2h`` and ``4h`` with the disagreement of the two as error estimate.
stage 2 (confirmation)
    Richardson over steps ``h, 2h, 4h`` on the residual ``D - analytic``, with the measured noise,
    and the kink test on one-sided slopes (a jump that does not shrink with the step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._result import Status

F64 = NDArray[np.float64]

#: rounding noise of one evaluation, before it is measured (to choose steps): NOISE_C * eps *
#: magnitude
NOISE_C = 2.0
#: floor of every threshold: FLOOR_C * eps * |analytic| + FLOOR_G * eps * (largest |analytic| of
#: the input), the rounding of a backward pass of a few operations; where it does worse
#: (cancellation, adjoints larger than the gradient), stage 2 measures it
#: (``CheckState.analytic_noise``)
FLOOR_C = 8.0
FLOOR_G = 2.0
#: the complex step's error estimate adds FLOOR_T * eps * (the function's terms per unit of the
#: input: fscale / the median scale of the input's elements), and a finite-difference mismatch
#: within that much of its threshold is excused. A forward or backward pass through
#: intermediates far larger than the gradient it ends in (a saturated softmax in attention:
#: scores' adjoints of 1, gradients of 1e-17) rounds at that scale, and where the rounding is an
#: absorption (a tiny term added to a large one and lost) or a cancelling sum of the same terms
#: it is the same at every nearby point, so no measurement by moving the point sees it
FLOOR_T = 1.0
#: measured rounding of the analytic gradient (see ``CheckState.analytic_noise``) enters the
#: threshold of a suspect line times this factor
FLOOR_A = 4.0
#: complex step error estimate: CS_C * eps * (|numeric| + largest |analytic| of the input)
CS_C = 256.0
#: before a complex-step residual over that estimate is a mismatch, its threshold also holds
#: CS_NOISE (the safety of a threshold) times the measured rounding noise of one evaluation (a
#: standard deviation) over the scale of the element:
#: the forward pass rounds its intermediates of size M by eps * M, and their imaginary parts,
#: of size h * M / x, by eps * h * M / x, which cancelling (a saturated softmax less its picked
#: score) leaves in the complex step as eps * M / x: the value's noise per unit of the input
CS_NOISE = 4.0
#: a complex-step residual over that estimate is measured again at NEARBY_PAIRS pairs of points
#: nearby; it stays a mismatch where it exceeds NEARBY_C times the residuals' spread (see
#: ``ComplexStep``): 5 residuals of pure rounding exceed 5 times their spread with a probability
#: below 4e-4 even for Gaussian noise (a t statistic of 11 on 4 degrees of freedom)
NEARBY_PAIRS = 2
NEARBY_C = 5.0
#: each nearby point steps by its own multiple of the complex step (no power of 2): the rounding
#: of an imaginary part absorbed into a larger one depends on where it falls between ulps, which
#: moves with the step and hardly with the point
NEARBY_STEPS = (math.sqrt(3), 1 / math.sqrt(2), math.sqrt(5) / 2, 1 / math.sqrt(3))
#: one-sided jump at h over jump at 4h above this ratio (1/4 for a smooth function) is a kink
KINK_RATIO = 0.5
#: a jump of the one-sided slopes that is the same at steps s, 2s and 4s within this share is
#: judged against the measured noise alone (see ``confirm``)
STEADY = 0.1
#: a verified line's threshold is at most this share of its value (see :func:`verified`)
VERIFY_RHO = 0.25
#: values below this share of their batch's scale are judged against that share instead
VERIFY_NU = 1 / 8


@dataclass(frozen=True)
class Eval:
    """A batch of lines evaluated at ``x +- m*h``: values, representable steps, analytic slope."""

    fp: F64
    fm: F64
    dp: F64
    dm: F64
    analytic: F64

    def select(self, sel: NDArray[np.intp]) -> Eval:
        """The lines ``sel`` of this batch."""
        return Eval(self.fp[sel], self.fm[sel], self.dp[sel], self.dm[sel], self.analytic[sel])


@dataclass(frozen=True)
class Tolerance:
    """How an error estimate becomes a threshold.

    ``safety * estimate + floor``; or, when the caller gave ``rtol``/``atol``, the fixed
    ``atol + rtol * |numeric|`` (``user=False`` ignores them, for internal consistency checks).
    """

    safety: float = 4.0
    rtol: float | None = None
    atol: float | None = None

    def threshold(self, numeric: F64, err: F64, floor: F64, user: bool = True) -> F64:
        if user and (self.atol is not None or self.rtol is not None):
            with np.errstate(over="ignore"):  # rtol=1e308: anything passes, as asked
                fixed: F64 = (self.atol or 0.0) + (self.rtol or 0.0) * np.abs(numeric)
            return fixed
        thr: F64 = self.safety * err + floor
        return thr


@dataclass
class Verdicts:
    """Per-line outcome: numeric and analytic derivative, error estimate, threshold, status."""

    numeric: F64
    analytic: F64
    error_estimate: F64
    threshold: F64
    status: NDArray[np.int8]


def richardson(r1: F64, r2: F64, s1: F64, s2: F64) -> F64:
    """Eliminate the ``s**2`` term from two estimates at half-steps ``s1 < s2``."""
    w1, w2 = s2 * s2, s1 * s1
    out: F64 = (w1 * r1 - w2 * r2) / (w1 - w2)
    return out


def value_grid(values: F64, eps: float) -> float:
    """The grid of values that repeat (fewer distinct levels than values) on levels further apart
    than ``16 * eps`` of their size: the smallest gap between levels; else 0.

    A value computed through an intermediate far larger than itself (``log(1 + p)`` with ``p`` of
    1e-14, the loss of a confident classifier) moves in whole ulps of that intermediate, not of
    itself: its rounding is uniform on that grid (a standard deviation of ``grid / sqrt(12)``),
    however small the values look.
    """
    levels = np.unique(values)
    if not 2 <= len(levels) < len(values):
        return 0.0
    gap = float(np.min(np.diff(levels)))
    return gap if gap > 16 * eps * float(np.max(np.abs(levels))) else 0.0


def staircase_grid(wide: F64, narrow: F64, eps: float) -> float:
    """The grid implied by values ``wide`` that rise in a straight line (equal steps) where the
    same line at a 16 times narrower spacing gave values ``narrow`` of fewer levels than a line
    of that slope would cross ulps: the move over the narrower span per level crossed; else 0.

    Values on a coarse grid can fall one step per point at the wider spacing, a straight
    staircase in which ECnoise sees no noise at all; the narrower spacing, where a line of that
    slope would have crossed more than 16 of the values' ulps but they took fewer levels, shows
    the grid is about as coarse as that move.
    """
    steps = np.diff(wide)
    if len(np.unique(wide)) < len(wide) or np.any(np.sign(steps) != np.sign(steps[0])):
        return 0.0
    mean = float(np.mean(steps))
    if float(np.max(np.abs(steps - mean))) > 0.25 * abs(mean):
        return 0.0  # not a straight line: its slope says nothing of the narrower spacing
    move = abs(float(wide[-1] - wide[0])) / 16
    if move <= 16 * eps * float(np.max(np.abs(wide))):
        return 0.0
    return move / max(len(np.unique(narrow)) - 1, 1)


def ecnoise(values: F64) -> tuple[float, bool]:
    """Noise level of a function from evaluations at equally spaced points (Moré and Wild).

    Returns the standard deviation of the noise estimated from the first difference order whose
    level agrees with the next two orders (within a factor 4) and changes sign, and True; when no
    order qualifies, the largest level of orders 3 to 6 (conservative), and False.
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
            return levels[i], True
    return max(levels[2:6]), False


def central(ev: Eval, f0: float, length: F64, noise: float) -> tuple[F64, F64, NDArray[np.bool_]]:
    """Stage 1, central differences: the numeric derivative, its error estimate, and whether
    rounding (not truncation) dominates the estimate.

    The error estimate is the rounding ``noise / h`` plus a model of the truncation
    ``|f3| h^2 / 6``, with the third derivative ``|f3|`` taken as the larger of ``|f2| / L``
    (from the second difference) and ``|D| / L^2`` (``L``: the scale on which the function
    varies along the line). Stage 1 only sorts lines: an underestimate sends a line to stage 2,
    which measures the truncation, so no mismatch is declared on this model alone.
    """
    h = (ev.dp + ev.dm) / 2
    resid = (ev.fp - ev.fm) / (ev.dp + ev.dm) - ev.analytic
    numeric: F64 = ev.analytic + resid
    curvature = np.abs(ev.fp - 2 * f0 + ev.fm) / (6 * length)
    slope = np.abs(numeric) * h * h / (6 * length * length)
    truncation = np.maximum(curvature, slope)
    rounding = noise / (np.sqrt(2) * h)  # the standard deviation of (e+ - e-) / 2h
    err: F64 = rounding + truncation
    return numeric, err, rounding >= truncation


def extrapolated(
    lo: Eval, hi: Eval, length: F64, noise: float
) -> tuple[F64, F64, NDArray[np.bool_]]:
    """Stage 1, Richardson: the extrapolation ``R = (4 D(h) - D(2h)) / 3`` from the steps of
    ``lo`` (``h``) and ``hi`` (``2h``), its error estimate, and whether rounding dominates it.

    ``D(h) - R`` measures the ``h^2`` term that the extrapolation removes; what is left is of
    order ``h^4``, estimated as ``4 |D(h) - R| (h / L)^2`` (each order one factor ``(h/L)^2``
    smaller, ``L`` the scale on which the function varies along the line). Like every stage-1
    model it only sorts lines (see :func:`central`).
    """
    h = (lo.dp + lo.dm) / 2
    r1 = (lo.fp - lo.fm) / (lo.dp + lo.dm) - lo.analytic
    r2 = (hi.fp - hi.fm) / (hi.dp + hi.dm) - hi.analytic
    resid = richardson(r1, r2, lo.dp, hi.dp)
    rounding = noise / h  # (4 D(h) - D(2h)) / 3: 0.95 sigma / h
    truncation = 4 * np.abs(resid - r1) * (h / length) ** 2
    err: F64 = truncation + rounding
    numeric: F64 = lo.analytic + resid
    return numeric, err, rounding >= truncation


@dataclass
class Refined(Verdicts):
    """Stage-2 verdicts of a triple of steps, with the kink test's outcome per line, and whether
    rounding noise (rather than truncation) dominates the error estimate."""

    kinky: NDArray[np.bool_]
    noisy: NDArray[np.bool_]
    #: the jump of the one-sided slopes at the triple's smaller step
    jump: F64


def confirm(
    e1: Eval,
    e2: Eval,
    e4: Eval,
    f0: float,
    floor: F64,
    noise: float,
    noise_guess: float,
    tol: Tolerance,
    user: bool = True,
) -> Refined:
    """Stage 2 on steps ``s, 2s, 4s``: Richardson on the residual; kink test on one-sided slopes.

    The numeric value is the extrapolation from ``2s`` and ``4s`` (least noise; its ``s**4``
    truncation is negligible when the steps resolve the function); the error estimate is its
    disagreement with the extrapolation from ``s`` and ``2s`` plus the noise amplified by the
    extrapolation. A line whose one-sided slopes differ by a jump that does not shrink with the
    step is *kinky*: a kink when the analytic value lies between the slopes, a mismatch otherwise.
    """
    s1, s2, s4 = ((e.dp + e.dm) / 2 for e in (e1, e2, e4))
    r1, r2, r4 = ((e.fp - e.fm) / (e.dp + e.dm) - e.analytic for e in (e1, e2, e4))
    jump1 = (e1.fp - f0) / e1.dp - (f0 - e1.fm) / e1.dm
    jump4 = (e4.fp - f0) / e4.dp - (f0 - e4.fm) / e4.dm
    r_lo = richardson(r1, r2, s1, s2)
    r_hi = richardson(r2, r4, s2, s4)
    analytic = e1.analytic
    numeric = analytic + r_hi
    noise_part = noise / s2  # the extrapolation from 2s and 4s: 0.95 sigma / (2s)
    err = np.abs(r_lo - r_hi) + noise_part
    thr = tol.threshold(numeric, err, floor, user)
    # one-sided slopes at s, and extrapolated to a zero step (removes their O(s) truncation)
    up, down = (e1.fp - f0) / e1.dp, (f0 - e1.fm) / e1.dm
    up0 = 2 * up - (e2.fp - f0) / e2.dp
    down0 = 2 * down - (f0 - e2.fm) / e2.dm
    lo = np.minimum.reduce([up, down, up0, down0])
    hi = np.maximum.reduce([up, down, up0, down0])
    slope_noise = max(noise, noise_guess)
    # a jump beyond 16 times the noise the value may have (the larger of the measured and the
    # guessed level); or beyond 4 times the measured level alone when the jump is the same at
    # the three steps (within STEADY): rounding does not repeat itself at s, 2s and 4s, nor
    # does a staircase (its one-sided slopes scale as 1/s) or a smooth corner (its jump scales
    # as s). The slopes of a steady jump are as exact as the measured noise says
    jump2 = (e2.fp - f0) / e2.dp - (f0 - e2.fm) / e2.dm
    steady = (np.abs(jump1 - jump2) <= STEADY * np.abs(jump1)) & (
        np.abs(jump1 - jump4) <= STEADY * np.abs(jump1)
    )
    slope_tol = tol.safety * 4 * np.where(steady, noise, slope_noise) / s1 + floor
    kinky = (np.abs(jump1) > KINK_RATIO * np.abs(jump4)) & (
        (np.abs(jump1) > 16 * slope_noise / s1 + floor)
        | steady & (np.abs(jump1) > 4 * noise / s1 + floor)
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
    return Refined(
        numeric=np.where(kinky, nearest, numeric),
        analytic=analytic,
        error_estimate=np.where(kinky, slope_tol, err),
        threshold=np.where(kinky, slope_tol, thr),
        status=status,
        kinky=kinky,
        # the two extrapolations differ by noise alone with a standard deviation of about
        # 2.2 sigma / (2s) (from 4 D(s) - 5 D(2s) + D(4s)); within two of those, truncation
        # is not what limits this triple
        noisy=np.abs(r_lo - r_hi) <= 4.4 * noise / s2,
        jump=jump1,
    )


def verified(
    threshold: F64,
    analytic: F64,
    numeric: F64,
    scale: float | F64,
    noisy: NDArray[np.bool_],
) -> NDArray[np.bool_]:
    """Whether a threshold is tight enough for a comparison to mean something.

    A line is verified when its threshold is at most ``VERIFY_RHO`` of the larger of its analytic
    and numeric values, so that an error of that relative size or more (a factor 2, a sign, a
    missing term) cannot pass; values below ``VERIFY_NU * scale`` (the line's batch: its input's
    largest analytic slope) count as that, so a zero slope is verified by a threshold small
    against the slopes around it. In a batch whose analytic slopes are all zero there is no size
    to judge against: a line is verified when rounding, not truncation, dominates its error
    estimate (the step resolves the function, so a slope above the noise would show).
    """
    ref = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), VERIFY_NU * scale)
    out: NDArray[np.bool_] = np.where(np.asarray(scale) > 0, threshold <= VERIFY_RHO * ref, noisy)
    return out


@dataclass(frozen=True)
class Scales:
    """The scales of one check, from the unperturbed evaluation.

    ``eps`` of the least precise dtype among the checked inputs and the outputs, the relative step
    ``tau = cbrt(eps)``, the value ``f0``, the magnitude ``fscale`` of the terms summed into it,
    the rounding noise ``noise_guess`` of one evaluation before it is measured, and the gradient
    scale of each input (its largest analytic value) used by the threshold floor.
    """

    eps: float
    tau: float
    f0: float
    fscale: float
    noise_guess: float
    gscale: dict[int, float]


def scales(
    f0: float,
    magnitude: float,
    grads: dict[int, F64],
    inputs: dict[int, NDArray[np.floating]],
    dtypes: list[np.dtype[Any]],
) -> Scales:
    """Scales of a check with gradients ``grads`` of ``inputs`` (keyed alike) at value ``f0``."""
    # the check's own arithmetic is float64: extended precision gains nothing beyond it
    eps = max([float(np.finfo(dt).eps) for dt in dtypes] + [float(np.finfo(np.float64).eps)])
    # rounding noise of one evaluation, before it is measured: relative to the magnitude of the
    # terms summed into the value, not to the value itself, which may cancel to near 0;
    # sum |g_j x_j| (the size of the first-order terms) stands in for it when the function does
    # not expose its terms
    linear = sum(float(np.sum(np.abs(grads[k] * inputs[k].astype(np.float64)))) for k in grads)
    fscale = max(magnitude, abs(f0), linear)
    # gradient scale of each input for the threshold floor: its largest |analytic| (in the units
    # of that input's gradient; the rounding of a backward pass beyond that is measured, see
    # ``CheckState.analytic_noise``)
    largest = {k: float(np.max(np.abs(g))) for k, g in grads.items()}
    return Scales(
        eps=eps,
        tau=eps ** (1 / 3),
        f0=f0,
        fscale=fscale,
        noise_guess=NOISE_C * eps * fscale,
        gscale=largest,
    )
