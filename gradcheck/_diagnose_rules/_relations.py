"""Relations between arrays: one input's gradient is another's, a copy, a transpose, a reversal.

``wrong_input``      the analytic gradient of A is the numeric gradient of B (one way or
                     exchanged), or bit-identical to B's analytic gradient although their
                     numeric gradients differ (a copy: it holds whether or not B is right);
``swapped_blocks``   A and B exchanged, with the same axis meanings in two groups (layers);
``transposed``       the analytic gradient (or each square labelled block) transposed;
``reversed``         the analytic gradient reversed along one axis or two.

Qualities: :func:`relation_quality` (1 for an exact relation), 1 for a copy.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from .._annotations import AxisInfo
from .._result import Confidence, FindingKind
from ._base import (
    EXACT_THR,
    F64,
    Candidate,
    Context,
    Grad,
    Mask,
    bit_equal,
    how,
    relation_confidence,
    relation_quality,
    residual,
)
from ._hints import hint

# ---- copies: bit-identical analytic gradients -------------------------------------------------


def _copy_pairs(ctx: Context) -> list[tuple[Grad, Grad]]:
    """Same-shaped pairs, one of them wrong, with bit-identical analytic but different numeric."""
    pairs = []
    for ga, gb in combinations(ctx.grads.values(), 2):
        if ga.a.shape != gb.a.shape or not (ga.wrong or gb.wrong):
            continue
        if not bit_equal(ga.a, gb.a):
            continue
        both = ga.mask & gb.mask
        same, _ = residual(ga.n, gb.n, EXACT_THR * (ga.thr + gb.thr), both)
        if not same and both.any():
            pairs.append((ga, gb))
    return pairs


def copied_inputs(ctx: Context) -> set[str]:
    return {g.name for pair in _copy_pairs(ctx) for g in pair}


def rule_copies(ctx: Context) -> list[Candidate]:
    """Bit-identical analytic gradients of two inputs whose numeric gradients differ. Exact."""
    out = []
    for ga, gb in _copy_pairs(ctx):
        if ga.wrong and not gb.failed:
            copy, source = ga, gb
        elif gb.wrong and not ga.failed:
            copy, source = gb, ga
        else:
            copy, source = (ga, gb) if ga.wrong else (gb, ga)
            out.append(
                Candidate(
                    kind=FindingKind.WRONG_INPUT,
                    inputs=(copy.name, source.name),
                    quality=1.0,
                    confidence=Confidence.EXACT,
                    phrase=(
                        f"the analytic gradients of {copy.name} and {source.name} are "
                        "bit-identical although their numeric gradients differ (both fail the "
                        "check)"
                    ),
                    hint=hint("copy.both"),
                    evidence={"copies": [copy.name, source.name], "bit_identical": True},
                    key=("copy", copy.name, source.name),
                )
            )
            continue
        out.append(
            Candidate(
                kind=FindingKind.WRONG_INPUT,
                inputs=(copy.name,),
                quality=1.0,
                confidence=Confidence.EXACT,
                phrase=(
                    f"the analytic gradient of {copy.name} is a bit-identical copy of "
                    f"{source.name}'s, which is right; their numeric gradients differ"
                ),
                hint=hint("copy.one_way", a=copy.name, b=source.name),
                evidence={"copy_of": source.name, "bit_identical": True},
                key=("copy", copy.name, source.name),
            )
        )
    return out


# ---- the numeric gradient of another input ----------------------------------------------------


def _best_matches(ctx: Context) -> dict[str, tuple[str, float, bool, float]]:
    """For each wrong input, the other input whose numeric gradient its analytic one matches."""
    copied = copied_inputs(ctx)
    best: dict[str, tuple[str, float, bool, float]] = {}
    for ga in ctx.nonzero_wrong():
        if ga.name in copied:
            continue
        for gb in ctx.grads.values():
            if gb.name == ga.name or gb.a.shape != ga.a.shape:
                continue
            exact, res = residual(ga.a, gb.n, EXACT_THR * gb.thr, gb.mask)
            quality = relation_quality(exact, res, ga.rel)
            if quality > 0 and quality > best.get(ga.name, ("", 0.0, False, 0.0))[1]:
                best[ga.name] = (gb.name, quality, exact, res)
    return best


def _exchange(ga: Grad, gb: Grad, quality: float, exact: bool, res: float) -> Candidate:
    evidence: dict[str, object] = {
        "analytic_of": [ga.name, gb.name],
        "equals_numeric_of": [gb.name, ga.name],
        "residual": res,
        "exact": exact,
        "residual_in_place": [ga.rel, gb.rel],
    }
    sig = ga.signature()
    base = (
        f"the analytic gradients of {ga.name} and {gb.name} are each other's numeric gradients "
        f"({how(exact, res)})"
    )
    if sig is not None and sig == gb.signature() and ga.group != gb.group:
        groups = sorted([str(ga.group), str(gb.group)])
        return Candidate(
            kind=FindingKind.SWAPPED_BLOCKS,
            inputs=(ga.name, gb.name),
            quality=quality,
            confidence=relation_confidence(quality),
            phrase=f"{base}: {ga.group} and {gb.group} are exchanged",
            hint=hint("relation.groups", first=groups[0], second=groups[1]),
            evidence=evidence | {"groups": groups},
            key=("groups", *groups),
            relation=True,
        )
    return Candidate(
        kind=FindingKind.WRONG_INPUT,
        inputs=(ga.name, gb.name),
        quality=quality,
        confidence=relation_confidence(quality),
        phrase=base,
        hint=hint("relation.exchanged", a=ga.name, b=gb.name),
        evidence=evidence,
        key=("pair", ga.name, gb.name),
        relation=True,
    )


def rule_relations(ctx: Context) -> list[Candidate]:
    """analytic of A = numeric of B (same shape). Quality: :func:`relation_quality`.

    A mutual exchange between two inputs with the same axis meanings in two different groups is
    ``swapped_blocks`` (the groups are the blocks, e.g. layers); any other match is
    ``wrong_input``. Inputs whose analytic gradient is a copy are left to :func:`rule_copies`.
    """
    best = _best_matches(ctx)
    out = []
    done: set[str] = set()
    for a_name, (b_name, quality, exact, res) in best.items():
        if a_name in done:
            continue
        ga, gb = ctx.grads[a_name], ctx.grads[b_name]
        back = best.get(b_name)
        if back is not None and back[0] == a_name:
            done |= {a_name, b_name}
            q = min(quality, back[1])
            out.append(_exchange(ga, gb, q, exact and back[2], max(res, back[3])))
            continue
        done.add(a_name)
        out.append(
            Candidate(
                kind=FindingKind.WRONG_INPUT,
                inputs=(a_name,),
                quality=quality,
                confidence=relation_confidence(quality),
                phrase=(
                    f"the analytic gradient of {a_name} equals the numeric gradient of "
                    f"{b_name} ({how(exact, res)})"
                ),
                hint=hint("relation.one_way", a=a_name, b=b_name),
                evidence={
                    "analytic_of": a_name,
                    "equals_numeric_of": b_name,
                    "residual": res,
                    "exact": exact,
                    "residual_in_place": ga.rel,
                },
                key=("one-way", a_name, b_name),
                relation=True,
            )
        )
    return out


# ---- transposed -------------------------------------------------------------------------------


def _block_transpose(x: F64 | Mask, k: int, parts: int) -> F64 | Mask:
    """Transpose every square block of a 2-d array split along axis ``k`` into ``parts``."""
    rows, cols = x.shape
    if k == 1:
        return x.reshape(rows, parts, rows).transpose(2, 1, 0).reshape(rows, cols)
    return x.reshape(parts, cols, cols).transpose(0, 2, 1).reshape(rows, cols)


def _transpose_tries(g: Grad) -> list[tuple[str, F64, Mask, tuple[object, ...], str]]:
    rows, cols = g.a.shape
    tries: list[tuple[str, F64, Mask, tuple[object, ...], str]] = []
    if rows == cols >= 2:
        tries.append(("whole", g.a.T, g.mask & g.mask.T, ("whole",), "the analytic gradient"))
    axes: tuple[AxisInfo, ...] = g.ann.axes if g.ann is not None else ()
    for k, axis in enumerate(axes):
        if axis.labels is None:
            continue
        parts = len(axis.labels)
        width = g.a.shape[k] // parts
        if width != g.a.shape[1 - k] or width < 2:
            continue
        at = np.asarray(_block_transpose(g.a, k, parts), dtype=np.float64)
        mt = np.asarray(_block_transpose(g.mask, k, parts), dtype=bool)
        what = f"each ({width}, {width}) {g.axis_text(k)} block of the analytic gradient"
        tries.append(("blocks", at, g.mask & mt, ("blocks", axis.name), what))
    return tries


def rule_transposed(ctx: Context) -> list[Candidate]:
    """analytic = numeric transposed, whole (square) or per square labelled block."""
    out = []
    for g in ctx.nonzero_wrong():
        if g.a.ndim != 2:
            continue
        for scope, at, mask, key, what in _transpose_tries(g):
            exact, res = residual(at, g.n, EXACT_THR * g.thr, mask)
            quality = relation_quality(exact, res, g.rel)
            if quality == 0:
                continue
            out.append(
                Candidate(
                    kind=FindingKind.TRANSPOSED,
                    inputs=(g.name,),
                    quality=quality,
                    confidence=relation_confidence(quality),
                    phrase=(
                        f"{what} is the numeric one transposed ({how(exact, res)}; "
                        f"{g.rel:.2g} in place)"
                    ),
                    hint=hint("transposed"),
                    evidence={
                        "scope": scope,
                        "residual": res,
                        "exact": exact,
                        "residual_in_place": g.rel,
                    },
                    key=key,
                    relation=True,
                )
            )
    return out


# ---- reversed -------------------------------------------------------------------------------


def _flips(g: Grad) -> list[tuple[int, ...]]:
    """Single axes and pairs of axes of length 2 or more (pairs only up to rank 4)."""
    axes = [k for k in range(g.a.ndim) if g.a.shape[k] >= 2]
    out: list[tuple[int, ...]] = [(k,) for k in axes]
    if g.a.ndim <= 4:
        out += list(combinations(axes, 2))
    return out


def rule_reversed(ctx: Context) -> list[Candidate]:
    """analytic = numeric reversed along one axis (or two): a flipped kernel, a reversed loop."""
    out = []
    for g in ctx.nonzero_wrong():
        best: tuple[float, tuple[int, ...], bool, float] | None = None
        for axes in _flips(g):
            flipped = np.flip(g.a, axes)
            mask = g.mask & np.flip(g.mask, axes)
            exact, res = residual(flipped, g.n, EXACT_THR * g.thr, mask)
            quality = relation_quality(exact, res, g.rel)
            if quality > 0 and (best is None or quality > best[0]):
                best = (quality, axes, exact, res)
        if best is None:
            continue
        quality, axes, exact, res = best
        names = " and ".join(g.axis_text(k) for k in axes)
        out.append(
            Candidate(
                kind=FindingKind.REVERSED,
                inputs=(g.name,),
                quality=quality,
                confidence=relation_confidence(quality),
                phrase=(
                    f"the analytic gradient is the numeric one reversed along {names} "
                    f"({how(exact, res)}; {g.rel:.2g} in place)"
                ),
                hint=hint("reversed"),
                evidence={
                    "axes": list(axes),
                    "residual": res,
                    "exact": exact,
                    "residual_in_place": g.rel,
                },
                key=("reversed", len(axes)),
                relation=True,
            )
        )
    return out
