"""Diagnosis: likely causes of a failed check, read from the structure of the errors.

:func:`diagnose` looks at the per-element analytic and numeric gradients of every input, at the
axis annotations (axis names, labelled blocks such as gates, group labels such as layers) and at
the shapes, and names the patterns that usually betray a kind of mistake (the rules live in
``_diagnose_rules``):

``all_zero``        the analytic gradient is exactly zero where the numeric one is not;
``constant_ratio``  analytic = c * numeric, c matched against simple factors (batch or time
                    length from the annotations, 2, 1/2, -1);
``wrong_input``     the analytic gradient of one input is the numeric gradient of another;
``swapped_blocks``  two labelled blocks (or two groups) exchanged;
``transposed``      the analytic gradient (or each square block of it) is the numeric one
                    transposed;
``block``           the error sits in one labelled block (or one group, one index of a named
                    axis);
``time_range``      the error sits in a range of time steps, or a weight gradient is wrong while
                    the bias that shares its deltas is right and is a piece of the right sum;
``missing_term``    the analytic gradient misses an element-wise factor, several blocks get no
                    gradient at all, or the error spreads over everything with no simpler
                    pattern.

Each candidate has a *quality* (how cleanly the pattern holds, 1 for an exact relation) and a
*coverage* (the share of the clearly wrong inputs it explains, among those the rule can judge:
for a rule on labelled blocks, the wrong inputs that have that axis); the finding's score is
``quality * (0.6 + 0.4 * coverage)``. Candidates of the same kind and key over several inputs
merge into one finding; a finding is dropped when an exact one (quality 1) already explains every
input it names. Inputs that fail only marginally (no element off by more than
:data:`CLEAR_REL` relative and twice its threshold) are ignored, so rounding-level failures
produce no finding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ._diagnose_base import Candidate, Context, Grad, residual
from ._diagnose_rules import RULES, fallback
from ._result import Finding, InputResult, Status

#: an element is clearly wrong when its relative error exceeds this (and twice its threshold)
CLEAR_REL = 1e-3
#: findings scoring below this are dropped
MIN_SCORE = 0.3
#: at most this many findings are returned
MAX_FINDINGS = 5
#: axis names whose lengths are tried as factors of a constant ratio, with their letter
FACTOR_AXES = {"batch": "N", "time": "T"}


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
        ann=r.annotation,
        failed=not r.passed,
        wrong=bool(clear.any()),
        rel=rel if math.isfinite(rel) else 0.0,
    )


def _factors(grads: Mapping[str, Grad]) -> tuple[tuple[float, str, str], ...]:
    """Simple factors a constant ratio is matched against: (value, name, where it comes from)."""
    lengths: dict[str, tuple[int, str]] = {}
    for g in grads.values():
        if g.ann is None:
            continue
        for k, axis in enumerate(g.ann.axes):
            letter = FACTOR_AXES.get(axis.name or "")
            if letter is not None and letter not in lengths and g.a.shape[k] >= 2:
                lengths[letter] = (g.a.shape[k], f"the length of the {axis.name} axis of {g.name}")
    out: list[tuple[float, str, str]] = []
    for letter, (size, source) in lengths.items():
        out += [(float(size), letter, source), (1.0 / size, f"1/{letter}", source)]
    if len(lengths) == 2:
        (n_size, n_src), (t_size, t_src) = lengths["N"], lengths["T"]
        both = f"{n_src} and {t_src}"
        out += [(float(n_size * t_size), "N*T", both), (1.0 / (n_size * t_size), "1/(N*T)", both)]
    out += [(2.0, "2", "a simple factor"), (0.5, "1/2", "a simple factor")]
    out += [(-1.0, "-1", "a sign")]
    return tuple(out)


def _inputs_text(names: list[str]) -> str:
    if len(names) <= 4:
        return ", ".join(names)
    return ", ".join(names[:3]) + f" and {len(names) - 3} more"


def _merge(candidates: list[Candidate], ctx: Context) -> list[Finding]:
    order = {name: g.position for name, g in ctx.grads.items()}
    merged: dict[tuple[object, ...], list[Candidate]] = {}
    for c in candidates:
        merged.setdefault((c.kind, *c.key), []).append(c)
    wrong = set(ctx.wrong)
    kept: list[tuple[Finding, set[str], float]] = []
    for same in merged.values():
        best = max(same, key=lambda c: (c.quality, -order[c.inputs[0]]))
        names = sorted({n for c in same for n in c.inputs}, key=order.__getitem__)
        scope = wrong if best.scope is None else wrong & set(best.scope)
        coverage = len(scope & set(names)) / len(scope) if scope else 0.0
        score = best.quality * (0.6 + 0.4 * coverage)
        if score < MIN_SCORE:
            continue
        primary = best.inputs[0]
        others = [n for n in names if n != primary]
        summary = best.phrase
        if others:
            summary += f" (also {_inputs_text(others)})"
        evidence = dict(best.evidence)
        evidence |= {
            "inputs": names,
            "coverage": round(coverage, 4),
            "quality": round(best.quality, 4),
        }
        finding = Finding(
            kind=best.kind,
            input=primary,
            summary=summary,
            hint=best.hint,
            evidence=evidence,
            score=round(min(1.0, max(0.0, score)), 4),
        )
        kept.append((finding, set(names), best.quality))
    # an exact finding makes the approximate ones on the same inputs redundant
    exact = {n for _, names_, quality in kept if quality == 1.0 for n in names_}
    findings = [f for f, names_, quality in kept if quality == 1.0 or not names_ <= exact]
    findings.sort(key=lambda f: (-f.score, order[f.input], f.kind))
    return findings[:MAX_FINDINGS]


def diagnose(inputs: Mapping[str, InputResult]) -> tuple[Finding, ...]:
    """Findings for the failed inputs of a check, best first (none when every input passed).

    Examples
    --------
    >>> import numpy as np
    >>> from gradcheck import check_grad
    >>> x = np.arange(1.0, 7.0).reshape(2, 3)
    >>> r = check_grad(lambda x: float(np.sum(x**2)), lambda x: (x,), {"x": x})
    >>> f = r.findings[0]
    >>> f.kind, f.evidence["factor"]
    ('constant_ratio', '1/2')
    """
    grads: dict[str, Grad] = {}
    for position, r in enumerate(inputs.values()):
        g = _grad(position, r)
        if g is not None:
            grads[g.name] = g
    wrong = tuple(name for name, g in grads.items() if g.failed and g.wrong)
    if not wrong:
        return ()
    ctx = Context(grads=grads, wrong=wrong, factors=_factors(grads))
    candidates: list[Candidate] = []
    for rule in RULES:
        candidates += rule(ctx)
    candidates += fallback(ctx, candidates)
    return tuple(_merge(candidates, ctx))
