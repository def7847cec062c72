"""When nothing simpler holds: an error that spreads, read as a missing or wrong term.

Both readings are low confidence (quality 0.35) and are made only when no exact or high
candidate explains any wrong input, and no relation between arrays (an exchange, a transpose, a
reversal) shows in one, however weakly: "no exchange" would then be false. Each names the two
kinds of mistake its numbers fit (``alternatives``), since they cannot tell them apart:

* several wrong inputs, each wrong at most of its elements (at least half of its informative
  elements clearly wrong): a missing or wrong term of the chain rule upstream of all of them (a
  carry, a second path, a local derivative: ``missing_term``), or the upstream gradient passed
  into them over only some of the steps or rows (a partial sum: ``time_range``); a head that
  passes down only the last step's gradient and a carry through time left out give the same
  weight gradients. Several independent mistakes look the same too, which the hint says;
* one wrong input, wrong at most of its elements but mostly right (its relative residual below
  1/2: the bulk of the gradient is there) and with no other candidate: a term of its own
  gradient is missing or wrong (``missing_term``), or its own line pairs the upstream gradient
  with the wrong operand (``wrong_input``: x where the normalised x belongs).

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
        if c.confidence in (Confidence.EXACT, Confidence.HIGH) or c.relation
        for name in c.inputs
    }
    wrong = ctx.wrong_grads()
    if any(g.name in firm for g in wrong) or not all(_broad(g) for g in wrong):
        return []
    right = [g.name for g in ctx.grads.values() if not g.failed]
    rest = ""
    if right:
        shown = join(right[:6]) + (f" and {len(right) - 6} more" if len(right) > 6 else "")
        rest = f", while {shown} {'is' if len(right) == 1 else 'are'} right"
    if len(wrong) >= 2:
        groups = sorted({g.group for g in wrong if g.group is not None})
        where_ = f" in {join(groups)}" if groups else ""
        phrase = (
            f"{len(wrong)} inputs{where_} are wrong at most of their elements (relative errors "
            f"{_errors(wrong)}), with no constant ratio, zero, exchange or confinement{rest}: a "
            "term of the chain rule missing or wrong upstream of them (a dropped carry, a wrong "
            "local derivative), or the upstream gradient passed into them over only some of the "
            "steps or rows"
        )
        advice, key, other = hint("spread.many"), ("spread",), FindingKind.TIME_RANGE
    else:
        (g,) = wrong
        if g.rel >= MOSTLY_RIGHT or any(g.name in c.inputs for c in candidates):
            return []
        phrase = (
            f"{g.name} is wrong at most of its elements, but mostly right (relative error "
            f"{g.rel:.2g}), with no simpler pattern{rest}: a term of its gradient missing or "
            "wrong, or the wrong operand in its own line (x where the normalised x belongs)"
        )
        advice, key = hint("spread.one", name=g.name), ("spread-one",)
        other = FindingKind.WRONG_INPUT
    return [
        Candidate(
            kind=FindingKind.MISSING_TERM,
            alternatives=(other,),
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
