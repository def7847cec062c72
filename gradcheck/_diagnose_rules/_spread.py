"""When nothing simpler holds: an error that spreads, read as a missing or wrong term.

Both readings are low confidence (quality 0.35) and are made only when no exact or high
candidate explains any wrong input:

* several wrong inputs, each wrong at most of its elements (at least half of its informative
  elements clearly wrong): what a missing or wrong term of the chain rule upstream of all of
  them does (a carry, a second path, a local derivative), though several independent mistakes
  look the same, which the hint says;
* one wrong input, wrong at most of its elements but mostly right (its relative residual below
  1/2: the bulk of the gradient is there) and with no other candidate: a term of its own path
  is missing or wrong.

An error confined to a few elements or indices is never read this way (it is not broad).
"""

from __future__ import annotations

from .._result import Confidence, FindingKind
from ._base import Candidate, Context, Grad, count, join
from ._hints import hint

#: a wrong input is broadly wrong when this share of its informative elements is clearly wrong
BROAD = 0.5
#: a single wrong input is mostly right below this relative residual
MOSTLY_RIGHT = 0.5


def _broad(g: Grad) -> bool:
    informative = g.informative
    total = count(informative)
    return total > 0 and count(g.clear & informative) >= BROAD * total


def _errors(grads: list[Grad]) -> str:
    shown = ", ".join(f"{g.rel:.2g}" for g in grads[:6])
    return shown + (", ..." if len(grads) > 6 else "")


def fallback(ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
    """The spread readings above, given every other rule's candidates."""
    firm = {
        name
        for c in candidates
        if c.confidence in (Confidence.EXACT, Confidence.HIGH)
        for name in c.inputs
    }
    wrong = ctx.wrong_grads()
    if any(g.name in firm for g in wrong) or not all(_broad(g) for g in wrong):
        return []
    right = [g.name for g in ctx.grads.values() if not g.failed]
    rest = f"; right: {join(right[:6])}" + (" ..." if len(right) > 6 else "") if right else ""
    if len(wrong) >= 2:
        groups = sorted({g.group for g in wrong if g.group is not None})
        where_ = f" in {join(groups)}" if groups else ""
        phrase = (
            f"{len(wrong)} inputs{where_} are wrong at most of their elements, with no constant "
            f"ratio, zero, exchange or confinement (relative errors {_errors(wrong)}){rest}"
        )
        advice, key = hint("spread.many"), ("spread",)
    else:
        (g,) = wrong
        if g.rel >= MOSTLY_RIGHT or any(g.name in c.inputs for c in candidates):
            return []
        phrase = (
            f"{g.name} is wrong at most of its elements, but mostly right (relative error "
            f"{g.rel:.2g}), with no simpler pattern{rest}"
        )
        advice, key = hint("spread.one", name=g.name), ("spread-one",)
    return [
        Candidate(
            kind=FindingKind.MISSING_TERM,
            inputs=tuple(ctx.wrong),
            quality=0.35,
            confidence=Confidence.LOW,
            phrase=phrase,
            hint=advice,
            evidence={
                "wrong": list(ctx.wrong),
                "right": right,
                "relative_errors": {g.name: g.rel for g in wrong},
            },
            key=key,
        )
    ]
