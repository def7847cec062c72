"""The rules of the diagnosis: each reads the gradients and returns candidate findings.

Every rule is generic: it knows shapes, axis names (``"time"``, ``"batch"``...), labelled blocks
(``("gate", ("i", "f", "o", "g"))``) and group labels (``"layer 1"``), never a particular model.
Qualities are documented at each rule; see ``_diagnose`` for how they are ranked.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from ._annotations import AxisInfo
from ._diagnose_base import F64, Candidate, Context, Grad, Mask, norm, relation_quality, residual

#: a block or step counts as wrong when its relative error exceeds this
BLOCK_REL = 0.01
#: the weight/bias rule calls a weight gradient "short" below this norm ratio
SHORT_SUM = 0.75


def _is_zero(g: Grad) -> bool:
    top = float(np.max(np.abs(g.n[g.mask]), initial=0.0))
    return top > 0 and float(np.max(np.abs(g.a), initial=0.0)) <= 1e-12 * top


def _axis_text(axis: AxisInfo | None, k: int) -> str:
    return axis.name if axis is not None and axis.name else f"axis {k}"


def _block_text(axis: AxisInfo, label: str) -> str:
    return f"{axis.name} {label}" if axis.name else f"block {label}"


def _join(words: Sequence[str]) -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _slices(ndim: int, k: int, count: int, length: int) -> list[tuple[slice, ...]]:
    width = length // count
    return [
        tuple(slice(j * width, (j + 1) * width) if d == k else slice(None) for d in range(ndim))
        for j in range(count)
    ]


# ---- all_zero -------------------------------------------------------------------------------


def rule_all_zero(ctx: Context) -> list[Candidate]:
    """Analytic exactly zero (to 1e-12 of the numeric's largest element). Quality 1."""
    zero = [g for g in ctx.wrong_grads() if _is_zero(g)]
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
        hint = (
            f"Every input of {_join(whole)} gets a zero gradient: no gradient reaches "
            f"{'this group' if len(whole) == 1 else 'these groups'} at all. The upstream "
            "gradient is not passed into it (dropped, or replaced by zeros, before its backward "
            "pass runs)."
        )
    else:
        hint = (
            "A gradient that is never accumulated: initialised to zero and never added to, "
            "returned before the loop that fills it, or accumulated into a copy instead of the "
            "returned array."
        )
    out = []
    for g in zero:
        top = float(np.max(np.abs(g.n[g.mask])))
        out.append(
            Candidate(
                kind="all_zero",
                inputs=(g.name,),
                quality=1.0,
                phrase=(
                    "the analytic gradient is exactly zero while the numeric one is not "
                    f"(largest |numeric| {top:.3g})"
                ),
                hint=hint,
                evidence={
                    "max_abs_analytic": float(np.max(np.abs(g.a), initial=0.0)),
                    "max_abs_numeric": top,
                    "groups": whole,
                },
                key=("zero",),
            )
        )
    return out


# ---- constant_ratio -------------------------------------------------------------------------


def _fit_ratio(g: Grad) -> tuple[float, float, bool, int] | None:
    """Least-squares ``c`` in ``a = c n``, the relative spread, exactness and informative count."""
    m = g.mask
    a, n, thr = g.a[m], g.n[m], g.thr[m]
    nn = float(np.sum(n * n))
    if nn == 0:
        return None
    c = float(np.sum(a * n)) / nn
    if c == 0:
        return None
    r = a - c * n
    exact = bool(np.all(np.abs(r) <= 2 * max(1.0, abs(c)) * thr))
    spread = norm(r) / (abs(c) * math.sqrt(nn))
    informative = int(np.count_nonzero(np.abs(n) > thr))
    return c, spread, exact, informative


_RATIO_HINTS = {
    "N": (
        "A sum where a mean belongs: the loss averages over the batch but this gradient was not "
        "divided by N (the 1/N of the mean is missing from the loss gradient)."
    ),
    "1/N": (
        "A mean over the batch where a sum belongs: this gradient was divided by N once too "
        "often (np.mean over the batch axis in the backward pass, or 1/N applied twice)."
    ),
    "T": (
        "A sum over time where a mean belongs: the loss averages over the time steps but this "
        "gradient was not divided by T."
    ),
    "1/T": (
        "A mean over time where a sum belongs: this gradient averages the per-step "
        "contributions instead of summing them (or divides by T twice)."
    ),
    "N*T": (
        "The loss averages over batch and time but this gradient was divided by neither N nor T."
    ),
    "1/(N*T)": (
        "A mean over batch and time where a sum belongs: this gradient was divided by N*T once "
        "too often."
    ),
    "2": (
        "Twice the true gradient: a term counted twice (accumulated in two places), or the "
        "derivative of a square taken as 2x where the loss has a factor 1/2."
    ),
    "1/2": (
        "Half the true gradient: a factor 2 is missing (the derivative of x**2 taken as x), or "
        "one of two equal contributions is left out."
    ),
    "-1": (
        "The sign is flipped: the gradient of the negated loss, a residual taken as "
        "(target - prediction), or a subtraction where an addition belongs."
    ),
}


def rule_constant_ratio(ctx: Context) -> list[Candidate]:
    """analytic = c * numeric. Quality 1 within the check's thresholds, 0.85 with spread < 1%.

    Half that when a single element informs the fit.
    """
    out = []
    for g in ctx.wrong_grads():
        if _is_zero(g):
            continue
        fit = _fit_ratio(g)
        if fit is None:
            continue
        c, spread, exact, informative = fit
        if not (exact or spread < 0.01) or abs(c - 1) <= 1e-3 or informative == 0:
            continue
        quality = 1.0 if exact else 0.85
        if informative < 2:
            quality /= 2
        tol = max(1e-6, 3 * spread)
        matches = [(v, name, src) for v, name, src in ctx.factors if abs(c - v) <= tol * abs(v)]
        phrase = (
            f"analytic = {c:.6g} x numeric at every checked element (relative spread {spread:.1e})"
        )
        evidence: dict[str, object] = {
            "ratio": c,
            "spread": spread,
            "exact": exact,
            "elements": int(np.count_nonzero(g.mask)),
        }
        if matches:
            value, name, source = matches[0]
            evidence.update(factor=name, factor_value=value, factor_source=source)
            if len(matches) > 1:
                evidence["also_matches"] = [m[1] for m in matches[1:]]
            letters = [x for x in ("N", "T") if x in name]
            if letters:
                sizes = ", ".join(
                    f"{x} = {int(round(v))}" for x in letters for v, nm, _ in ctx.factors if nm == x
                )
                phrase += f": that is {name} with {sizes} ({source})"
            elif name == "-1":
                phrase += ": the sign is flipped"
            else:
                phrase += f": that is a factor {name}"
            hint = _RATIO_HINTS[name]
            key: tuple[object, ...] = ("factor", name)
        else:
            evidence["factor"] = None
            hint = (
                f"A constant factor {c:.4g} is wrong: a scale, a normalisation or a "
                "hyper-parameter multiplied into the gradient (or missing from it)."
            )
            key = ("ratio", f"{c:.4g}")
        out.append(Candidate("constant_ratio", (g.name,), quality, phrase, hint, evidence, key))
    return out


# ---- wrong_input and swapped groups ----------------------------------------------------------


def rule_relations(ctx: Context) -> list[Candidate]:
    """analytic of A = numeric of B (same shape). Quality: :func:`relation_quality`.

    A mutual exchange between two inputs with the same axis meanings in two different groups is
    ``swapped_blocks`` (the groups are the blocks, e.g. layers); any other match is
    ``wrong_input``.
    """
    best: dict[str, tuple[str, float, bool, float]] = {}
    for ga in ctx.wrong_grads():
        if _is_zero(ga):
            continue
        for gb in ctx.grads.values():
            if gb.name == ga.name or gb.a.shape != ga.a.shape:
                continue
            exact, res = residual(ga.a, gb.n, 2 * gb.thr, gb.mask)
            quality = relation_quality(exact, res, ga.rel)
            if quality > 0 and quality > best.get(ga.name, ("", 0.0, False, 0.0))[1]:
                best[ga.name] = (gb.name, quality, exact, res)
    out = []
    done: set[str] = set()
    for a_name, (b_name, quality, exact, res) in best.items():
        if a_name in done:
            continue
        ga, gb = ctx.grads[a_name], ctx.grads[b_name]
        how = "exactly" if exact else f"to a relative residual of {res:.2g}"
        back = best.get(b_name)
        if back is not None and back[0] == a_name:
            done |= {a_name, b_name}
            quality = min(quality, back[1])
            evidence: dict[str, object] = {
                "analytic_of": [a_name, b_name],
                "equals_numeric_of": [b_name, a_name],
                "residual": max(res, back[3]),
                "exact": exact and back[2],
                "residual_in_place": [ga.rel, gb.rel],
            }
            sig = ga.signature()
            if sig is not None and sig == gb.signature() and ga.group != gb.group:
                groups = sorted([str(ga.group), str(gb.group)])
                out.append(
                    Candidate(
                        "swapped_blocks",
                        (a_name, b_name),
                        quality,
                        f"the analytic gradients of {a_name} and {b_name} are each other's "
                        f"numeric gradients ({how}): {ga.group} and {gb.group} are exchanged",
                        f"The gradients of {groups[0]} and {groups[1]} are exchanged: each is "
                        "stored under the other's name or index (a loop over groups counting "
                        "the wrong way, k where L-1-k belongs).",
                        evidence | {"groups": groups},
                        ("groups", *groups),
                    )
                )
            else:
                out.append(
                    Candidate(
                        "wrong_input",
                        (a_name, b_name),
                        quality,
                        f"the analytic gradients of {a_name} and {b_name} are each other's "
                        f"numeric gradients ({how})",
                        f"The gradients of {a_name} and {b_name} are returned in the wrong "
                        "order (or stored under each other's names); same-shaped arrays let it "
                        "pass every shape check.",
                        evidence,
                        ("pair", a_name, b_name),
                    )
                )
        else:
            done.add(a_name)
            out.append(
                Candidate(
                    "wrong_input",
                    (a_name,),
                    quality,
                    f"the analytic gradient of {a_name} equals the numeric gradient of "
                    f"{b_name} ({how})",
                    f"{a_name}'s gradient is {b_name}'s: the right formula applied to the wrong "
                    f"operand (a line copied from {b_name}'s gradient, or {b_name}'s gradient "
                    "returned in its place).",
                    {
                        "analytic_of": a_name,
                        "equals_numeric_of": b_name,
                        "residual": res,
                        "exact": exact,
                        "residual_in_place": ga.rel,
                    },
                    ("one-way", a_name, b_name),
                )
            )
    return out


# ---- transposed -----------------------------------------------------------------------------


def _block_transpose(x: F64 | Mask, k: int, count: int) -> F64 | Mask:
    """Transpose every square block of a 2-d array split along axis ``k`` into ``count``."""
    rows, cols = x.shape
    if k == 1:
        return x.reshape(rows, count, rows).transpose(2, 1, 0).reshape(rows, cols)
    return x.reshape(count, cols, cols).transpose(0, 2, 1).reshape(rows, cols)


def rule_transposed(ctx: Context) -> list[Candidate]:
    """analytic = numeric transposed, whole (square) or per square labelled block."""
    out = []
    for g in ctx.wrong_grads():
        if g.a.ndim != 2 or _is_zero(g):
            continue
        rows, cols = g.a.shape
        tries: list[tuple[str, F64, Mask, tuple[object, ...], str]] = []
        if rows == cols >= 2:
            tries.append(("whole", g.a.T, g.mask & g.mask.T, ("whole",), "the analytic gradient"))
        for k, axis in enumerate(g.ann.axes if g.ann is not None else ()):
            if axis.labels is None:
                continue
            count = len(axis.labels)
            width = g.a.shape[k] // count
            if width != g.a.shape[1 - k] or width < 2:
                continue
            at = _block_transpose(g.a, k, count)
            mt = _block_transpose(g.mask, k, count)
            what = f"each ({width}, {width}) {_axis_text(axis, k)} block of the analytic gradient"
            mask = g.mask & mt.astype(bool)
            tries.append(
                ("blocks", np.asarray(at, dtype=np.float64), mask, ("blocks", axis.name), what)
            )
        for scope, at_, mask, key, what in tries:
            exact, res = residual(at_, g.n, 2 * g.thr, mask)
            quality = relation_quality(exact, res, g.rel)
            if quality == 0:
                continue
            how = "exactly" if exact else f"to a relative residual of {res:.2g}"
            out.append(
                Candidate(
                    "transposed",
                    (g.name,),
                    quality,
                    f"{what} is the numeric one transposed ({how}; {g.rel:.2g} in place)",
                    "A transposed gradient: x.T @ dy written as dy.T @ x, or a formula for "
                    "column vectors pasted into row-vector code; square blocks let it through "
                    "every shape check.",
                    {"scope": scope, "residual": res, "exact": exact, "residual_in_place": g.rel},
                    key,
                )
            )
    return out


# ---- labelled blocks: swapped_blocks, block, missing paths -----------------------------------


class _Blocks:
    """One wrong input's blocks along one labelled axis: residuals of every pairing."""

    def __init__(self, g: Grad, k: int, axis: AxisInfo) -> None:
        labels = axis.labels or ()
        self.g, self.k, self.axis, self.labels = g, k, axis, labels
        count = len(labels)
        sl = _slices(g.a.ndim, k, count, g.a.shape[k])
        self.res = np.full((count, count), math.inf)
        self.exact = np.zeros((count, count), dtype=bool)
        for i in range(count):
            for j in range(count):
                ok, r = residual(
                    g.a[sl[i]], g.n[sl[j]], 2 * g.thr[sl[j]], g.mask[sl[i]] & g.mask[sl[j]]
                )
                self.res[i, j], self.exact[i, j] = r, ok
        self.diag = np.array([r if math.isfinite(r) else 0.0 for r in np.diag(self.res)])
        self.zero = tuple(
            j
            for j in range(count)
            if not np.any(g.a[sl[j]]) and np.any(g.n[sl[j]][g.mask[sl[j]]] != 0)
        )

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


def _block_entries(ctx: Context) -> dict[tuple[object, ...], list[_Blocks]]:
    entries: dict[tuple[object, ...], list[_Blocks]] = {}
    for g in ctx.wrong_grads():
        if g.ann is None or _is_zero(g):
            continue
        for k, axis in enumerate(g.ann.axes):
            if axis.labels is not None and len(axis.labels) >= 2:
                entries.setdefault((axis.name, axis.labels), []).append(_Blocks(g, k, axis))
    return entries


def rule_blocks(ctx: Context) -> list[Candidate]:
    """Patterns along labelled axes, read over every wrong input that has the axis.

    * ``swapped_blocks``: analytic block i ~ numeric block j and j ~ i. For each pair, the
      ratio of the exchanged residual to the smaller in-place one (0 exact, capped at 1) is
      averaged over those inputs; quality is 1 minus that mean, for the best pair, when at
      least 0.3 and the ratio is under 1/2 in at least one input.
    * ``missing_term``: the analytic is exactly zero in two or more blocks (numeric is not);
      quality 0.95 times the share of those inputs with the same zero blocks.
    * ``block``: one block is the worst in most inputs; quality is the mean over those inputs
      of how much it stands out (1 - median error of the other blocks / its error; 0 in the
      inputs where another block is worse). Not reported for a block of an exchanged pair.
    """
    out: list[Candidate] = []
    for entries in _block_entries(ctx).values():
        axis, labels = entries[0].axis, entries[0].labels
        name = axis.name or "block"
        text = [_block_text(axis, label) for label in labels]
        total = len(entries)
        scope = tuple(e.g.name for e in entries)
        pairs = [(i, j) for i in range(len(labels)) for j in range(i + 1, len(labels))]
        swapped: tuple[int, int] | None = None
        if pairs:
            ratios = {p: [e.swap_ratio(*p) for e in entries] for p in pairs}
            i, j = min(pairs, key=lambda p: sum(ratios[p]))
            quality = 1 - sum(ratios[(i, j)]) / total
            hits = [e for e, r in zip(entries, ratios[(i, j)], strict=True) if r < 0.5]
            if quality >= 0.3 and hits:
                swapped = (i, j)
                e = min(entries, key=lambda e: e.swap_ratio(i, j))
                res = max(e.res[i, j], e.res[j, i])
                names = (e.g.name,) + tuple(h.g.name for h in hits if h is not e)
                out.append(
                    Candidate(
                        "swapped_blocks",
                        names,
                        quality,
                        f"the analytic {text[i]} and {text[j]} blocks match the numeric "
                        f"{text[j]} and {text[i]} (residual {res:.2g}, against "
                        f"{e.diag[i]:.2g} and {e.diag[j]:.2g} in place); the exchange shows in "
                        f"{len(hits)} of {total} inputs with a {name} axis",
                        f"{text[i].capitalize()} and {text[j]} are exchanged: the backward pass "
                        f"writes each one's gradient where the other's belongs (the {name} "
                        "order of the backward pass or of the gradient layout differs from the "
                        "forward's).",
                        {
                            "axis": name,
                            "blocks": [labels[i], labels[j]],
                            "residual": float(res),
                            "residual_in_place": [float(e.diag[i]), float(e.diag[j])],
                            "ratio_by_input": {
                                x.g.name: r for x, r in zip(entries, ratios[(i, j)], strict=True)
                            },
                        },
                        ("swap", name, labels, i, j),
                        scope,
                    )
                )
        # several zero blocks: a missing path
        zeros = Counter(e.zero for e in entries if len(e.zero) >= 2)
        for zero, count in zeros.items():
            hits = [e for e in entries if e.zero == zero]
            groups = {e.g.group for e in hits}
            also = [
                g.name for g in ctx.wrong_grads() if _is_zero(g) and g.group in groups and g.group
            ]
            rest = [text[j] for j in range(len(labels)) if j not in zero]
            zero_text = _join([text[j] for j in zero])
            phrase = (
                f"the analytic gradient is exactly zero in {zero_text} (numeric is not) and "
                f"nonzero in {_join(rest)}, in {count} of {total} inputs with a {name} axis"
            )
            if also:
                phrase += f"; {_join(also)} {'is' if len(also) == 1 else 'are'} entirely zero"
            out.append(
                Candidate(
                    "missing_term",
                    tuple(e.g.name for e in hits) + tuple(also),
                    0.95 * count / total,
                    phrase,
                    f"No gradient reaches {zero_text}: blocks that share an upstream quantity "
                    "all get nothing, so a term of the chain rule into that shared quantity is "
                    "missing (a path from an output into an intermediate state never added).",
                    {"axis": name, "zero_blocks": [labels[j] for j in zero], "zero_inputs": also},
                    ("zero-blocks", name, labels, zero),
                    scope + tuple(also),
                )
            )
        # one block stands out
        worst = Counter(int(np.argmax(e.diag)) for e in entries if np.max(e.diag) >= BLOCK_REL)
        if not worst:
            continue
        j, agree = worst.most_common(1)[0]
        if swapped is not None and j in swapped:
            continue
        stand = [e.stand_out(j) for e in entries]
        quality = sum(stand) / total
        if quality <= 0:
            continue
        e = entries[int(np.argmax(stand))]
        others = float(np.median(np.delete(e.diag, j)))
        phrase = (
            f"the error sits in {text[j]}: relative error {e.diag[j]:.2g} there, "
            f"{others:.2g} (median) in the other blocks; {text[j]} is the worst block in "
            f"{agree} of {total} inputs with a {name} axis"
        )
        evidence: dict[str, object] = {
            "axis": name,
            "block": labels[j],
            "relative_error_by_block": {
                lab: float(r) for lab, r in zip(labels, e.diag, strict=True)
            },
            "stand_out_by_input": {x.g.name: s for x, s in zip(entries, stand, strict=True)},
            "worst_in": agree,
            "inputs_with_axis": total,
        }
        source = e.source(j)
        if j in e.zero:
            phrase = f"the analytic {text[j]} block is exactly zero; " + phrase
            hint = (
                f"{text[j].capitalize()} never gets its gradient: the block is left at zero (a "
                "missing assignment or accumulation for that block)."
            )
            evidence["zero"] = True
        elif source is not None:
            i, exact, res = source
            how = "exactly" if exact else f"to a relative residual of {res:.2g}"
            phrase = f"the analytic {text[j]} equals the numeric {text[i]} ({how}); " + phrase
            hint = (
                f"{text[j].capitalize()}'s gradient is copied from {text[i]}'s: a copy-paste "
                f"slip where the line for {text[j]} reuses {text[i]}'s delta."
            )
            evidence |= {"copied_from": labels[i], "copy_residual": res}
        else:
            hint = (
                f"A slip specific to {text[j]}: its local derivative (the activation derivative "
                "or the factor multiplying its delta) is wrong while the shared parts of the "
                "backward pass are right; smaller errors elsewhere are where its gradient flows "
                "on."
            )
        names = (e.g.name,) + tuple(
            x.g.name for x, s in zip(entries, stand, strict=True) if s > 0 and x is not e
        )
        out.append(
            Candidate(
                "block", names, quality, phrase, hint, evidence, ("block", name, labels, j), scope
            )
        )
    return out


# ---- named axes: time ranges, single indices -------------------------------------------------


def _describe_steps(wrong: list[int], length: int) -> tuple[str, str, float] | None:
    """Pattern name, description and quality of a set of wrong time steps."""
    last = length - 1
    contiguous = wrong == list(range(wrong[0], wrong[-1] + 1))
    if wrong == [last]:
        return "last", "only the last step is wrong", 0.9
    if wrong == list(range(last)):
        return "all-but-last", "every step but the last is wrong", 0.9
    if wrong == [0]:
        return "first", "only the first step is wrong", 0.9
    if contiguous and wrong[0] == 0:
        return "start", f"steps 0 to {wrong[-1]} are wrong, the later ones right", 0.85
    if contiguous and wrong[-1] == last:
        return "end", f"steps {wrong[0]} to {last} are wrong, the earlier ones right", 0.85
    return None


_STEP_HINTS = {
    "last": (
        "Only the last step is wrong: the code for the final step differs (the initial "
        "upstream gradient, the output head applied at the last step only)."
    ),
    "all-but-last": (
        "Right at the last step and wrong before it: what is carried back from step t+1 to "
        "step t is missing or wrong (the gradient of a recurrent state carried through time)."
    ),
    "first": (
        "Only the first step is wrong: the handling of the initial state (a t == 0 special "
        "case, h0 or c0) is wrong."
    ),
    "start": (
        "The early steps are wrong and the late ones right: a carry through time that breaks "
        "partway, or a loop over steps that stops early."
    ),
    "end": (
        "The late steps are wrong and the early ones right: a loop over steps that starts late, "
        "or a per-step contribution added only from some step on."
    ),
    "growing": (
        "The error grows toward the start: something carried back through time is wrong, so "
        "the mistake compounds at every step (a missing or wrong recurrent carry)."
    ),
}


def _having(ctx: Context, axis_name: str) -> tuple[str, ...]:
    """The wrong inputs with an axis of this name: what an axis rule can judge."""
    return tuple(
        g.name
        for g in ctx.wrong_grads()
        if g.ann is not None and any(x.name == axis_name for x in g.ann.axes)
    )


def rule_axes(ctx: Context) -> list[Candidate]:
    """Errors confined along a named axis without labels (``time``, ``batch``...).

    Time: a contiguous range touching an end, quality 0.9 for the last / all but the last / the
    first step, 0.85 for another range; every step wrong but the relative error falling from
    the start to the end (first > 3 x last, never rising), quality 0.6. A single interior time
    step, or a single index of any other named axis: ``block``, quality 0.8. Coverage counts
    among the wrong inputs that have an axis of that name.
    """
    out = []
    for g in ctx.wrong_grads():
        if g.ann is None:
            continue
        for k, axis in enumerate(g.ann.axes):
            length = g.a.shape[k]
            if axis.name is None or axis.labels is not None or length < 2:
                continue
            sl = _slices(g.a.ndim, k, length, length)
            bad = [i for i in range(length) if g.clear[sl[i]].any()]
            rel = []
            for i in range(length):
                _, r = residual(g.a[sl[i]], g.n[sl[i]], g.thr[sl[i]], g.mask[sl[i]])
                rel.append(r if math.isfinite(r) else 0.0)
            evidence: dict[str, object] = {
                "axis": axis.name,
                "wrong_indices": bad,
                "relative_error_by_index": rel,
            }
            if axis.name == "time":
                found = None
                if 0 < len(bad) < length:
                    found = _describe_steps(bad, length)
                falling = all(rel[i] >= rel[i + 1] for i in range(length - 1))
                if found is None and len(bad) == length and falling and rel[0] > 3 * rel[-1]:
                    found = ("growing", "every step wrong, the error growing toward the start", 0.6)
                if found is not None:
                    pattern, text, quality = found
                    if pattern == "all-but-last" and falling and length > 2:
                        text += ", the error growing toward the start"
                    out.append(
                        Candidate(
                            "time_range",
                            (g.name,),
                            quality,
                            f"{text} (relative error by step: "
                            + ", ".join(f"{r:.2g}" for r in rel)
                            + ")",
                            _STEP_HINTS[pattern],
                            evidence | {"pattern": pattern},
                            ("time", pattern),
                            _having(ctx, axis.name),
                        )
                    )
                    continue
            if len(bad) == 1 and length >= 2:
                i = bad[0]
                out.append(
                    Candidate(
                        "block",
                        (g.name,),
                        0.8,
                        f"only {axis.name} {i} is wrong (relative error {rel[i]:.2g}; the other "
                        f"{length - 1} are right)",
                        f"A slip specific to {axis.name} {i}: an off-by-one in a loop over "
                        f"{axis.name}, or a special case for that index.",
                        evidence,
                        ("index", axis.name, i),
                        _having(ctx, axis.name),
                    )
                )
    return out


# ---- groups ---------------------------------------------------------------------------------


def _structure(ctx: Context, group: str) -> list[tuple[object, ...]]:
    roles = [
        tuple((x.name, x.labels) for x in g.ann.axes) if g.ann is not None else ()
        for g in ctx.grads.values()
        if g.group == group
    ]
    return sorted(roles, key=repr)


def rule_groups(ctx: Context) -> list[Candidate]:
    """Every wrong input in one group while another group of the same structure is right.

    Quality 0.55: it locates the mistake without saying what it is.
    """
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
    names = tuple(ctx.wrong)
    return [
        Candidate(
            "block",
            names,
            0.55,
            f"only inputs of {group} are wrong; {_join(twins)}, with the same structure, "
            f"{'is' if len(twins) == 1 else 'are'} right",
            f"The mistake is in what differs for {group}: a special case for the first or last "
            "group (what it reads as input, whether it receives the upstream gradient) or an "
            "index computed from the group number.",
            {"group": group, "right_groups": twins},
            ("group", group),
        )
    ]


# ---- weight wrong, bias right ---------------------------------------------------------------


def rule_weight_bias(ctx: Context) -> list[Candidate]:
    """A weight gradient wrong while a 1-d input of its group sharing an axis (its bias) is right.

    The bias gradient sums the same deltas, so the deltas are right and the weight gradient
    pairs them wrongly with its inputs. Weight data alone cannot show which way; the sizes are
    the clue. A sum over too few steps (or rows) is a piece of the full sum: shorter
    (``|a| < 0.75 |n|``) and not pointing away from it (``<a, n> >= 0.75 |a|^2``): that reads as
    ``time_range``. Anything else reads as ``wrong_input`` (the deltas paired with the wrong
    operand). Averaged over the weights showing the pattern; quality 0.6.
    """
    pairs: list[tuple[Grad, Grad, int, float, float]] = []
    for w in ctx.wrong_grads():
        if w.ann is None or not w.ann.axes or w.group is None or w.a.ndim < 2 or _is_zero(w):
            continue
        partner = _bias_of(ctx, w)
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
    kind = "time_range" if short else "wrong_input"
    if short:
        why = (
            "It is a shorter piece of the right sum, as when it sums over only some of the "
            "steps or rows (e.g. only the last time step's delta instead of every step's); "
            "less likely, each delta is paired with the wrong operand."
        )
    else:
        why = (
            "It is not a shorter piece of the right sum, so most likely each delta is paired "
            "with the wrong operand (the state at step t instead of t-1, another layer's "
            "input); less likely, it sums over only some of the steps or rows."
        )
    out = []
    for w, b, k, ratio, proj in pairs:
        axis = _axis_text(w.axis(k), k)
        out.append(
            Candidate(
                kind,
                (w.name,),
                0.6,
                f"{w.name} is wrong although {b.name}, which shares its {axis} axis, is right; "
                f"|analytic| = {ratio:.2g} x |numeric|, <analytic, numeric> = {proj:.2g} x "
                "|analytic|^2",
                f"{b.name} sums the same deltas and is right, so the deltas are right and "
                f"{w.name} combines them wrongly with its inputs. {why}",
                {
                    "bias": b.name,
                    "shared_axis": axis,
                    "norm_ratio": ratio,
                    "projection": proj,
                    "mean_norm_ratio": mean_ratio,
                    "mean_projection": mean_proj,
                },
                ("weight-bias", kind),
            )
        )
    return out


def _bias_of(ctx: Context, w: Grad) -> tuple[Grad, int] | None:
    """A right 1-d input of ``w``'s group whose axis is one of ``w``'s, and which axis."""
    assert w.ann is not None
    for b in ctx.grads.values():
        if b.group != w.group or b.a.ndim != 1 or b.failed or not b.mask.any():
            continue
        if b.ann is None or not b.ann.axes:
            continue
        for k, axis in enumerate(w.ann.axes):
            if axis == b.ann.axes[0] and w.a.shape[k] == b.a.shape[0]:
                return b, k
    return None


# ---- a missing element-wise factor ----------------------------------------------------------


def rule_missing_factor(ctx: Context) -> list[Candidate]:
    """analytic / numeric of one sign, on one side of 1 at every element, and not constant.

    Quality 0.7: analytic = numeric / s with s varying over (0, 1) (or above 1).
    """
    out = []
    for g in ctx.wrong_grads():
        if _is_zero(g):
            continue
        fit = _fit_ratio(g)
        if fit is not None and (fit[2] or fit[1] < 0.01):
            continue  # a constant ratio
        m = g.mask & (np.abs(g.n) > 4 * g.thr)
        if np.count_nonzero(m) < 2:
            continue
        q = g.a[m] / g.n[m]
        lo, hi = float(np.min(q)), float(np.max(q))
        if lo <= 0 or hi / lo < 1.05 or not (lo > 1.01 or hi < 0.99):
            continue
        above = lo > 1
        s_lo, s_hi = 1 / hi, 1 / lo
        if above:
            hint = (
                "An element-wise factor between 0 and 1 is missing from the product that forms "
                f"this gradient (analytic = numeric / s with s from {s_lo:.2g} to {s_hi:.2g}): "
                "typically a gate or activation value, or an activation derivative, left out "
                "of the chain rule."
            )
        else:
            hint = (
                "An extra element-wise factor between 0 and 1 multiplies this gradient "
                f"(analytic = numeric x s with s from {lo:.2g} to {hi:.2g}): a gate, an "
                "activation value or derivative applied once too often."
            )
        out.append(
            Candidate(
                "missing_term",
                (g.name,),
                0.7,
                f"analytic / numeric lies between {lo:.3g} and {hi:.3g} at every element: one "
                f"sign, always {'larger' if above else 'smaller'}, never constant",
                hint,
                {"min_ratio": lo, "max_ratio": hi, "elements": int(np.count_nonzero(m))},
                ("factor", "above" if above else "below"),
            )
        )
    return out


# ---- nothing simple: the error spreads --------------------------------------------------------


def fallback(ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
    """When several inputs are wrong and no other candidate reaches quality 0.6.

    Quality 0.35: the error spreads without a simpler pattern, which is what a missing path of
    the chain rule does (its effect reaches everything upstream of it).
    """
    wrong = ctx.wrong_grads()
    if len(wrong) < 2 or any(c.quality >= 0.6 for c in candidates):
        return []
    groups = sorted({g.group for g in wrong if g.group is not None})
    right = [g.name for g in ctx.grads.values() if not g.failed]
    where = f" in {_join(groups)}" if groups else ""
    phrase = (
        f"{len(wrong)} inputs{where} are wrong, with no constant ratio, zero, exchange or "
        "confinement to a block (relative errors "
        + ", ".join(f"{g.rel:.2g}" for g in wrong[:6])
        + (", ..." if len(wrong) > 6 else "")
        + ")"
    )
    if right:
        phrase += f"; right: {_join(right[:6])}" + (" ..." if len(right) > 6 else "")
    return [
        Candidate(
            "missing_term",
            tuple(ctx.wrong),
            0.35,
            phrase,
            "An error that spreads to everything upstream of some point with no simpler pattern "
            "is what a missing term of the chain rule does: a carry through time or between "
            "layers, or a second path into the same variable, left out. Look between the right "
            "inputs and the wrong ones.",
            {
                "wrong": list(ctx.wrong),
                "right": right,
                "relative_errors": {g.name: g.rel for g in wrong},
            },
            ("spread",),
        )
    ]


RULES: tuple[Callable[[Context], list[Candidate]], ...] = (
    rule_all_zero,
    rule_constant_ratio,
    rule_relations,
    rule_transposed,
    rule_blocks,
    rule_axes,
    rule_groups,
    rule_weight_bias,
    rule_missing_factor,
)
