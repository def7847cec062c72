"""Ratios: ``analytic = c * numeric`` at every element, or a ratio that varies on one side of 1.

A constant ratio is read element by element, never from a norm: a single wrong element that
dominates an array's norm is not a ratio. It is stated

* exactly (quality 1) when ``|a - c n| <= 2 max(1, |c|) threshold`` at every checked element;
* approximately (quality 0.85, confidence high) when every element is within 1% of ``c n`` (plus
  that tolerance), *and* ``c`` matches a known factor or is far from 1 (``c < 0``, ``c <= 0.8``
  or ``c >= 1.25``); an approximate ratio near 1 is what a small missing term or a few wrong
  elements produce, so it is no finding. Approximate ratios without a known factor are dropped
  altogether when two inputs disagree on them.

A ratio that varies but keeps one sign and one side of 1 at every informative element is read
as ``missing_term`` (quality 0.7, confidence low: several mistakes produce it). Below 1 (part
of the gradient missing) it names a partial sum too (``time_range``: a sum over only some of
the steps or rows), which gives the same numbers as a term left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._result import Confidence, FindingKind
from ._base import (
    APPROX_REL,
    EXACT_THR,
    F64,
    Candidate,
    Context,
    Grad,
    Mask,
    count,
)
from ._groups import bias_of
from ._hints import HINTS, hint

#: an approximate ratio without a known factor is stated only outside [1/FAR, FAR]
FAR = 1.25
#: a ratio that varies must stay this far on one side of 1 at every element
SIDE = 0.01
#: at least this many informative elements to read a ratio from
MIN_ELEMENTS = 2


@dataclass(frozen=True)
class Ratio:
    """``a = c n`` fitted on the informative elements and checked at every masked element."""

    c: float
    exact: bool
    approx: bool
    deviation: float
    elements: int


def fit_ratio(a: F64, n: F64, thr: F64, mask: Mask, informative: Mask) -> Ratio | None:
    """The least-squares ``c`` on the informative elements, verified element by element."""
    k = count(informative)
    if k < MIN_ELEMENTS:
        return None
    ai, ni = a[informative], n[informative]
    c = float(np.sum(ai * ni) / np.sum(ni * ni))
    if c == 0 or not math.isfinite(c):
        return None
    off = np.abs(a[mask] - c * n[mask])
    tol = EXACT_THR * max(1.0, abs(c)) * thr[mask]
    exact = bool(np.all(off <= tol))
    approx = bool(np.all(off <= tol + APPROX_REL * abs(c) * np.abs(n[mask])))
    deviation = float(np.max(np.abs(ai / (c * ni) - 1)))
    return Ratio(c, exact, approx, deviation, k)


def ratio_of(g: Grad) -> Ratio | None:
    return fit_ratio(g.a, g.n, g.thr, g.mask, g.informative)


def far_from_one(c: float) -> bool:
    return c < 0 or abs(math.log(c)) >= math.log(FAR)


def _factor_text(name: str, text: str) -> str:
    return ": the sign is flipped" if name == "-1" else f": that is {text}"


def _factor_hint(name: str, value: float) -> str:
    if f"ratio.{name}" in HINTS:
        return hint(f"ratio.{name}")
    if name.startswith("sqrt(") or name.startswith("1/sqrt("):
        return hint("ratio.sqrt", name=name.split("sqrt(")[1].rstrip(")"))
    if name.startswith("1/"):
        return hint("ratio.1/size", name=name[2:].strip("()"), value=f"{1 / value:.6g}")
    return hint("ratio.size", name=name, value=f"{value:.6g}")


def _ratio_candidate(g: Grad, fit: Ratio, ctx: Context) -> Candidate | None:
    c = fit.c
    tol = max(1e-6, 3 * fit.deviation)
    matches = [f for f in ctx.factors if abs(c - f[0]) <= tol * abs(f[0])]
    if not fit.exact and not matches and not far_from_one(c):
        return None
    where_ = "at every checked element"
    if not fit.exact:
        where_ += f" to within {max(fit.deviation, 1e-4):.1%}"
    phrase = f"analytic = {c:.6g} x numeric {where_} ({fit.elements} informative elements)"
    evidence: dict[str, object] = {
        "ratio": c,
        "deviation": fit.deviation,
        "exact": fit.exact,
        "elements": fit.elements,
    }
    if matches:
        value, name, text = matches[0]
        phrase += _factor_text(name, text)
        evidence |= {"factor": name, "factor_value": value, "factor_source": text}
        if len(matches) > 1:
            evidence["also_matches"] = [m[1] for m in matches[1:]]
            phrase += f" (or {', '.join(m[1] for m in matches[1:])}: the same value)"
        advice = _factor_hint(name, value)
        key: tuple[object, ...] = ("factor", name)
    else:
        evidence["factor"] = None
        advice = hint("ratio.other", value=f"{c:.4g}")
        key = ("ratio", f"{c:.4g}")
    return Candidate(
        kind=FindingKind.CONSTANT_RATIO,
        inputs=(g.name,),
        quality=1.0 if fit.exact else 0.85,
        confidence=Confidence.EXACT if fit.exact else Confidence.HIGH,
        phrase=phrase,
        hint=advice,
        evidence=evidence,
        key=key,
    )


def _disagree(found: list[tuple[Ratio, Candidate]]) -> bool:
    """Two approximate ratios without a known factor that differ beyond their deviations."""
    loose = [fit for fit, c in found if not fit.exact and c.evidence["factor"] is None]
    for i, x in enumerate(loose):
        for y in loose[i + 1 :]:
            if abs(x.c - y.c) > 3 * (x.deviation + y.deviation) * max(abs(x.c), abs(y.c)):
                return True
    return False


def rule_constant_ratio(ctx: Context) -> list[Candidate]:
    """analytic = c * numeric at every checked element (see the module docstring)."""
    found: list[tuple[Ratio, Candidate]] = []
    for g in ctx.nonzero_wrong():
        fit = ratio_of(g)
        if fit is None or not fit.approx or abs(fit.c - 1) <= 1e-3:
            continue
        cand = _ratio_candidate(g, fit, ctx)
        if cand is not None:
            found.append((fit, cand))
    if _disagree(found):
        found = [(f, c) for f, c in found if f.exact or c.evidence["factor"] is not None]
    return [c for _, c in found]


def rule_one_side(ctx: Context) -> list[Candidate]:
    """analytic / numeric of one sign, on one side of 1 at every informative element, varying.

    Every failing element must be informative (a clearly nonzero numeric value). Quality 0.7,
    confidence low. Not read for a weight whose bias is right: the deltas they share are right,
    so no factor of the chain product is missing (``rule_weight_bias`` reads those).
    """
    out = []
    for g in ctx.nonzero_wrong():
        fit = ratio_of(g)
        if (fit is not None and fit.approx) or bias_of(ctx, g) is not None:
            continue  # a constant ratio, or a weight whose deltas are right
        m = g.informative
        if count(m) < 3 or np.any(g.bad & ~m):
            continue
        q = g.a[m] / g.n[m]
        lo, hi = float(np.min(q)), float(np.max(q))
        if lo <= 0 or hi / lo < 1 + SIDE or not (lo > 1 + SIDE or hi < 1 - SIDE):
            continue
        above = lo > 1
        out.append(
            Candidate(
                kind=FindingKind.MISSING_TERM,
                alternatives=() if above else (FindingKind.TIME_RANGE,),
                inputs=(g.name,),
                quality=0.7,
                confidence=Confidence.LOW,
                phrase=(
                    f"analytic / numeric lies between {lo:.3g} and {hi:.3g} at every element: "
                    f"one sign, always {'larger' if above else 'smaller'}, never constant"
                    + ("" if above else ": a term left out, or a sum over only some steps or rows")
                ),
                hint=hint("partial.above" if above else "partial.below"),
                evidence={"min_ratio": lo, "max_ratio": hi, "elements": count(m)},
                key=("partial", "above" if above else "below"),
            )
        )
    return out
