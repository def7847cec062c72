"""Step rules: the step of each line, from the noise of the function and the size of its slope.

For a difference formula with truncation of order ``p`` (``p = 2`` for central differences, 4 for
Richardson extrapolation) and rounding noise ``sigma`` per evaluation, the error of the estimate at
step ``h`` is about ``sigma / h + |f^(p+1)| h^p``. With ``|f^(p+1)| ~ |g| / L^p`` (each derivative
one factor ``1/L`` more, ``L`` the scale on which the function varies along the line), the error is
smallest at ``h = (sigma L^p / |g|)^(1 / (p + 1))``: a large slope calls for a small step, a small
slope (a weight whose gradient is 1/50 of its tensor's largest, an input read in float32) for a
large one. ``L`` defaults to ``max(1, |x|)`` per element; ``|g|`` is the analytic slope.

The rule is only a first guess: the steps are clipped to ``[tau/4, min(64 tau, 1/8)] * L``
(``tau = eps^(1/(p+1))``), and stage 2 (``ladder.py``) moves the step of any line whose verdict
shows it was too large (truncation dominates: the function varies on a smaller scale than
``L``, as for an input with a large offset and a small spread) or too small (noise dominates).
A new rule is a new :class:`StepRule` given to a method.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .numerics import F64


@dataclass(frozen=True)
class StepRule:
    """Steps for a difference formula whose truncation error is of order ``order``."""

    order: int

    def tau(self, eps: float) -> float:
        """The relative step of a function of unit scale: ``eps ** (1 / (order + 1))``."""
        return float(eps ** (1 / (self.order + 1)))

    def steps(self, eps: float, noise: float, slope: F64, scale: F64) -> F64:
        """Steps for lines of slopes ``slope`` on scales ``scale`` (arrays alike)."""
        tau = self.tau(eps)
        p = self.order
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            best = (noise * scale**p / np.abs(slope)) ** (1 / (p + 1))
        lo = tau / 4 * scale
        hi = min(64 * tau, 1 / 8) * scale
        out: F64 = np.clip(np.nan_to_num(best, nan=np.inf, posinf=np.inf), lo, hi)
        return out


#: the rule of central differences and of Richardson extrapolation
CENTRAL = StepRule(order=2)
RICHARDSON = StepRule(order=4)
