"""A tiny central-difference spot check, for the demo (the project's checker is gradcheck).

It perturbs copies of the parameters, never the caller's arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._types import Array

__all__ = ["SpotCheck", "spot_check"]


@dataclass(frozen=True)
class SpotCheck:
    """Analytic and central-difference values of a few elements of one parameter."""

    name: str
    indices: tuple[tuple[int, ...], ...]
    analytic: tuple[float, ...]
    numeric: tuple[float, ...]

    @property
    def rel_errors(self) -> tuple[float, ...]:
        """``|a - n| / max(|a| + |n|, 1e-8)`` per element (cs231n's relative error)."""
        return tuple(
            abs(a - n) / max(abs(a) + abs(n), 1e-8)
            for a, n in zip(self.analytic, self.numeric, strict=True)
        )


def spot_check(
    f: Callable[[Mapping[str, Array]], Any],
    params: Mapping[str, Array],
    grads: Mapping[str, Array],
    rng: np.random.Generator,
    *,
    count: int = 4,
    eps: float = 1e-6,
) -> list[SpotCheck]:
    """Compare ``grads`` with ``(f(p + eps e) - f(p - eps e)) / (2 eps)`` at random elements.

    ``f`` maps a params dict to a real scalar; ``count`` elements of every parameter are
    drawn from ``rng``.
    """
    checks = []
    for name, value in params.items():
        picks = rng.choice(value.size, size=min(count, value.size), replace=False)
        indices = tuple(tuple(int(i) for i in np.unravel_index(p, value.shape)) for p in picks)
        numeric = []
        for index in indices:
            perturbed = dict(params)
            values = []
            for step in (eps, -eps):
                copy = value.copy()
                copy[index] += step
                perturbed[name] = copy
                values.append(float(f(perturbed)))
            numeric.append((values[0] - values[1]) / (2 * eps))
        analytic = tuple(float(grads[name][index]) for index in indices)
        checks.append(SpotCheck(name, indices, analytic, tuple(numeric)))
    return checks
