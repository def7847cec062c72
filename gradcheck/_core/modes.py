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
    """Full when it fits the budget, then ``screen`` calls on the elements with the highest
    detection bounds; otherwise block screens per input, then localization.

    The screens spend ``screen`` (calls or seconds): every input gets block directions of one
    common block size (at least one block per input, so a large input cannot hide a small one:
    each screen sees one input only, with the same weight on every element of its block). A
    block that fails, or cannot be verified, is split in halves until its wrong elements are
    checked one by one; when both halves of a block fail, the error is spread over it, and a
    sample of its elements is checked instead of splitting further. Localization spends what is
    left of ``budget``; a block it could not reach is still reported, with its range.
    """
    total = _total(state)
    # every element, and the noise measured once per input
    cost = total * state.method.calls_per_element + NOISE_CALLS * len(state.wrt)
    budget = state.calls_for(state.opts.budget)
    if cost <= budget - state.ev.calls:
        state.notes.append(f"auto: {total} elements ({cost} calls) within the budget; full")
        full(state)
        # the screen's calls, within the budget, on the elements whose bounds are worst
        extra = state.calls_for(state.opts.screen)
        _improve(state, min(budget, state.ev.calls + extra))
        return "full"
    # the screen within what is left of the budget (the noise level is measured first, once)
    screen = min(state.calls_for(state.opts.screen), budget - state.ev.calls - NOISE_CALLS)
    per = state.method.calls_per_direction
    blocks = _blocks(state, max(len(state.wrt), screen // per))
    sizes = sorted({hi - lo for _, lo, hi in blocks})
    state.notes.append(
        f"auto: {total} elements ({cost} calls) over the budget of {budget}; screened with "
        f"{len(blocks)} block directions of {sizes[-1] if sizes else 0} elements or fewer"
    )
    state.ev.plan(state.ev.calls + len(blocks) * per)
    failing = [
        (k, lo, hi)
        for k, lo, hi in blocks
        if state.check_block(k, lo, hi).status in (Status.MISMATCH, Status.UNVERIFIED)
    ]
    if failing:
        _localize(state, failing, budget)
    return "screen"


#: calls one measurement of the noise costs
NOISE_CALLS = 9
#: calls one element costs when it is judged again on the ladder (a first estimate)
IMPROVE_COST = 12
#: a batch whose bounds fall by less than this factor (median) ends the improvement
IMPROVE_GAIN = 1.5
#: the share of its input's largest gradient below which an element is no target of improvement
IMPROVE_FLOOR = 1e-3


def _improve(state: CheckState, budget: int) -> None:
    """Spend calls up to ``budget`` where they lower the detection bound most: the elements with
    the worst bounds (relative to their own gradient, over every input), judged again on the
    ladder of steps, in batches until the calls are spent."""
    if not hasattr(state.method, "improve"):
        return
    order = []
    for k in state.wrt:
        g = np.abs(state.grads[k].reshape(-1))
        bound = state.bounds(k)
        target = (g >= IMPROVE_FLOOR * g.max()) & np.isfinite(bound) if g.max() > 0 else g < 0
        status = state.elements[k].status
        target &= status == Status.OK
        order += [(float(bound[j]), k, int(j)) for j in np.flatnonzero(target)]
    order.sort(reverse=True)
    start = state.ev.calls
    done = 0
    while order:
        size = min(32, (budget - state.ev.calls) // IMPROVE_COST)
        if size < 1:
            break
        batch, order = order[:size], order[size:]
        gained = []
        for k in {k for _, k, _ in batch}:
            idx = np.array([j for _, kk, j in batch if kk == k], np.intp)
            before = state.bounds(k)[idx]
            state.improve_elements(k, idx)
            gained += list(before / state.bounds(k)[idx])
        done += len(batch)
        # the worst bounds come first: when a batch of them barely gains, later ones will not
        if float(np.median(gained)) < IMPROVE_GAIN:
            break
    if done:
        state.notes.append(
            f"auto: {done} elements with the highest detection bounds judged again on smaller "
            f"and larger steps ({state.ev.calls - start} calls) within the budget"
        )


#: a block this small is checked element by element
LEAF = 8


def _blocks(state: CheckState, count: int) -> list[tuple[int, int, int]]:
    """At most ``count`` contiguous blocks over the checked inputs, of one common size (an
    input smaller than it is one block)."""
    sizes = [state.size(k) for k in state.wrt]
    lo_b, hi_b = 1, max(sizes)
    while lo_b < hi_b:  # the smallest block size whose blocks fit in count
        mid = (lo_b + hi_b) // 2
        if sum(-(-n // mid) for n in sizes) <= count:
            hi_b = mid
        else:
            lo_b = mid + 1
    out = []
    for k, n in zip(state.wrt, sizes, strict=True):
        parts = -(-n // lo_b)
        bounds = np.linspace(0, n, parts + 1).round().astype(int)
        out += [(k, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return out


def _localize(state: CheckState, failing: list[tuple[int, int, int]], budget: int) -> None:
    queue = list(failing)
    spread = 0
    while queue:
        if state.ev.calls >= budget:
            where = ", ".join(f"{state.names[k]}[{lo}:{hi}]" for k, lo, hi in queue[:6])
            more = f" and {len(queue) - 6} more" if len(queue) > 6 else ""
            state.notes.append(
                f"auto: the budget ran out before localizing the failing blocks {where}{more} "
                "(flat indices); a larger budget names their elements"
            )
            return
        k, lo, hi = queue.pop(0)
        if hi - lo <= LEAF:
            state.check_elements(k, np.arange(lo, hi))
            continue
        mid = (lo + hi) // 2
        halves = [(k, lo, mid), (k, mid, hi)]
        bad = [
            half
            for half in halves
            if state.check_block(*half).status in (Status.MISMATCH, Status.UNVERIFIED)
        ]
        if len(bad) == 2 or not bad:
            # both halves wrong: the error is spread over the block; neither: it sits in no
            # half alone. Either way a sample of its elements says where, cheaper than splitting
            spread += 1
            sample = np.unique(np.linspace(lo, hi - 1, 2 * LEAF).round().astype(np.intp))
            state.check_elements(k, sample)
            continue
        queue += bad
    if spread:
        state.notes.append(
            f"auto: {spread} failing block(s) wrong throughout: a sample of their elements "
            "was checked one by one"
        )


#: the modes by public name
MODES: dict[str, Callable[[CheckState], str]] = {
    "full": full,
    "sample": sample,
    "directional": directional,
    "auto": auto,
}
