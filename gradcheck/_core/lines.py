"""Lines: the batches along which finite-difference methods compare derivatives.

A line knows how to evaluate the objective at ``x +- m*h`` (:meth:`Line.at`) and how to measure
the noise of one evaluation near itself (:meth:`Line.noise`). :class:`ElementLines` are single
elements of one input; :class:`DirectionLine` is one random direction over one or more inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from .._objective import Arrays
from .numerics import F64, VERIFY_NU, Eval
from .state import CheckState
from .steps import StepRule


class Line:
    """A batch of lines along which derivatives are compared.

    ``scale`` is the size of derivative the batch is judged against when its own values are
    small (see :func:`~.numerics.verified`); ``length`` the scale on which the function is
    assumed to vary along each line (for the truncation model of stage 1).
    """

    count: int
    scale: float
    length: F64
    #: the inputs the lines move (their noise is measured along them)
    inputs: tuple[int, ...]

    def at(self, m: float, sel: NDArray[np.intp], tolerant: bool = False) -> Eval:
        """Evaluate the lines ``sel`` at ``x +- m*h``.

        ``tolerant``: a point where the function is not finite, or raises, gives NaN instead of
        an error (for exploratory steps of stage 2, which may leave the function's domain).
        """
        raise NotImplementedError

    def analytic_noise(self, sel: NDArray[np.intp]) -> F64:
        """Measured rounding of the analytic derivative of lines ``sel``."""
        raise NotImplementedError

    def terms(self, sel: NDArray[np.intp]) -> F64:
        """The function's terms per unit of lines ``sel`` (``CheckState.terms``)."""
        raise NotImplementedError

    def backward_terms(self, sel: NDArray[np.intp]) -> F64:
        """The backward pass's terms summed into the derivative along lines ``sel``
        (``CheckState.backward_terms``)."""
        raise NotImplementedError


class ElementLines(Line):
    """One line per element ``idx`` of input ``k``, with steps from ``rule`` on the scale of each
    element (``CheckState.xscale``)."""

    def __init__(self, state: CheckState, k: int, idx: NDArray[np.intp], rule: StepRule) -> None:
        self.state = state
        self.k = k
        self.inputs = (k,)
        self.idx = idx
        self.x = state.work[k].reshape(-1)[idx]
        self.a = state.grads[k].reshape(-1)[idx]
        self.count = len(idx)
        self.scale = float(np.max(np.abs(state.grads[k])))
        self.length = state.xscale(k).reshape(-1)[idx]
        # slopes far below the input's largest are judged against a share of it (see
        # ``verified``): their steps are chosen for that size, not for a slope that may be 0
        slope = np.maximum(np.abs(self.a), VERIFY_NU * self.scale)
        self.h = rule.steps(state.scales.eps, state.noise_level(), slope, self.length)

    def at(self, m: float, sel: NDArray[np.intp], tolerant: bool = False) -> Eval:
        s, k = self.state, self.k
        x = self.x[sel]
        dtype = s.work[k].dtype
        xf = x.astype(np.float64)
        h = m * self.h[sel]
        xp, xm = (xf + h).astype(dtype), (xf - h).astype(dtype)
        idx = self.idx[sel]
        probes = [(k, int(j), v) for j, v in zip(idx, xp, strict=True)]
        probes += [(k, int(j), v) for j, v in zip(idx, xm, strict=True)]
        values = np.real(s.ev.probes(probes, s.work, tolerant)).astype(np.float64)
        n = len(idx)
        dp = xp.astype(np.float64) - xf
        dm = xf - xm.astype(np.float64)
        return Eval(values[:n], values[n:], dp, dm, self.a[sel])

    def analytic_noise(self, sel: NDArray[np.intp]) -> F64:
        return self.state.analytic_noise(self.k)[self.idx[sel]]

    def terms(self, sel: NDArray[np.intp]) -> F64:
        return np.full(len(sel), self.state.terms(self.k))

    def backward_terms(self, sel: NDArray[np.intp]) -> F64:
        return self.state.backward_terms(self.k)[self.idx[sel]]


class DirectionLine(Line):
    """One line along a random direction ``scaled`` over inputs ``ks``.

    ``slope``, when given, is compared instead of ``<g, u>`` (the complex-step guard).
    """

    count = 1

    def __init__(
        self,
        state: CheckState,
        ks: Sequence[int],
        scaled: dict[int, F64],
        rule: StepRule,
        slope: float | None = None,
    ) -> None:
        self.state = state
        self.ks = tuple(ks)
        # the noise of the function barely depends on which inputs move (its terms are those
        # of the unperturbed point); one measurement over all checked inputs serves every
        # direction, however many blocks are screened
        self.inputs = state.wrt
        self.scaled = scaled
        self.slope = slope
        self.scale = sum(float(np.sum(np.abs(state.grads[k] * scaled[k]))) for k in self.ks)
        self.length = np.ones(1)
        self.t = float(
            rule.steps(state.scales.eps, state.noise_level(), np.array([self.scale]), self.length)[
                0
            ]
        )

    def shifted(self, t: float) -> tuple[Arrays, float]:
        """The inputs at ``x + t * scaled`` and ``<g, x(t) - x>``."""
        s = self.state
        arrays = list(s.work)
        dot = 0.0
        for k in self.ks:
            x = s.work[k]
            shifted = (x + t * self.scaled[k]).astype(x.dtype, copy=False)
            arrays[k] = shifted
            # the displacement actually represented in the input's dtype
            moved = shifted.astype(np.float64, copy=False) - x
            dot += float(np.vdot(s.grads[k], moved))
        return arrays, dot

    def at(self, m: float, sel: NDArray[np.intp], tolerant: bool = False) -> Eval:
        s = self.state
        step = m * self.t
        plus, dot_p = self.shifted(step)
        minus, dot_m = self.shifted(-step)
        fp = float(np.real(s.ev.value(plus, "along a random direction", tolerant)))
        fm = float(np.real(s.ev.value(minus, "along a random direction", tolerant)))
        # compare along the displacement actually representable in the inputs' dtypes
        a = (dot_p - dot_m) / (2 * step) if self.slope is None else self.slope
        one = np.array([step])
        return Eval(np.array([fp]), np.array([fm]), one, one.copy(), np.array([a]))

    def analytic_noise(self, sel: NDArray[np.intp]) -> F64:
        s = self.state
        total = sum(
            float(np.sum(s.analytic_noise(k) * np.abs(self.scaled[k]).reshape(-1))) for k in self.ks
        )
        return np.full(len(sel), total)

    def terms(self, sel: NDArray[np.intp]) -> F64:
        s = self.state
        total = sum(s.terms(k) * float(np.sum(np.abs(self.scaled[k]))) for k in self.ks)
        return np.full(len(sel), total)

    def backward_terms(self, sel: NDArray[np.intp]) -> F64:
        s = self.state
        total = sum(
            float(np.sum(s.backward_terms(k) * np.abs(self.scaled[k]).reshape(-1))) for k in self.ks
        )
        return np.full(len(sel), total)
