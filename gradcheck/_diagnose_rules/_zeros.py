"""Zeros: an analytic gradient that is zero where it should not be, or nonzero where it should.

``all_zero``   the whole analytic gradient is zero while the numeric one is not;
``unmasked``   the analytic gradient is nonzero exactly where the numeric one is zero (a mask
               missing from the backward pass), and right everywhere else;
``zeroed``     the reverse, read as ``missing_term``: zero exactly where the numeric one is not,
               right everywhere else.

All three are exact statements (quality 1): every failing element is where the pattern says.
"""

from __future__ import annotations

import numpy as np

from .._result import Confidence, FindingKind
from ._base import (
    Candidate,
    Context,
    Grad,
    Mask,
    count,
    element_list,
    is_zero,
    join,
    where,
    whole_blocks,
)
from ._hints import hint

#: at least this many elements must show a mask pattern (one element is a wrong element)
MIN_MASKED = 2


def rule_all_zero(ctx: Context) -> list[Candidate]:
    """Analytic exactly zero (to 1e-12 of the numeric's largest element). Quality 1, exact."""
    zero = [g for g in ctx.wrong_grads() if is_zero(g)]
    if not zero:
        return []
    names = {g.name for g in zero}
    whole = sorted(
        {
            g.group
            for g in zero
            if g.group is not None
            and all(h.name in names for h in ctx.grads.values() if h.group == g.group)
        }
    )
    if whole:
        text = hint(
            "zero.group",
            groups=join(whole),
            these="this group" if len(whole) == 1 else "these groups",
        )
    else:
        text = hint("zero.never")
    out = []
    for g in zero:
        top = float(np.max(np.abs(g.n[g.mask])))
        out.append(
            Candidate(
                kind=FindingKind.ALL_ZERO,
                inputs=(g.name,),
                quality=1.0,
                confidence=Confidence.EXACT,
                phrase=(
                    "the analytic gradient is exactly zero while the numeric one is not "
                    f"(largest |numeric| {top:.3g})"
                ),
                hint=text,
                evidence={
                    "max_abs_analytic": float(np.max(np.abs(g.a), initial=0.0)),
                    "max_abs_numeric": top,
                    "groups": whole,
                },
                key=("zero",),
            )
        )
    return out


def _pattern(g: Grad, where_: Mask) -> tuple[Mask, int] | None:
    """The clearly wrong elements inside ``where_``, when every failing element is inside it."""
    shown = g.clear & where_
    if count(shown) < MIN_MASKED or np.any(g.bad & ~where_):
        return None
    outside = count(g.mask & ~where_)
    if outside == 0:
        return None
    return shown, outside


def rule_unmasked(ctx: Context) -> list[Candidate]:
    """Nonzero analytic where the numeric gradient is zero (within its threshold), right elsewhere.

    Quality 1, exact: every failing element has a zero numeric gradient.
    """
    out = []
    for g in ctx.nonzero_wrong():
        numeric_zero = g.mask & (np.abs(g.n) <= g.thr)
        found = _pattern(g, numeric_zero)
        if found is None:
            continue
        shown, right = found
        masked_ok = count(numeric_zero & ~g.bad)
        idx = where(shown)
        phrase = (
            f"the analytic gradient is nonzero at {count(shown)} elements where the numeric one "
            f"is zero ({element_list(idx)}), and right at the other {right} checked elements"
        )
        if masked_ok:
            phrase += f"; {masked_ok} other elements with a zero numeric gradient are zero too"
        out.append(
            Candidate(
                kind=FindingKind.UNMASKED,
                inputs=(g.name,),
                quality=1.0,
                confidence=Confidence.EXACT,
                phrase=phrase,
                hint=hint("unmasked"),
                evidence={
                    "unmasked": count(shown),
                    "right": right,
                    "element_indices": [list(i) for i in idx],
                },
                key=("unmasked",),
            )
        )
    return out


def rule_zeroed(ctx: Context) -> list[Candidate]:
    """Analytic exactly zero where the numeric gradient is not, right elsewhere.

    Quality 1, exact; named ``missing_term`` (the contribution of those elements is missing).
    Whole labelled blocks left at zero are read by the block rules instead.
    """
    out = []
    for g in ctx.nonzero_wrong():
        top = float(np.max(np.abs(g.n[g.mask]), initial=0.0))
        analytic_zero = g.mask & (np.abs(g.a) <= 1e-12 * top)
        found = _pattern(g, analytic_zero)
        if found is None or whole_blocks(g, found[0]):
            continue
        shown, right = found
        idx = where(shown)
        out.append(
            Candidate(
                kind=FindingKind.MISSING_TERM,
                inputs=(g.name,),
                quality=1.0,
                confidence=Confidence.EXACT,
                phrase=(
                    f"the analytic gradient is exactly zero at {count(shown)} elements where the "
                    f"numeric one is not ({element_list(idx)}), and right at the other {right} "
                    "checked elements"
                ),
                hint=hint("zeroed"),
                evidence={
                    "zeroed": count(shown),
                    "right": right,
                    "element_indices": [list(i) for i in idx],
                },
                key=("zeroed",),
            )
        )
    return out
