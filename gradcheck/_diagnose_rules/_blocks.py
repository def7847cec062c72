"""Labelled blocks (a packed weight's gates): exchanged, copied, zero, or one block standing out.

Read over every wrong input that has an axis with labels (``("gate", ("i", "f", "o", "g"))``):

* ``swapped_blocks``: analytic block i ~ numeric block j and j ~ i. For each pair, the ratio of
  the exchanged residual to the smaller in-place one (0 exact, capped at 1) is averaged over
  those inputs; quality is 1 minus that mean, for the best pair, when at least 0.3 and the ratio
  is under 1/2 in at least one input. When the inputs span several groups (layers) it is also
  read within each group: in a stack, the layers below the one where the mistake enters receive
  a wrong upstream gradient too, which hides the exchange there.
* ``block`` (copy): two analytic blocks bit-identical although their numeric blocks differ;
  quality 1, exact. It holds whether or not the source block is right.
* ``missing_term``: the analytic is exactly zero in two or more blocks (numeric is not); quality
  0.95 times the share of those inputs with the same zero blocks.
* ``block``: one block is the worst in most inputs; quality is the mean over those inputs of how
  much it stands out (1 - median error of the other blocks / its error; 0 in the inputs where
  another block is worse). Not reported for a block of an exchanged pair. Confidence high from
  quality 0.9 ("the error sits in"), low below ("the error is largest in").
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from .._annotations import AxisInfo
from .._result import Confidence, FindingKind
from ._base import (
    EXACT_THR,
    Candidate,
    Context,
    Grad,
    bit_equal,
    block_text,
    is_zero,
    join,
    relation_confidence,
    residual,
    slices,
)
from ._hints import hint

#: a block counts as wrong when its relative error exceeds this
BLOCK_REL = 0.01


class Blocks:
    """One wrong input's blocks along one labelled axis: residuals of every pairing."""

    def __init__(self, g: Grad, k: int, axis: AxisInfo) -> None:
        labels = axis.labels or ()
        self.g, self.k, self.axis, self.labels = g, k, axis, labels
        parts = len(labels)
        self.sl = slices(g.a.ndim, k, parts, g.a.shape[k])
        self.res = np.full((parts, parts), math.inf)
        self.exact = np.zeros((parts, parts), dtype=bool)
        for i in range(parts):
            for j in range(parts):
                ok, r = residual(
                    g.a[self.sl[i]],
                    g.n[self.sl[j]],
                    EXACT_THR * g.thr[self.sl[j]],
                    g.mask[self.sl[i]] & g.mask[self.sl[j]],
                )
                self.res[i, j], self.exact[i, j] = r, ok
        self.diag = np.array([r if math.isfinite(r) else 0.0 for r in np.diag(self.res)])
        self.zero = tuple(
            j
            for j in range(parts)
            if not np.any(g.a[self.sl[j]]) and np.any(g.n[self.sl[j]][g.mask[self.sl[j]]] != 0)
        )

    def text(self, j: int) -> str:
        return block_text(self.axis, self.labels[j])

    def right(self, j: int) -> bool:
        """Whether block ``j`` passes the check (no failing element)."""
        return not self.g.bad[self.sl[j]].any()

    def swap_ratio(self, i: int, j: int) -> float:
        """Residual of blocks i, j exchanged over the residual in place (0 exact, capped at 1).

        Both blocks must be wrong in place: the smaller of their residuals is the reference.
        """
        if self.exact[i, j] and self.exact[j, i]:
            return 0.0
        res = max(self.res[i, j], self.res[j, i])
        in_place = min(self.diag[i], self.diag[j])
        return min(1.0, res / in_place) if in_place > 0 and math.isfinite(res) else 1.0

    def stand_out(self, j: int) -> float:
        """How much block ``j`` stands out: 1 - median of the others' errors / its error.

        0 unless ``j`` is the worst block (ties count for the first).
        """
        worst = int(np.argmax(self.diag))
        if worst != j or self.diag[j] <= 0:
            return 0.0
        others = np.delete(self.diag, j)
        return float(1 - np.median(others) / self.diag[j])

    def source(self, j: int) -> tuple[int, bool, float] | None:
        """Another block whose numeric gradient the analytic block ``j`` copies."""
        others = [i for i in range(len(self.labels)) if i != j and math.isfinite(self.res[j, i])]
        if not others:
            return None
        i = min(others, key=lambda i: self.res[j, i])
        exact, res = bool(self.exact[j, i]), float(self.res[j, i])
        if exact or res < 0.25 * self.diag[j]:
            return i, exact, res
        return None

    def copies(self) -> list[tuple[int, int]]:
        """Pairs of blocks with bit-identical analytic values and different numeric values."""
        g, out = self.g, []
        for i in range(len(self.labels)):
            for j in range(i + 1, len(self.labels)):
                si, sj = self.sl[i], self.sl[j]
                if not bit_equal(g.a[si], g.a[sj]):
                    continue
                both = g.mask[si] & g.mask[sj]
                same, _ = residual(g.n[si], g.n[sj], EXACT_THR * (g.thr[si] + g.thr[sj]), both)
                if both.any() and not same:
                    out.append((i, j))
        return out


def _entries(ctx: Context) -> dict[tuple[object, ...], list[Blocks]]:
    entries: dict[tuple[object, ...], list[Blocks]] = {}
    for g in ctx.wrong_grads():
        if g.ann is None or is_zero(g):
            continue
        for k, axis in enumerate(g.ann.axes):
            if axis.labels is not None and len(axis.labels) >= 2:
                entries.setdefault((axis.name, axis.labels), []).append(Blocks(g, k, axis))
    return entries


def _swapped(
    entries: list[Blocks], everyone: list[Blocks] | None = None
) -> tuple[Candidate | None, tuple[int, int] | None]:
    """The best exchanged pair over ``entries`` (one group's, or every input's with the axis).

    ``everyone`` is every input with the axis, when ``entries`` are one group's: the scope of
    the coverage, and the count the phrase gives.
    """
    everyone = everyone or entries
    first = entries[0]
    labels, name, total = first.labels, first.axis.name or "block", len(entries)
    pairs = [(i, j) for i in range(len(labels)) for j in range(i + 1, len(labels))]
    if not pairs:
        return None, None
    ratios = {p: [e.swap_ratio(*p) for e in entries] for p in pairs}
    i, j = min(pairs, key=lambda p: sum(ratios[p]))
    quality = 1 - sum(ratios[(i, j)]) / total
    hits = [e for e, r in zip(entries, ratios[(i, j)], strict=True) if r < 0.5]
    if quality < 0.3 or not hits:
        return None, None
    e = min(entries, key=lambda e: e.swap_ratio(i, j))
    res = max(e.res[i, j], e.res[j, i])
    names = (e.g.name,) + tuple(h.g.name for h in hits if h is not e)
    ti, tj = first.text(i), first.text(j)
    shows = f"shows in {len(hits)} of {total} inputs with a {name} axis"
    if everyone is not entries:
        shows = (
            f"shows in {len(hits)} of the {total} inputs of {first.g.group} with a {name} axis "
            f"({len(everyone)} in all)"
        )
    cand = Candidate(
        kind=FindingKind.SWAPPED_BLOCKS,
        inputs=names,
        quality=quality,
        confidence=relation_confidence(quality),
        phrase=(
            f"the analytic {ti} and {tj} blocks match the numeric {tj} and {ti} (residual "
            f"{res:.2g}, against {e.diag[i]:.2g} and {e.diag[j]:.2g} in place); the exchange "
            + shows
        ),
        hint=hint("blocks.swapped", first=ti, second=tj, axis=name),
        evidence={
            "axis": name,
            "blocks": [labels[i], labels[j]],
            "residual": float(res),
            "residual_in_place": [float(e.diag[i]), float(e.diag[j])],
            "ratio_by_input": {x.g.name: r for x, r in zip(entries, ratios[(i, j)], strict=True)},
        },
        key=("swap", name, labels, i, j),
        scope=tuple(x.g.name for x in everyone),
        relation=True,
    )
    return cand, (i, j)


def _swapped_by_group(entries: list[Blocks]) -> list[Candidate]:
    """The exchange read within each group (layer) too, when the inputs span several.

    In a stack, a layer below the one where the mistake enters also receives a wrong upstream
    gradient, which can hide the exchange there; within the group that shows it, it holds.
    """
    groups = sorted({e.g.group for e in entries if e.g.group is not None})
    if len(groups) < 2:
        return []
    out = []
    for group in groups:
        cand, _ = _swapped([e for e in entries if e.g.group == group], entries)
        if cand is not None:
            out.append(cand)
    return out


def _zero_blocks(ctx: Context, entries: list[Blocks]) -> list[Candidate]:
    """Two or more blocks exactly zero: a path into a quantity they share is missing."""
    first = entries[0]
    labels, name, total = first.labels, first.axis.name or "block", len(entries)
    scope = tuple(e.g.name for e in entries)
    out = []
    for zero, hits_count in Counter(e.zero for e in entries if len(e.zero) >= 2).items():
        hits = [e for e in entries if e.zero == zero]
        groups = {e.g.group for e in hits}
        also = [g.name for g in ctx.wrong_grads() if is_zero(g) and g.group in groups and g.group]
        rest = [first.text(j) for j in range(len(labels)) if j not in zero]
        zero_text = join([first.text(j) for j in zero])
        phrase = (
            f"the analytic gradient is exactly zero in {zero_text} (numeric is not) and "
            f"nonzero in {join(rest)}, in {hits_count} of {total} inputs with a {name} axis"
        )
        if also:
            phrase += f"; {join(also)} {'is' if len(also) == 1 else 'are'} entirely zero"
        out.append(
            Candidate(
                kind=FindingKind.MISSING_TERM,
                inputs=tuple(e.g.name for e in hits) + tuple(also),
                quality=0.95 * hits_count / total,
                confidence=Confidence.EXACT if hits_count == total else Confidence.HIGH,
                phrase=phrase,
                hint=hint("blocks.zero_path", blocks=zero_text),
                evidence={
                    "axis": name,
                    "zero_blocks": [labels[j] for j in zero],
                    "zero_inputs": also,
                },
                key=("zero-blocks", name, labels, zero),
                scope=scope + tuple(also),
            )
        )
    return out


def _block_copies(entries: list[Blocks]) -> list[Candidate]:
    """Bit-identical analytic blocks whose numeric blocks differ: one is computed as the other."""
    out = []
    scope = tuple(e.g.name for e in entries)
    for e in entries:
        for i, j in e.copies():
            right = [x for x in (i, j) if e.right(x)]
            ti, tj = e.text(i), e.text(j)
            if right:
                source = right[0]
                copy = j if source == i else i
                phrase = (
                    f"the analytic {e.text(copy)} block is a bit-identical copy of the analytic "
                    f"{e.text(source)} block, which is right; their numeric gradients differ"
                )
                advice = hint("block.copied_numeric", block=e.text(copy), source=e.text(source))
            else:
                phrase = (
                    f"the analytic {ti} and {tj} blocks are bit-identical although their "
                    "numeric gradients differ (both fail the check)"
                )
                advice = hint("block.copied_analytic", first=ti, second=tj)
            out.append(
                Candidate(
                    kind=FindingKind.BLOCK,
                    inputs=(e.g.name,),
                    quality=1.0,
                    confidence=Confidence.EXACT,
                    phrase=phrase,
                    hint=advice,
                    evidence={
                        "axis": e.axis.name or "block",
                        "copies": [e.labels[i], e.labels[j]],
                        "bit_identical": True,
                    },
                    key=("copy", e.axis.name, e.labels, i, j),
                    scope=scope,
                )
            )
    return out


def _worst_block(
    entries: list[Blocks], swapped: tuple[int, int] | None
) -> tuple[int, int, list[float]] | None:
    worst = Counter(int(np.argmax(e.diag)) for e in entries if np.max(e.diag) >= BLOCK_REL)
    if not worst:
        return None
    j, agree = worst.most_common(1)[0]
    if swapped is not None and j in swapped:
        return None
    if any(j in e.zero and len(e.zero) >= 2 for e in entries):
        return None  # one of several zero blocks: a missing path, read by _zero_blocks
    stand = [e.stand_out(j) for e in entries]
    if sum(stand) <= 0:
        return None
    return j, agree, stand


def _stand_out(entries: list[Blocks], swapped: tuple[int, int] | None) -> list[Candidate]:
    found = _worst_block(entries, swapped)
    if found is None:
        return []
    j, agree, stand = found
    total = len(entries)
    quality = sum(stand) / total
    e = entries[int(np.argmax(stand))]
    name, tj = e.axis.name or "block", e.text(j)
    others = float(np.median(np.delete(e.diag, j)))
    where_ = "sits in" if quality >= 0.9 else "is largest in"
    phrase = (
        f"the error {where_} {tj}: relative error {e.diag[j]:.2g} there, {others:.2g} (median) "
        f"in the other blocks; {tj} is the worst block in {agree} of {total} inputs with a "
        f"{name} axis"
    )
    evidence: dict[str, object] = {
        "axis": name,
        "block": e.labels[j],
        "relative_error_by_block": {lab: float(r) for lab, r in zip(e.labels, e.diag, strict=True)},
        "stand_out_by_input": {x.g.name: s for x, s in zip(entries, stand, strict=True)},
        "worst_in": agree,
        "inputs_with_axis": total,
    }
    confidence = Confidence.HIGH if quality >= 0.9 else Confidence.LOW
    source = e.source(j)
    if j in e.zero:
        phrase = f"the analytic {tj} block is exactly zero; " + phrase
        advice = hint("block.zero", block=tj)
        evidence["zero"] = True
        confidence = Confidence.EXACT
    elif source is not None:
        i, exact, res = source
        how = "exactly" if exact else f"to a relative residual of {res:.2g}"
        phrase = f"the analytic {tj} equals the numeric {e.text(i)} ({how}); " + phrase
        advice = hint("block.copied_numeric", block=tj, source=e.text(i))
        evidence |= {"copied_from": e.labels[i], "copy_residual": res}
        if exact:
            confidence = Confidence.EXACT
    else:
        advice = hint("block.slip", block=tj)
    names = (e.g.name,) + tuple(
        x.g.name for x, s in zip(entries, stand, strict=True) if s > 0 and x is not e
    )
    return [
        Candidate(
            kind=FindingKind.BLOCK,
            inputs=names,
            quality=quality,
            confidence=confidence,
            phrase=phrase,
            hint=advice,
            evidence=evidence,
            key=("block", name, e.labels, j),
            scope=tuple(x.g.name for x in entries),
        )
    ]


def rule_blocks(ctx: Context) -> list[Candidate]:
    """Patterns along labelled axes, read over every wrong input that has the axis."""
    out: list[Candidate] = []
    for entries in _entries(ctx).values():
        swap, swapped = _swapped(entries)
        if swap is not None:
            out.append(swap)
        out += _swapped_by_group(entries)
        out += _zero_blocks(ctx, entries)
        out += _block_copies(entries)
        out += _stand_out(entries, swapped)
    return out
