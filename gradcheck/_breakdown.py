"""Structure-aware breakdown of a result: where along an input's annotated axes the errors are.

Generic over any layer: it reads only the axis annotations attached to an input (see
:class:`gradcheck.Annotation`). An axis split into labelled blocks (a packed weight's gate axis
``("gate", ("i", "f", "o", "g"))``) gets one row per block; an axis named ``"time"`` gets one row
per step. Inputs are grouped by their annotation's ``group`` (``"layer 0"``, ``"fc"``...).

Every row holds the worst *excess* of its elements, ``|analytic - numeric| / threshold``: above 1
the element failed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ._result import CheckResult, InputResult, Status

__all__ = ["Breakdown", "Row", "breakdowns", "excess", "groups", "worst_excess"]

#: the axis name whose indices get one row each
TIME_AXIS = "time"


@dataclass(frozen=True)
class Row:
    """The errors of the elements in one block (or at one index) of an axis.

    ``start`` and ``stop`` delimit the block along the axis; ``max_excess`` and ``max_abs_error``
    are NaN when no element of the block was checked element-wise.
    """

    label: str
    start: int
    stop: int
    checked: int
    mismatches: int
    kinks: int
    max_abs_error: float
    max_excess: float
    worst_index: tuple[int, ...] | None

    @property
    def failed(self) -> bool:
        """True when an element of this block mismatched."""
        return self.mismatches > 0


@dataclass(frozen=True)
class Breakdown:
    """The rows of one annotated axis of one input.

    ``kind`` is ``"block"`` (one row per labelled block) or ``"index"`` (one row per index of a
    ``"time"`` axis).
    """

    input: str
    axis: int
    name: str
    kind: str
    rows: tuple[Row, ...]

    @property
    def failed_rows(self) -> list[Row]:
        """The rows holding a mismatch."""
        return [r for r in self.rows if r.failed]


def excess(r: InputResult) -> NDArray[np.float64]:
    """Per element ``|analytic - numeric| / threshold``, NaN where not checked element-wise.

    A threshold of 0 gives ``inf`` for a nonzero error and 0 otherwise.
    """
    checked = (r.status != Status.UNCHECKED) & (r.status != Status.SKIPPED)
    err = np.abs(r.analytic - r.numeric)
    thr = r.threshold
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(thr > 0, err / np.where(thr > 0, thr, 1.0), np.where(err > 0, np.inf, 0.0))
    out: NDArray[np.float64] = np.where(checked & np.isfinite(err), ratio, np.nan)
    return out


def worst_excess(r: InputResult) -> float:
    """The largest excess of the input's checked elements, or of its directions when none was."""
    if r.worst is not None:
        return r.worst.excess
    ratios = [_ratio(d.abs_error, d.threshold) for d in r.directions]
    return max(ratios) if ratios else math.nan


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return math.inf if num > 0 else 0.0


def _row(
    label: str,
    start: int,
    stop: int,
    r: InputResult,
    ex: NDArray[np.float64],
    axis: int,
) -> Row:
    sl: list[slice] = [slice(None)] * len(r.shape)
    sl[axis] = slice(start, stop)
    key = tuple(sl)
    status = r.status[key]
    block_ex = ex[key]
    checked = int(np.sum((status != Status.UNCHECKED) & (status != Status.SKIPPED)))
    mismatches = int(np.sum(status == Status.MISMATCH))
    kinks = int(np.sum(status == Status.KINK))
    finite = ~np.isnan(block_ex)
    if not finite.any():
        return Row(label, start, stop, checked, mismatches, kinks, math.nan, math.nan, None)
    flat = np.where(finite, block_ex, -np.inf).reshape(-1)
    j = int(np.argmax(flat))
    local = np.unravel_index(j, block_ex.shape)
    index = tuple(int(i) + (start if a == axis else 0) for a, i in enumerate(local))
    err = np.abs(r.analytic[key] - r.numeric[key])
    max_abs = float(np.max(np.where(finite, err, -np.inf)))
    return Row(label, start, stop, checked, mismatches, kinks, max_abs, float(flat[j]), index)


def breakdowns(r: InputResult) -> list[Breakdown]:
    """The breakdowns of one input: one per labelled (blocked) axis and per ``"time"`` axis.

    Inputs without annotation, and inputs checked only along random directions, have none.

    Examples
    --------
    >>> import numpy as np
    >>> from gradcheck import check_grad
    >>> def grad(w):  # the gradient of the second block is wrong
    ...     g = 2 * w
    ...     g[:, 2:] *= 1.5
    ...     return (g,)
    >>> r = check_grad(lambda w: float(np.sum(w**2)), grad, {"w": np.ones((2, 4))},
    ...                annotations={"w": {"axes": [None, ("unit", ("a", "b"))]}})
    >>> [(row.label, row.mismatches) for row in breakdowns(r.inputs["w"])[0].rows]
    [('a', 0), ('b', 4)]
    """
    ann = r.annotation
    if ann is None or not ann.axes or r.checked == 0:
        return []
    ex = excess(r)
    out = []
    for axis, info in enumerate(ann.axes):
        length = r.shape[axis]
        if info.labels is not None:
            width = length // len(info.labels)
            rows = tuple(
                _row(label, b * width, (b + 1) * width, r, ex, axis)
                for b, label in enumerate(info.labels)
            )
            out.append(Breakdown(r.name, axis, info.name or f"axis {axis}", "block", rows))
        elif info.name == TIME_AXIS:
            rows = tuple(_row(str(t), t, t + 1, r, ex, axis) for t in range(length))
            out.append(Breakdown(r.name, axis, info.name, "index", rows))
    return out


def groups(result: CheckResult) -> list[tuple[str | None, list[InputResult]]]:
    """The inputs grouped by their annotation's group, groups in order of first appearance.

    Inputs without a group come in a group ``None`` at the place of the first of them.
    """
    order: dict[str | None, list[InputResult]] = {}
    for r in result.inputs.values():
        key = r.annotation.group if r.annotation is not None else None
        order.setdefault(key, []).append(r)
    return list(order.items())


def has_groups(result: CheckResult) -> bool:
    """True when at least one input carries a group label."""
    return any(key is not None for key, _ in groups(result))


def runs(rows: Iterable[Row]) -> list[tuple[Row, Row, bool, float]]:
    """Consecutive rows with the same verdict merged: ``(first, last, failed, max excess)``."""
    out: list[tuple[Row, Row, bool, float]] = []
    for row in rows:
        ex = row.max_excess
        if out and out[-1][2] == row.failed:
            first, _, failed, worst = out[-1]
            out[-1] = (first, row, failed, _nanmax(worst, ex))
        else:
            out.append((row, row, row.failed, ex))
    return out


def _nanmax(a: float, b: float) -> float:
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    return max(a, b)
