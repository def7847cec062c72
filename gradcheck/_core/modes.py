"""Modes: which lines a check looks at, within what budget.

A mode is a function of the :class:`~.state.CheckState` registered in :data:`MODES` under its
public name; it announces its plan of calls to the evaluator, checks elements and directions
through the state, and returns the name of the mode it actually ran (``auto`` runs ``full`` or
``directional``). A new mode is one function added to :data:`MODES`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from .._result import Status
from .state import CheckState


def _total(state: CheckState) -> int:
    return sum(state.size(k) for k in state.wrt)


def full(state: CheckState) -> str:
    """Every element of every checked input."""
    state.ev.plan(state.ev.calls + _total(state) * state.method.calls_per_element)
    for k in state.wrt:
        state.check_elements(k, np.arange(state.size(k)))
    return "full"


def sample(state: CheckState) -> str:
    """``samples`` seeded elements per input, always the first and the last."""
    count = sum(min(state.size(k), state.opts.samples) for k in state.wrt)
    state.ev.plan(state.ev.calls + count * state.method.calls_per_element)
    for k in state.wrt:
        state.check_elements(k, _sample(state, k))
    return "sample"


def _sample(state: CheckState, k: int) -> NDArray[np.intp]:
    size = state.size(k)
    n = min(size, state.opts.samples)
    chosen = {0, size - 1}
    rest = np.setdiff1d(np.arange(size), list(chosen))
    extra = max(0, n - len(chosen))
    picks = state.rng.choice(rest, size=extra, replace=False) if extra else np.zeros(0, int)
    return np.array(sorted(chosen | {int(p) for p in picks})[: max(n, 1)], dtype=np.intp)


def directional(state: CheckState) -> str:
    """``directions`` random directions per input."""
    per = state.method.calls_per_direction
    state.ev.plan(state.ev.calls + len(state.wrt) * state.opts.directions * per)
    for k in state.wrt:
        state.check_directions(k, state.opts.directions)
    return "directional"


def auto(state: CheckState) -> str:
    """Full when it fits the budget; otherwise a joint directional screen, localized on failure."""
    total = _total(state)
    cost = total * state.method.calls_per_element
    if cost <= state.opts.budget:
        state.notes.append(f"auto: {total} elements ({cost} calls) within the budget; full")
        return full(state)
    state.notes.append(
        f"auto: {total} elements ({cost} calls) over the budget of {state.opts.budget}; "
        "directional screen"
    )
    per = state.method.calls_per_direction
    state.ev.plan(state.ev.calls + state.opts.directions * per)
    screens = [state.check_direction(state.wrt) for _ in range(state.opts.directions)]
    state.screens.extend(screens)
    if all(s.status == Status.OK for s in screens):
        return "directional"
    # localize: which inputs fail on their own, then which elements
    state.notes.append("auto: the joint screen failed; screening inputs one by one")
    remaining = state.opts.budget
    for k in state.wrt:
        before = state.ev.calls
        state.check_directions(k, state.opts.directions)
        remaining -= state.ev.calls - before
    for k in state.wrt:
        if all(d.status == Status.OK for d in state.directions[k]):
            continue
        size = state.size(k)
        per_element = state.method.calls_per_element
        before = state.ev.calls
        if size * per_element <= max(remaining, 0):
            state.check_elements(k, np.arange(size))
            state.notes.append(f"auto: {state.names[k]} checked element by element")
        else:
            _bisect(state, k, max(remaining, 16 * per_element * state.opts.directions))
        remaining -= state.ev.calls - before
    return "directional"


def _bisect(state: CheckState, k: int, budget: int) -> None:
    """Group testing: split a failing input in halves, test each with a random direction."""
    size = state.size(k)
    start = state.ev.calls
    queue: list[tuple[int, int]] = [(0, size // 2), (size // 2, size)]
    leaves: list[NDArray[np.intp]] = []
    while queue and state.ev.calls - start < budget:
        lo, hi = queue.pop(0)
        if hi - lo <= 8:
            leaves.append(np.arange(lo, hi))
            if sum(len(x) for x in leaves) >= 64:
                break
            continue
        if state.check_direction((k,), block=(lo, hi), record=False).status == Status.OK:
            continue
        mid = (lo + hi) // 2
        queue.extend([(lo, mid), (mid, hi)])
    if leaves:
        state.check_elements(k, np.concatenate(leaves))
    state.notes.append(
        f"auto: {state.names[k]} localized by bisection ({state.ev.calls - start} calls"
        + ("; stopped at the budget" if queue else "")
        + ")"
    )


#: the modes by public name
MODES: dict[str, Callable[[CheckState], str]] = {
    "full": full,
    "sample": sample,
    "directional": directional,
    "auto": auto,
}
