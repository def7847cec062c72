"""Shared pieces of the diagnosis: one input's gradients as the rules read them, candidates,
residuals and the small text helpers every rule family uses."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .._annotations import Annotation, AxisInfo
from .._result import Confidence, FindingKind

F64 = NDArray[np.float64]
Mask = NDArray[np.bool_]

#: an element is clearly wrong when its relative error exceeds this (and twice its threshold)
CLEAR_REL = 1e-3
#: a numeric value counts as informative (clearly nonzero) above this many thresholds
INFORMATIVE = 4.0
#: a ratio, copy or zero holds "exactly" when every element is within this many thresholds
EXACT_THR = 2.0
#: the relative deviation per element an approximate ratio may have
APPROX_REL = 0.01


@dataclass(frozen=True, eq=False)
class Grad:
    """One input's gradients as the rules read them (float64, NaN-free where masked).

    ``mask`` holds the elements compared element-wise (kinks and unchecked elements left out);
    ``bad`` the elements that failed the check or are clearly wrong; ``clear`` those off by more
    than :data:`CLEAR_REL` relative and twice their threshold.
    """

    name: str
    position: int
    a: F64
    n: F64
    thr: F64
    mask: Mask
    clear: Mask
    bad: Mask
    ann: Annotation | None
    failed: bool
    wrong: bool
    rel: float

    @property
    def group(self) -> str | None:
        return None if self.ann is None else self.ann.group

    @property
    def informative(self) -> Mask:
        """Checked elements whose numeric value is clearly nonzero."""
        out: Mask = self.mask & (np.abs(self.n) > INFORMATIVE * self.thr)
        return out

    def axis(self, k: int) -> AxisInfo | None:
        if self.ann is None or not self.ann.axes:
            return None
        return self.ann.axes[k]

    def signature(self) -> tuple[object, ...] | None:
        """Shape and axis meanings: equal for the same role in two groups (``layer k.Wh``)."""
        if self.ann is None or not self.ann.axes:
            return None
        return (self.a.shape, tuple((x.name, x.labels) for x in self.ann.axes))

    def axis_text(self, k: int) -> str:
        """``time``, ``hidden (axis 0)`` when two axes share a name, ``axis 2`` when unnamed."""
        axis = self.axis(k)
        if axis is None or not axis.name:
            return f"axis {k}"
        assert self.ann is not None
        if sum(x.name == axis.name for x in self.ann.axes) > 1:
            return f"{axis.name} (axis {k})"
        return axis.name


@dataclass(frozen=True)
class Context:
    """Everything the rules see: the gradients, the clearly wrong inputs, the known factors."""

    grads: Mapping[str, Grad]
    wrong: tuple[str, ...]
    factors: tuple[tuple[float, str, str], ...]

    def wrong_grads(self) -> list[Grad]:
        return [self.grads[name] for name in self.wrong]

    def nonzero_wrong(self) -> list[Grad]:
        """The wrong inputs whose analytic gradient is not entirely zero."""
        return [g for g in self.wrong_grads() if not is_zero(g)]


@dataclass(kw_only=True)
class Candidate:
    """A pattern found in one or more inputs, before merging and ranking.

    ``quality`` is how cleanly the pattern holds (1 for an exact relation); ``confidence`` what
    the finding will say about it; ``key`` merges the same pattern over several inputs;
    ``scope`` limits the inputs its coverage is counted among (None: every wrong input);
    ``alternatives`` the other kind of mistake the phrase names because the numbers do not
    tell the two apart; ``relation`` marks a relation between arrays (an exchange, a transpose,
    a reversal), which keeps the spread reading from saying that none holds, however weak.
    """

    kind: FindingKind
    inputs: tuple[str, ...]
    quality: float
    confidence: Confidence
    phrase: str
    hint: str
    evidence: dict[str, object] = field(default_factory=dict)
    key: tuple[object, ...] = ()
    scope: tuple[str, ...] | None = None
    alternatives: tuple[FindingKind, ...] = ()
    relation: bool = False


def norm(x: F64) -> float:
    return float(np.sqrt(np.sum(x * x)))


def count(mask: Mask) -> int:
    return int(np.count_nonzero(mask))


def is_zero(g: Grad) -> bool:
    """Analytic exactly zero (to 1e-12 of the numeric's largest element) where numeric is not."""
    top = float(np.max(np.abs(g.n[g.mask]), initial=0.0))
    return top > 0 and float(np.max(np.abs(g.a), initial=0.0)) <= 1e-12 * top


def bit_equal(x: F64, y: F64) -> bool:
    """Equal to the last bits (1e-12 relative): one was copied from the other, not recomputed."""
    scale = max(float(np.max(np.abs(x), initial=0.0)), float(np.max(np.abs(y), initial=0.0)))
    return scale > 0 and bool(np.all(np.abs(x - y) <= 1e-12 * scale))


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


def relation_confidence(quality: float) -> Confidence:
    """Exact for an exact relation, high for a close approximate one (quality 0.6 or more)."""
    if quality >= 1.0:
        return Confidence.EXACT
    return Confidence.HIGH if quality >= 0.6 else Confidence.LOW


def how(exact: bool, res: float) -> str:
    return "exactly" if exact else f"to a relative residual of {res:.2g}"


def join(words: Sequence[str]) -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def block_text(axis: AxisInfo, label: str) -> str:
    return f"{axis.name} {label}" if axis.name else f"block {label}"


def slices(ndim: int, k: int, parts: int, length: int) -> list[tuple[slice, ...]]:
    """Index tuples of ``parts`` equal consecutive blocks along axis ``k``."""
    width = length // parts
    return [
        tuple(slice(j * width, (j + 1) * width) if d == k else slice(None) for d in range(ndim))
        for j in range(parts)
    ]


def index_runs(indices: Sequence[int]) -> str:
    """``3``, ``3 and 7``, ``50 to 59``, ``0 to 2 and 5``: sorted indices as runs."""
    runs: list[tuple[int, int]] = []
    for i in sorted(indices):
        if runs and i == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return join([str(a) if a == b else f"{a} to {b}" for a, b in runs])


def whole_slices(g: Grad, sel: Mask) -> bool:
    """Whether ``sel`` is every checked element of some indices of one axis (slices of 2 or more).

    Such a set is better described by those indices (a time step, a row) than element by element.
    """
    if not sel.any():
        return False
    for k in range(g.a.ndim):
        if g.a.size // g.a.shape[k] < 2:
            continue
        other = tuple(d for d in range(g.a.ndim) if d != k)
        rows = np.any(sel, axis=other, keepdims=True)
        if np.array_equal(sel, np.broadcast_to(rows, sel.shape) & g.mask):
            return True
    return False


def whole_blocks(g: Grad, sel: Mask) -> bool:
    """Whether ``sel`` is every checked element of some blocks of a labelled axis."""
    if not sel.any() or g.ann is None:
        return False
    for k, axis in enumerate(g.ann.axes):
        if axis.labels is None:
            continue
        parts = len(axis.labels)
        blocks = slices(g.a.ndim, k, parts, g.a.shape[k])
        full = np.zeros_like(sel)
        for s in blocks:
            if sel[s].any():
                full[s] = True
        if np.array_equal(sel, full & g.mask):
            return True
    return False


def element_list(indices: Sequence[tuple[int, ...]], limit: int = 6) -> str:
    shown = ", ".join("[" + ", ".join(map(str, i)) + "]" for i in indices[:limit])
    return shown + (f" and {len(indices) - limit} more" if len(indices) > limit else "")


def where(mask: Mask, limit: int = 20) -> list[tuple[int, ...]]:
    """The indices of ``mask``, at most ``limit`` of them, in row-major order."""
    return [tuple(int(v) for v in idx) for idx in np.argwhere(mask)[:limit]]
