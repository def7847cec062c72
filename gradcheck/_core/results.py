"""Assembly of the per-input results from the verdicts a check recorded."""

from __future__ import annotations

import math

import numpy as np

from .._result import ElementCheck, InputResult, Status
from .state import CheckState, ElementState


def user_tolerance(state: CheckState) -> bool:
    """Whether the caller fixed the tolerance (then the thresholds bound no error)."""
    return state.opts.rtol is not None or state.opts.atol is not None


def input_result(state: CheckState, k: int) -> InputResult:
    """The :class:`InputResult` of input ``k``."""
    shape = state.work[k].shape
    size = state.size(k)
    es = state.elements.get(k, ElementState.empty(size))
    analytic = state.grads[k]
    status = es.status.copy()
    if state.opts.kinks == "skip":
        status[status == Status.KINK] = Status.SKIPPED
    checked_mask = (status != Status.UNCHECKED) & (status != Status.SKIPPED)
    flat_a = analytic.reshape(-1)
    worst = None
    max_abs = max_rel = math.nan
    if checked_mask.any():
        abs_err = np.abs(flat_a - es.numeric)
        denom = np.maximum(np.abs(flat_a), np.abs(es.numeric))
        rel_err = np.divide(abs_err, denom, out=np.zeros_like(abs_err), where=denom > 0)
        cand = np.flatnonzero(checked_mask)
        ratio = abs_err[cand] / np.where(es.threshold[cand] > 0, es.threshold[cand], 1e-300)
        j = int(cand[int(np.argmax(ratio))])
        worst = ElementCheck(
            index=tuple(int(i) for i in np.unravel_index(j, shape)) if shape else (),
            analytic=float(flat_a[j]),
            numeric=float(es.numeric[j]),
            abs_error=float(abs_err[j]),
            rel_error=float(rel_err[j]),
            error_estimate=float(es.error_estimate[j]),
            threshold=float(es.threshold[j]),
            status=Status(int(status[j])),
        )
        max_abs = float(np.max(abs_err[cand]))
        max_rel = float(np.max(rel_err[cand]))
    kink_idx = np.flatnonzero(es.status == Status.KINK)
    return InputResult(
        name=state.names[k],
        shape=shape,
        dtype=str(state.work[k].dtype),
        checked=int(checked_mask.sum()),
        mismatches=int(np.sum(status == Status.MISMATCH)),
        kinks=tuple(tuple(int(i) for i in np.unravel_index(int(j), shape)) for j in kink_idx),
        worst=worst,
        max_abs_error=max_abs,
        max_rel_error=max_rel,
        directions=tuple(state.directions[k]),
        analytic=analytic.copy(),
        numeric=es.numeric.reshape(shape),
        error_estimate=es.error_estimate.reshape(shape),
        threshold=es.threshold.reshape(shape),
        status=status.reshape(shape),
        annotation=state.opts.annotations.get(state.names[k]),
        kink_policy=state.opts.kinks,
        bounds=None if user_tolerance(state) else state.bounds(k).reshape(shape),
    )
