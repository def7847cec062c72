"""Diagnosis: likely causes of a failed check, read from the structure of the errors.

:func:`diagnose` looks at the per-element analytic and numeric gradients of every input, at the
axis annotations (axis names, labelled blocks such as gates, group labels such as layers), at
the shapes and at the sizes the caller names, and states the patterns that hold on the numbers
(the rules live in the ``_diagnose_rules`` package, one module per family; the kinds are
:class:`~gradcheck.FindingKind`).

A finding is stated only when its evidence holds: "only these elements are wrong" when every
other element passes, "analytic = c x numeric" when every element agrees (an approximate ratio
only when far from 1 or a known factor, and not when inputs disagree on it), "a copy" when two
analytic arrays are bit-identical while their numeric gradients differ. No finding is better
than a wrong one: a failed check may have none.

Each candidate has a *quality* (how cleanly the pattern holds, 1 for an exact relation), a
*confidence* (:class:`~gradcheck.Confidence`) and a *coverage* (the share of the clearly wrong
inputs it explains, among those the rule can judge: for a rule on labelled blocks, the wrong
inputs that have that axis); the finding's score is ``quality * (0.6 + 0.4 * coverage)``.
Candidates of the same kind and key over several inputs merge into one finding; a finding is
dropped when an exact one (quality 1) already explains every input it names. Inputs that fail
only marginally (no element off by more than ``CLEAR_REL`` relative and twice its threshold) are
ignored, so rounding-level failures produce no finding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import combinations

import numpy as np

from ._diagnose_rules import RULES, Candidate, Context, Grad, fallback, residual
from ._diagnose_rules._base import CLEAR_REL
from ._result import Confidence, Finding, InputResult, Status

#: findings scoring below this are dropped
MIN_SCORE = 0.3
#: at most this many findings are returned
MAX_FINDINGS = 5
#: axis names whose lengths are tried as factors of a constant ratio, with their letter
FACTOR_AXES = {"batch": "N", "time": "T"}

Factor = tuple[float, str, str]


def _grad(position: int, r: InputResult) -> Grad | None:
    if r.checked == 0:
        return None
    a = np.asarray(r.analytic, dtype=np.float64)
    n_raw = np.asarray(r.numeric, dtype=np.float64)
    thr_raw = np.asarray(r.threshold, dtype=np.float64)
    status = np.asarray(r.status)
    # kinks are left out: their numeric value is no derivative
    mask = np.isfinite(n_raw) & np.isfinite(thr_raw) & np.isin(status, (Status.OK, Status.MISMATCH))
    n = np.where(mask, n_raw, 0.0)
    thr = np.where(mask, thr_raw, np.inf)
    err = np.abs(a - n)
    scale = np.maximum(np.abs(a), np.abs(n))
    clear = (status == Status.MISMATCH) & mask & (err > 2 * thr) & (err > CLEAR_REL * scale)
    _, rel = residual(a, n, thr, mask)
    return Grad(
        name=r.name,
        position=position,
        a=a,
        n=n,
        thr=thr,
        mask=mask,
        clear=clear,
        bad=clear | ((status == Status.MISMATCH) & mask),
        ann=r.annotation,
        failed=not r.passed,
        wrong=bool(clear.any()),
        rel=rel if math.isfinite(rel) else 0.0,
    )


def _sizes(grads: Mapping[str, Grad], given: Mapping[str, int]) -> dict[str, tuple[int, str]]:
    """Named sizes: the caller's, then the lengths of axes named batch (N) and time (T)."""
    sizes = {name: (int(v), "given in sizes") for name, v in given.items() if int(v) >= 2}
    for g in grads.values():
        if g.ann is None:
            continue
        for k, axis in enumerate(g.ann.axes):
            letter = FACTOR_AXES.get(axis.name or "")
            if letter is not None and letter not in sizes and g.a.shape[k] >= 2:
                sizes[letter] = (g.a.shape[k], f"the length of the {axis.name} axis of {g.name}")
    return sizes


def _factors(grads: Mapping[str, Grad], given: Mapping[str, int]) -> tuple[Factor, ...]:
    """Factors a constant ratio is matched against: (value, name, the sentence naming it)."""
    sizes = _sizes(grads, given)
    out: list[Factor] = []
    for name, (size, source) in sizes.items():
        out += [
            (float(size), name, f"{name} = {size} ({source})"),
            (1.0 / size, f"1/{name}", f"1/{name} with {name} = {size} ({source})"),
        ]
        if name in given:
            root = math.sqrt(size)
            out += [
                (root, f"sqrt({name})", f"sqrt({name}) with {name} = {size} ({source})"),
                (1 / root, f"1/sqrt({name})", f"1/sqrt({name}) with {name} = {size} ({source})"),
            ]
    for (x, (sx, src_x)), (y, (sy, src_y)) in combinations(sizes.items(), 2):
        src = src_x if src_x == src_y else f"{src_x} and {src_y}"
        with_ = f"with {x} = {sx}, {y} = {sy} ({src})"
        out += [
            (float(sx * sy), f"{x}*{y}", f"{x}*{y} {with_}"),
            (1.0 / (sx * sy), f"1/({x}*{y})", f"1/({x}*{y}) {with_}"),
        ]
    out += [(2.0, "2", "a factor 2"), (0.5, "1/2", "a factor 1/2"), (-1.0, "-1", "a sign")]
    return tuple(out)


def _inputs_text(names: list[str]) -> str:
    if len(names) <= 4:
        return ", ".join(names)
    return ", ".join(names[:3]) + f" and {len(names) - 3} more"


_RANK = {Confidence.EXACT: 0, Confidence.HIGH: 1, Confidence.LOW: 2}


def _finding(same: list[Candidate], ctx: Context, order: Mapping[str, int]) -> Finding | None:
    best = max(same, key=lambda c: (c.quality, -order[c.inputs[0]]))
    names = sorted({n for c in same for n in c.inputs}, key=order.__getitem__)
    wrong = set(ctx.wrong)
    scope = wrong if best.scope is None else wrong & set(best.scope)
    coverage = len(scope & set(names)) / len(scope) if scope else 0.0
    score = best.quality * (0.6 + 0.4 * coverage)
    if score < MIN_SCORE:
        return None
    primary = best.inputs[0]
    names = [primary] + [n for n in names if n != primary]
    summary = best.phrase
    if len(names) > 1:
        summary += f" (also {_inputs_text(names[1:])})"
    evidence = dict(best.evidence) | {
        "coverage": round(coverage, 4),
        "quality": round(best.quality, 4),
    }
    return Finding(
        kind=best.kind,
        input=primary,
        summary=summary,
        hint=best.hint,
        evidence=evidence,
        score=round(min(1.0, max(0.0, score)), 4),
        confidence=best.confidence,
        inputs=tuple(names),
        alternatives=best.alternatives,
    )


def _merge(candidates: list[Candidate], ctx: Context) -> list[Finding]:
    order = {name: g.position for name, g in ctx.grads.items()}
    merged: dict[tuple[object, ...], list[Candidate]] = {}
    for c in candidates:
        merged.setdefault((c.kind, *c.key), []).append(c)
    kept: list[tuple[Finding, float]] = []
    for same in merged.values():
        finding = _finding(same, ctx, order)
        if finding is not None:
            kept.append((finding, max(c.quality for c in same)))
    # an exact finding makes the approximate ones on the same inputs redundant
    exact = {n for f, quality in kept if quality == 1.0 for n in f.inputs}
    findings = [f for f, quality in kept if quality == 1.0 or not set(f.inputs) <= exact]
    findings.sort(key=lambda f: (-f.score, _RANK[f.confidence], order[f.input], f.kind))
    return findings[:MAX_FINDINGS]


def diagnose(
    inputs: Mapping[str, InputResult], *, sizes: Mapping[str, int] | None = None
) -> tuple[Finding, ...]:
    """Findings for the failed inputs of a check, best first (none when every input passed).

    Parameters
    ----------
    inputs : mapping of str to InputResult
        The per-input results of a check, in order.
    sizes : mapping of str to int, optional
        Named sizes (``{"T": 5, "N": 3}``) a constant ratio is matched against, with their
        products, inverses and square roots, when no input carries those axes. Already
        validated (``gradcheck.CheckOptions`` checks the ``sizes`` option).

    Examples
    --------
    >>> import numpy as np
    >>> from gradcheck import check_grad
    >>> x = np.arange(1.0, 7.0).reshape(2, 3)
    >>> r = check_grad(lambda x: float(np.sum(x**2)), lambda x: (x,), {"x": x})
    >>> f = r.findings[0]
    >>> f.kind.value, f.evidence["factor"], f.confidence.value
    ('constant_ratio', '1/2', 'exact')
    """
    grads: dict[str, Grad] = {}
    for position, r in enumerate(inputs.values()):
        g = _grad(position, r)
        if g is not None:
            grads[g.name] = g
    wrong = tuple(name for name, g in grads.items() if g.failed and g.wrong)
    if not wrong:
        return ()
    ctx = Context(grads=grads, wrong=wrong, factors=_factors(grads, sizes or {}))
    candidates: list[Candidate] = []
    for rule in RULES:
        candidates += rule(ctx)
    candidates += fallback(ctx, candidates)
    return tuple(_merge(candidates, ctx))
