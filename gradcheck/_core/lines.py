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
from .numerics import F64, Eval
from .state import CheckState


class Line:
    """A batch of lines along which derivatives are compared."""

    count: int

    def at(self, m: float, sel: NDArray[np.intp]) -> Eval:
        """Evaluate the lines ``sel`` at ``x +- m*h``."""
        raise NotImplementedError

    def noise(self, flagged: NDArray[np.bool_]) -> float:
        """Measured noise of one evaluation near these lines (cached per input or line)."""
        raise NotImplementedError


class ElementLines(Line):
    """One line per element ``idx`` of input ``k``, with step ``tau * max(1, |x|)``."""

    def __init__(self, state: CheckState, k: int, idx: NDArray[np.intp]) -> None:
        self.state = state
        self.k = k
        self.idx = idx
        self.x = state.work[k].reshape(-1)[idx]
        self.a = state.grads[k].reshape(-1)[idx]
        self.count = len(idx)

    def at(self, m: float, sel: NDArray[np.intp]) -> Eval:
        s, k = self.state, self.k
        x = self.x[sel]
        dtype = s.work[k].dtype
        xf = x.astype(np.float64)
        h = m * s.scales.tau * np.maximum(1.0, np.abs(xf))
        xp, xm = (xf + h).astype(dtype), (xf - h).astype(dtype)
        idx = self.idx[sel]
        probes = [(k, int(j), v) for j, v in zip(idx, xp, strict=True)]
        probes += [(k, int(j), v) for j, v in zip(idx, xm, strict=True)]
        values = np.real(s.ev.probes(probes, s.work)).astype(np.float64)
        n = len(idx)
        dp = xp.astype(np.float64) - xf
        dm = xf - xm.astype(np.float64)
        return Eval(values[:n], values[n:], dp, dm, self.a[sel])

    def noise(self, flagged: NDArray[np.bool_]) -> float:
        """ECnoise along a random direction over this input's elements that passed stage 1.

        Elements flagged by stage 1 are left out: a kink among them would pass for noise. The
        spacing is ``h/8``, so the 8 points stay inside the central-difference stencil.
        """
        s, k = self.state, self.k
        if k in s.noise_measured:
            return s.noise_measured[k]
        size = s.size(k)
        mask = np.ones(size, dtype=bool)
        mask[self.idx[flagged]] = False
        if not mask.any():
            mask[:] = True
        v = np.where(mask, s.rng.standard_normal(size), 0.0)
        v /= np.linalg.norm(v)
        x = s.work[k].reshape(-1)
        step = (s.scales.tau / 8) * v * np.maximum(1.0, np.abs(x.astype(np.float64)))

        def arrays_at(i: int) -> Arrays:
            arrays = list(s.work)
            arrays[k] = (x + i * step).astype(x.dtype).reshape(s.work[k].shape)
            return arrays

        noise = s.measure_noise(arrays_at)
        s.noise_measured[k] = noise
        s.notes.append(f"noise of one evaluation measured near {s.names[k]}: {noise:.3g}")
        return noise


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
        slope: float | None = None,
    ) -> None:
        self.state = state
        self.ks = tuple(ks)
        self.scaled = scaled
        self.slope = slope
        self.measured: float | None = None

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

    def at(self, m: float, sel: NDArray[np.intp]) -> Eval:
        s = self.state
        step = m * s.scales.tau
        plus, dot_p = self.shifted(step)
        minus, dot_m = self.shifted(-step)
        fp = float(np.real(s.ev.value(plus, "along a random direction")))
        fm = float(np.real(s.ev.value(minus, "along a random direction")))
        # compare along the displacement actually representable in the inputs' dtypes
        a = (dot_p - dot_m) / (2 * step) if self.slope is None else self.slope
        one = np.array([step])
        return Eval(np.array([fp]), np.array([fm]), one, one.copy(), np.array([a]))

    def noise(self, flagged: NDArray[np.bool_]) -> float:
        if self.measured is None:
            s = self.state
            self.measured = s.measure_noise(lambda i: self.shifted(i * s.scales.tau / 8)[0])
            s.noise_measured[("direction", id(self))] = self.measured
        return self.measured
