"""Shared pieces of the diagnosis: the view of one input's gradients, candidates, residuals."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ._annotations import Annotation, AxisInfo

F64 = NDArray[np.float64]
Mask = NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class Grad:
    """One input's gradients as the rules read them (float64, NaN-free where masked)."""

    name: str
    position: int
    a: F64
    n: F64
    thr: F64
    mask: Mask
    clear: Mask
    ann: Annotation | None
    failed: bool
    wrong: bool
    rel: float

    @property
    def group(self) -> str | None:
        return None if self.ann is None else self.ann.group

    def axis(self, k: int) -> AxisInfo | None:
        if self.ann is None or not self.ann.axes:
            return None
        return self.ann.axes[k]

    def signature(self) -> tuple[object, ...] | None:
        """Shape and axis meanings: equal for the same role in two groups (``layer k.Wh``)."""
        if self.ann is None or not self.ann.axes:
            return None
        return (self.a.shape, tuple((x.name, x.labels) for x in self.ann.axes))


@dataclass(frozen=True)
class Context:
    """Everything the rules see."""

    grads: Mapping[str, Grad]
    wrong: tuple[str, ...]
    factors: tuple[tuple[float, str, str], ...]

    def wrong_grads(self) -> list[Grad]:
        return [self.grads[name] for name in self.wrong]


@dataclass
class Candidate:
    """A pattern found in one or more inputs, before merging and ranking."""

    kind: str
    inputs: tuple[str, ...]
    quality: float
    phrase: str
    hint: str
    evidence: dict[str, object] = field(default_factory=dict)
    key: tuple[object, ...] = ()
    scope: tuple[str, ...] | None = None


def norm(x: F64) -> float:
    return float(np.sqrt(np.sum(x * x)))


def residual(x: F64, y: F64, tol: F64, mask: Mask) -> tuple[bool, float]:
    """Whether ``x == y`` within ``tol`` on ``mask``, and ``|x - y| / max(|x|, |y|)`` there.

    Both zero on the whole mask (or an empty mask) is no evidence: ``(False, inf)``.
    """
    if not mask.any():
        return False, math.inf
    xs, ys = x[mask], y[mask]
    scale = max(norm(xs), norm(ys))
    if scale == 0:
        return False, math.inf
    diff = np.abs(xs - ys)
    return bool(np.all(diff <= tol[mask])), norm(diff) / scale


def relation_quality(exact: bool, res: float, res_identity: float) -> float:
    """Quality of "analytic matches this other numeric quantity" against "matches its own".

    1 for an exact match; otherwise up to 0.9 when the residual is small (< 0.25) and at most
    half the residual of the analytic against its own numeric gradient.
    """
    if exact:
        return 1.0
    if not math.isfinite(res) or res >= 0.25 or res >= 0.5 * res_identity:
        return 0.0
    return 0.9 * (1.0 - res / res_identity)
