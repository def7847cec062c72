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


def ecnoise(values: F64) -> float:
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


def central(ev: Eval, f0: float, tau: float, noise: float) -> tuple[F64, F64]:
    """Stage 1, central differences: the numeric derivative and its error estimate."""
    resid = (ev.fp - ev.fm) / (ev.dp + ev.dm) - ev.analytic
    curvature = tau * np.abs(ev.fp - 2 * f0 + ev.fm) / (3 * (ev.dp + ev.dm))
    err: F64 = noise / ev.dp + curvature
    numeric: F64 = ev.analytic + resid
    return numeric, err


def extrapolated(lo: Eval, hi: Eval, noise: float) -> tuple[F64, F64]:
    """Stage 1, Richardson: extrapolation from the steps of ``lo`` and ``hi`` (``lo`` smaller)."""
    r1 = (lo.fp - lo.fm) / (lo.dp + lo.dm) - lo.analytic
    r2 = (hi.fp - hi.fm) / (hi.dp + hi.dm) - hi.analytic
    resid = richardson(r1, r2, lo.dp, hi.dp)
    err: F64 = np.abs(resid - r1) + 1.5 * noise / lo.dp
    numeric: F64 = lo.analytic + resid
    return numeric, err


def confirm(
    evals: dict[float, Eval],
    f0: float,
    floor: F64,
    noise: float,
    noise_guess: float,
    tol: Tolerance,
    user: bool = True,
) -> Verdicts:
    """Stage 2: Richardson over steps h, 2h, 4h on the residual; kink test on one-sided slopes.

    The numeric value is the extrapolation from ``2h`` and ``4h`` (least noise; its ``h**4``
    truncation is negligible at these steps); the error estimate is its disagreement with the
    extrapolation from ``h`` and ``2h`` plus the measured noise amplified by the extrapolation.
    A line whose one-sided slopes differ by a jump that does not shrink with the step is a kink
    when the analytic value lies between them, and a mismatch otherwise.
    """
    r: dict[float, F64] = {}
    s: dict[float, F64] = {}
    jump: dict[float, F64] = {}
    for m, ev in evals.items():
        s[m] = (ev.dp + ev.dm) / 2
        r[m] = (ev.fp - ev.fm) / (ev.dp + ev.dm) - ev.analytic
        jump[m] = (ev.fp - f0) / ev.dp - (f0 - ev.fm) / ev.dm
    r_lo = richardson(r[1.0], r[2.0], s[1.0], s[2.0])
    r_hi = richardson(r[2.0], r[4.0], s[2.0], s[4.0])
    one, two = evals[1.0], evals[2.0]
    analytic = one.analytic
    numeric = analytic + r_hi
    err = np.abs(r_lo - r_hi) + 1.5 * noise / s[2.0]
    thr = tol.threshold(numeric, err, floor, user)
    # one-sided slopes at h, and extrapolated to a zero step (removes their O(h) truncation)
    up, down = (one.fp - f0) / one.dp, (f0 - one.fm) / one.dm
    up0 = 2 * up - (two.fp - f0) / two.dp
    down0 = 2 * down - (f0 - two.fm) / two.dm
    lo = np.minimum.reduce([up, down, up0, down0])
    hi = np.maximum.reduce([up, down, up0, down0])
    slope_noise = max(noise, noise_guess)
    slope_tol = tol.safety * 4 * slope_noise / s[1.0] + floor
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
    return Verdicts(
        numeric=np.where(kinky, nearest, numeric),
        analytic=analytic,
        error_estimate=np.where(kinky, slope_tol, err),
        threshold=np.where(kinky, slope_tol, thr),
        status=status,
    )


@dataclass(frozen=True)
class Scales:
    """The scales of one check, from the unperturbed evaluation.

    ``eps`` of the least precise dtype among the checked inputs and the outputs, the relative step
    ``tau = cbrt(eps)``, the value ``f0``, the magnitude ``fscale`` of the terms summed into it,
    the rounding noise ``noise_guess`` of one evaluation before it is measured, and the gradient
    scale of each input used by the threshold floor.
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
    eps = max(float(np.finfo(dt).eps) for dt in dtypes)
    # rounding noise of one evaluation, before it is measured: relative to the magnitude of the
    # terms summed into the value, not to the value itself, which may cancel to near 0;
    # sum |g_j x_j| (the size of the first-order terms) stands in for it when the function does
    # not expose its terms
    linear = sum(float(np.sum(np.abs(grads[k] * inputs[k].astype(np.float64)))) for k in grads)
    fscale = max(magnitude, abs(f0), linear)
    # gradient scale of each input for the threshold floor: its largest |analytic|, but at least a
    # typical gradient of the whole check (the median of those maxima, or the root mean square of
    # all gradient elements): rounding in a backward pass is relative to the adjoints flowing
    # through it, not to the final value of a small gradient
    largest = {k: float(np.max(np.abs(g))) for k, g in grads.items()}
    count = sum(g.size for g in grads.values())
    rms = math.sqrt(sum(float(np.sum(g**2)) for g in grads.values()) / count)
    typical = max(float(np.median(list(largest.values()))), rms)
    return Scales(
        eps=eps,
        tau=eps ** (1 / 3),
        f0=f0,
        fscale=fscale,
        noise_guess=NOISE_C * eps * fscale,
        gscale={k: max(g, typical) for k, g in largest.items()},
    )
