"""Inputs read together: one group of inputs wrong, or a weight wrong while its bias is right.

``block``        every wrong input is in one group while another group of the same structure is
                 right (quality 0.55, low: it locates the mistake without saying what it is);
``time_range``   a weight gradient wrong while its bias is right: its own sum combines the right
or               deltas wrongly, over only some of the steps or rows (a partial sum) or with
``wrong_input``  the wrong operand. One finding names both (``alternatives``): weight data alone
                 cannot tell them apart. The kind comes first that the size clue favours: a
                 shorter piece of the right sum reads as a partial sum first.

The bias is a right input of the *same annotated group* whose one axis longer than 1 is an axis
of the weight: ``(H,)``, ``(H, 1)`` or ``(1, H)`` against a weight of any rank. The bias sums the
same deltas as its weight, so a right bias means right deltas; only the group annotation says
which inputs are a layer's weight and bias (without it, a data input and a scale of the same
length would pair). Which axis the bias shares is read from the axis annotations when both
inputs have them, otherwise from the sizes, when exactly one axis of the weight has the bias's
length. Low confidence, quality 0.6.
"""

from __future__ import annotations

import numpy as np

from .._result import Confidence, FindingKind
from ._base import Candidate, Context, Grad, is_zero, join, norm
from ._hints import hint

#: the weight/bias rule calls a weight gradient "short" below this norm ratio
SHORT_SUM = 0.75


def _structure(ctx: Context, group: str) -> list[tuple[object, ...]]:
    roles = [
        tuple((x.name, x.labels) for x in g.ann.axes) if g.ann is not None else ()
        for g in ctx.grads.values()
        if g.group == group
    ]
    return sorted(roles, key=repr)


def rule_groups(ctx: Context) -> list[Candidate]:
    """Every wrong input in one group while another group of the same structure is right."""
    groups = {g.group for g in ctx.wrong_grads()}
    if len(groups) != 1 or None in groups:
        return []
    (group,) = groups
    assert group is not None
    shape = _structure(ctx, group)
    twins = sorted(
        {
            g.group
            for g in ctx.grads.values()
            if g.group is not None and g.group != group and _structure(ctx, g.group) == shape
        }
    )
    twins = [t for t in twins if not any(g.failed for g in ctx.grads.values() if g.group == t)]
    if not twins:
        return []
    return [
        Candidate(
            kind=FindingKind.BLOCK,
            inputs=tuple(ctx.wrong),
            quality=0.55,
            confidence=Confidence.LOW,
            phrase=(
                f"only inputs of {group} are wrong; {join(twins)}, with the same structure, "
                f"{'is' if len(twins) == 1 else 'are'} right"
            ),
            hint=hint("group.only", group=group),
            evidence={"group": group, "right_groups": twins},
            key=("group", group),
        )
    ]


def _vector_axis(g: Grad) -> int | None:
    """The one axis longer than 1 of a vector-shaped array (``(H,)``, ``(H, 1)``, ``(1, H)``)."""
    long = [k for k, n in enumerate(g.a.shape) if n > 1]
    return long[0] if len(long) == 1 else None


def bias_of(ctx: Context, w: Grad) -> tuple[Grad, int] | None:
    """A right vector input of ``w``'s group sharing exactly one axis with it, and that axis."""
    if w.group is None:
        return None
    for b in ctx.grads.values():
        if b is w or b.group != w.group or b.failed or not b.mask.any() or b.a.size > w.a.size:
            continue
        kb = _vector_axis(b)
        if kb is None:
            continue
        axes = [k for k in range(w.a.ndim) if w.a.shape[k] == b.a.shape[kb]]
        info = b.axis(kb)
        if info is not None and info.name is not None and w.ann is not None and w.ann.axes:
            axes = [k for k in axes if w.ann.axes[k] == info]
        if len(axes) == 1:
            return b, axes[0]
    return None


def rule_weight_bias(ctx: Context) -> list[Candidate]:
    """A weight gradient wrong while its bias is right: a partial sum or a wrong operand.

    Both are named in one finding. The size clue orders them: a sum over too few steps (or
    rows) is a piece of the full sum, shorter (``|a| < 0.75 |n|``) and not pointing away from it
    (``<a, n> >= 0.75 |a|^2``), averaged over the weights showing the pattern; it says which
    is the more likely, never which it is.
    """
    pairs: list[tuple[Grad, Grad, int, float, float]] = []
    for w in ctx.wrong_grads():
        if is_zero(w):
            continue
        partner = bias_of(ctx, w)
        if partner is None:
            continue
        b, k = partner
        a, n = w.a[w.mask], w.n[w.mask]
        ratio = norm(a) / max(norm(n), 1e-300)
        proj = float(np.sum(a * n)) / max(float(np.sum(a * a)), 1e-300)
        pairs.append((w, b, k, ratio, proj))
    if not pairs:
        return []
    mean_ratio = sum(p[3] for p in pairs) / len(pairs)
    mean_proj = sum(p[4] for p in pairs) / len(pairs)
    short = mean_ratio < SHORT_SUM and mean_proj >= SHORT_SUM
    first, second = FindingKind.TIME_RANGE, FindingKind.WRONG_INPUT
    causes = "a partial sum (a missing term) or a wrong operand"
    clue = "a shorter piece of the right sum, as a partial sum is"
    if not short:
        first, second = second, first
        causes = "a wrong operand or a partial sum (a missing term)"
        clue = "not a shorter piece of the right sum"
    out = []
    for w, b, k, ratio, proj in pairs:
        axis = w.axis_text(k)
        out.append(
            Candidate(
                kind=first,
                alternatives=(second,),
                inputs=(w.name,),
                quality=0.6,
                confidence=Confidence.LOW,
                phrase=(
                    f"{w.name} is wrong although {b.name}, which shares its {axis} axis, is "
                    f"right: {causes}; |analytic| = {ratio:.2g} x |numeric|, <analytic, "
                    f"numeric> = {proj:.2g} x |analytic|^2, {clue}"
                ),
                hint=hint(
                    "weight_bias.short" if short else "weight_bias.operand",
                    weight=w.name,
                    bias=b.name,
                ),
                evidence={
                    "bias": b.name,
                    "shared_axis": axis,
                    "norm_ratio": ratio,
                    "projection": proj,
                    "mean_norm_ratio": mean_ratio,
                    "mean_projection": mean_proj,
                    "shorter_piece": short,
                },
                key=("weight-bias",),
            )
        )
    return out
