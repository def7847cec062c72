"""Where the error sits: a few elements, a few indices of an axis, a range of time steps.

Every statement here is exact: "only these are wrong" is made only when every other checked
element passes the check (no mismatch at all, not merely a small one).

``wrong_elements``  at most :data:`FEW` elements fail, and at least twice as many pass (unless
                    they are every element of some indices of an axis: then they are a slice);
``block``           the failing elements lie in at most half of the indices of an axis (any
                    axis without labels, named or not, of any rank); the finding lists every
                    axis that confines them, and says when the confined part is a constant ratio
                    of the numeric gradient (a sign flipped in one filter);
``time_range``      along an axis named ``"time"``: only the last step, only the first, or a
                    range touching an end; a single interior step is a ``block``;
``missing_term``    along an axis named ``"time"``: every step but the last wrong (a dropped
                    carry: the last step has nothing to carry).

Every step wrong, the error growing toward the start, is no finding: the last step being wrong
too says the mistake is made at every step (a wrong local derivative, exchanged deltas, a wrong
operand), which the carry back through time then compounds; that points at no one mistake, and
away from a dropped carry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._result import Confidence, FindingKind
from ._base import (
    Candidate,
    Context,
    Grad,
    count,
    index_runs,
    residual,
    slices,
    where,
    whole_blocks,
    whole_slices,
)
from ._hints import hint
from ._ratio import fit_ratio

#: at most this many failing elements make a "wrong elements" finding
FEW = 4


def _few(g: Grad) -> bool:
    bad = count(g.bad)
    if bad > FEW or count(g.mask & ~g.bad) < 2 * bad:
        return False
    return not whole_slices(g, g.bad) and not whole_blocks(g, g.bad)


def rule_wrong_elements(ctx: Context) -> list[Candidate]:
    """A few failing elements, every other checked element passing. Quality 0.95, exact."""
    out = []
    for g in ctx.nonzero_wrong():
        if not _few(g):
            continue
        bad, passing = count(g.bad), count(g.mask & ~g.bad)
        idx = where(g.bad)
        values = "; ".join(
            f"[{', '.join(map(str, i))}]: analytic {g.a[i]:.4g}, numeric {g.n[i]:.4g}" for i in idx
        )
        out.append(
            Candidate(
                kind=FindingKind.WRONG_ELEMENTS,
                inputs=(g.name,),
                quality=0.95,
                confidence=Confidence.EXACT,
                phrase=(
                    f"only {bad} of {bad + passing} checked elements "
                    f"{'is' if bad == 1 else 'are'} wrong ({values}); every other element passes"
                ),
                hint=hint("elements"),
                evidence={
                    "element_indices": [list(i) for i in idx],
                    "wrong": bad,
                    "passing": passing,
                },
                key=("elements",),
            )
        )
    return out


def _bad_indices(g: Grad, k: int) -> list[int]:
    length = g.a.shape[k]
    return [i for i in range(length) if np.take(g.bad, i, axis=k).any()]


def _confining_axes(g: Grad) -> list[tuple[int, list[int]]]:
    """Axes without labels (and not named time) along which the failing elements are confined."""
    out = []
    for k in range(g.a.ndim):
        axis = g.axis(k)
        if axis is not None and (axis.labels is not None or axis.name == "time"):
            continue
        length = g.a.shape[k]
        bad = _bad_indices(g, k)
        if length >= 2 and 0 < len(bad) <= length // 2:
            out.append((k, bad))
    return out


def _region_ratio(g: Grad) -> str:
    fit = fit_ratio(g.a, g.n, g.thr, g.mask & g.bad, g.informative & g.bad)
    if fit is None or not fit.exact or abs(fit.c - 1) <= 1e-3:
        return ""
    return f"; there, analytic = {fit.c:.6g} x numeric exactly"


def rule_slices(ctx: Context) -> list[Candidate]:
    """Failing elements confined to a few indices of one or more axes. Quality 0.9, exact."""
    out = []
    for g in ctx.nonzero_wrong():
        if count(g.bad) < 2 or _few(g):
            continue
        axes = _confining_axes(g)
        if not axes:
            continue
        parts = [
            f"{'index' if len(bad) == 1 else 'indices'} {index_runs(bad)} of {g.axis_text(k)} "
            f"({len(bad)} of {g.a.shape[k]})"
            for k, bad in axes
        ]
        k, bad = min(axes, key=lambda kb: len(kb[1]) / g.a.shape[kb[0]])
        out.append(
            Candidate(
                kind=FindingKind.BLOCK,
                inputs=(g.name,),
                quality=0.9,
                confidence=Confidence.EXACT,
                phrase=(
                    f"the {count(g.bad)} failing elements lie in " + " and in ".join(parts) + "; "
                    "every element outside passes" + _region_ratio(g)
                ),
                hint=hint("slice", axis=g.axis_text(k)),
                evidence={
                    "axis_position": k,
                    "axis": g.axis_text(k),
                    "indices": bad[:50],
                    "confined_along": {str(kk): bb[:50] for kk, bb in axes},
                },
                key=("slice", g.name),
            )
        )
    return out


# ---- time steps -------------------------------------------------------------------------------


def _describe_steps(wrong: Sequence[int], length: int) -> tuple[str, str, float] | None:
    """Pattern name, description and quality of a set of wrong time steps."""
    wrong = list(wrong)
    last = length - 1
    contiguous = wrong == list(range(wrong[0], wrong[-1] + 1))
    if wrong == [last]:
        return "last", "only the last step is wrong", 0.9
    if wrong == list(range(last)):
        return "all-but-last", "every step but the last is wrong", 0.9
    if wrong == [0]:
        return "first", "only the first step is wrong", 0.9
    if contiguous and wrong[0] == 0:
        return "start", f"steps 0 to {wrong[-1]} are wrong, the later ones pass", 0.85
    if contiguous and wrong[-1] == last:
        return "end", f"steps {wrong[0]} to {last} are wrong, the earlier ones pass", 0.85
    return None


def _having(ctx: Context, axis_name: str) -> tuple[str, ...]:
    """The wrong inputs with an axis of this name: what an axis rule can judge."""
    return tuple(
        g.name
        for g in ctx.wrong_grads()
        if g.ann is not None and any(x.name == axis_name for x in g.ann.axes)
    )


def _step_errors(g: Grad, k: int) -> list[float]:
    length = g.a.shape[k]
    sl = slices(g.a.ndim, k, length, length)
    rel = []
    for s in sl:
        _, r = residual(g.a[s], g.n[s], g.thr[s], g.mask[s])
        rel.append(r if math.isfinite(r) else 0.0)
    return rel


def _time_pattern(bad: list[int], rel: list[float], length: int) -> tuple[str, str, float] | None:
    if not 0 < len(bad) < length:
        return None
    found = _describe_steps(bad, length)
    if found is None:
        return None
    pattern, text, quality = found
    falling = all(rel[i] >= rel[i + 1] for i in range(length - 1))
    if pattern == "all-but-last" and length > 2 and falling:
        text += ", the error growing toward the start"
    return pattern, text, quality


def _time_candidate(ctx: Context, g: Grad, k: int) -> Candidate | None:
    length = g.a.shape[k]
    bad = _bad_indices(g, k)
    rel = _step_errors(g, k)
    evidence: dict[str, object] = {
        "axis": "time",
        "axis_position": k,
        "indices": bad,
        "relative_error_by_index": rel,
    }
    found = _time_pattern(bad, rel, length)
    if found is not None:
        pattern, text, quality = found
        return Candidate(
            kind=FindingKind.MISSING_TERM if pattern == "all-but-last" else FindingKind.TIME_RANGE,
            inputs=(g.name,),
            quality=quality,
            confidence=Confidence.EXACT,
            phrase=f"{text} (relative error by step: " + ", ".join(f"{r:.2g}" for r in rel) + ")",
            hint=hint(f"time.{pattern}"),
            evidence=evidence | {"pattern": pattern},
            key=("time", pattern),
            scope=_having(ctx, "time"),
        )
    if len(bad) != 1:
        return None
    i = bad[0]
    return Candidate(
        kind=FindingKind.BLOCK,
        inputs=(g.name,),
        quality=0.8,
        confidence=Confidence.EXACT,
        phrase=(
            f"only time step {i} is wrong (relative error {rel[i]:.2g}); the other "
            f"{length - 1} steps pass"
        ),
        hint=hint("slice", axis="time"),
        evidence=evidence,
        key=("index", "time", i),
        scope=_having(ctx, "time"),
    )


def rule_time(ctx: Context) -> list[Candidate]:
    """Errors confined to a range of steps along an axis named ``time`` (see the module)."""
    out = []
    for g in ctx.nonzero_wrong():
        if g.ann is None:
            continue
        for k, axis in enumerate(g.ann.axes):
            if axis.name == "time" and axis.labels is None and g.a.shape[k] >= 2:
                cand = _time_candidate(ctx, g, k)
                if cand is not None:
                    out.append(cand)
    return out
