"""Stage 2: refine suspect lines on a ladder of steps.

A line is suspect after stage 1 when its residual exceeds its threshold, or when its threshold
is too large for the comparison to mean anything (not :func:`~.numerics.verified`: the step may
be too large for the scale on which the function varies, as for an input with a large offset and
a small spread, or too small for the rounding noise, as for a small slope in float32). Suspects
are judged on triples of steps ``(s, 2s, 4s)`` (:func:`~.numerics.confirm`), first ``s = h/4``
(which reuses stage 1's points at ``h``), then, for the lines that need it, on triples 4 times
smaller or larger:

* a line *kinky* on one triple (one-sided slopes whose jump does not shrink with the step) is a
  kink only if it stays kinky on the next smaller triples (``KINK_TRIPLES`` in a row, down to the
  smallest step tried); otherwise the large step was the cause and the line goes on as a smooth
  one;
* a smooth, unverified line moves its step down when truncation dominates its error estimate,
  up when rounding noise does, and stops when it is verified or the threshold no longer falls;
  its verdict is the one of its lowest threshold;
* what stays unverified is reported as such, never as a pass.

Points above stage 1's step may leave the function's domain: there a NaN ends the climb.

A mismatch is declared when the residual exceeds the threshold of the best triple and of one more
estimate (stage 1's, or another triple) whose value agrees with the best triple's (the two differ
by less than the sum of their thresholds): the error estimate of one triple can collapse by chance
(its two extrapolations agreeing outside the regime where their difference measures the error),
and a stage-1 estimate flagged by a truncation its model underestimated lies elsewhere, often on
the other side of the analytic value. A residual over the best threshold that no second estimate
supports is no mismatch, and no pass at that threshold either: the threshold widens by the
residual (the analytic value lies that close to the best value), or the tightest estimate that
includes the analytic value gives the verdict when it is tighter.

Before a mismatch or a kink is declared, the points of its deciding triple are evaluated again,
and so are the stage-1 points of lines stage 1 flagged: a function that gives another value at
the same point is intermittently non-deterministic, and its "mismatch" would be noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .._errors import NondeterminismError
from .._result import Status
from .lines import Line
from .numerics import F64, FLOOR_A, Eval, Refined, Tolerance, Verdicts, confirm, verified
from .state import CheckState

#: the smaller step of the first triple, as a multiple of the line's step h
FIRST = 0.25
#: the ratio between the steps of successive triples
RATIO = 4.0
#: the smallest and largest smaller step of a triple
LOWEST, HIGHEST = 4.0**-6, 16.0
#: a kink is confirmed on this many consecutive triples, each 4 times smaller
KINK_TRIPLES = 3
#: or on one fewer, when the next triple sees the same jump within this share but cannot
#: resolve it from its rounding
FAINT = 0.25
#: a smaller or larger step is worth another triple while it lowers the threshold this much
IMPROVING = 0.5
#: at most this many lines of a batch are refined beyond the first triple
DEEP_CAP = 256
#: at most this many lines of a batch are evaluated again (per kind of recheck)
RECHECK_CAP = 16


@dataclass
class _Points:
    """Evaluations of the suspect lines at multiples of their steps (NaN where not made)."""

    lines: Line
    sel: NDArray[np.intp]  # suspect lines, as indices into the batch
    at: dict[float, Eval] = field(default_factory=dict)

    def ensure(self, m: float, idx: NDArray[np.intp]) -> None:
        """Evaluate lines ``idx`` (indices into ``sel``) at ``x +- m h`` where not done yet."""
        if m not in self.at:
            nan = np.full(len(self.sel), np.nan)
            self.at[m] = Eval(nan, nan.copy(), nan.copy(), nan.copy(), nan.copy())
        have = self.at[m]
        todo = idx[np.isnan(have.dp[idx])]
        if len(todo):
            ev = self.lines.at(m, self.sel[todo], tolerant=m > 1)
            for mine, new in zip(
                (have.fp, have.fm, have.dp, have.dm, have.analytic), _fields(ev), strict=True
            ):
                mine[todo] = new

    def triple(self, base: float, idx: NDArray[np.intp]) -> tuple[Eval, Eval, Eval]:
        for m in (base, 2 * base, 4 * base):
            self.ensure(m, idx)
        e1, e2, e4 = (self.at[m].select(idx) for m in (base, 2 * base, 4 * base))
        return e1, e2, e4


def _fields(ev: Eval) -> tuple[F64, F64, F64, F64, F64]:
    return ev.fp, ev.fm, ev.dp, ev.dm, ev.analytic


def refine(
    state: CheckState,
    lines: Line,
    sel: NDArray[np.intp],
    stage1: dict[float, Eval],
    floor: F64,
    noise: float,
    flagged: NDArray[np.bool_],
    stage1_noisy: NDArray[np.bool_],
    user: bool = True,
    first: tuple[F64, F64, F64] | None = None,
) -> Verdicts:
    """Verdicts of the lines ``sel`` of a batch (``stage1``: their stage-1 points; ``flagged``:
    which of them stage 1 found over their threshold; ``stage1_noisy``: where rounding, not
    truncation, dominated stage 1's estimate; ``first``: stage 1's numeric value, error estimate
    and threshold, which may support a mismatch)."""
    sc, tol = state.scales, state.tol
    floor = floor + FLOOR_A * lines.analytic_noise(sel)
    points = _Points(lines, sel, {m: _copy(e) for m, e in stage1.items()})
    n = len(sel)
    # a batch whose largest analytic value is within the rounding of the backward pass that
    # computed it (a bias feeding a normalisation, whose gradient is zero in exact arithmetic)
    # has no size to judge its elements against: they are judged as the zeros they are
    # (measured: the floor holds the rounding of the analytic gradient; in float16 and bfloat16,
    # where it is not measured, such a batch is left unverified rather than called zero)
    scale = 0.0 if lines.scale <= float(np.max(floor)) else lines.scale

    def judge(base: float, idx: NDArray[np.intp]) -> Refined:
        e1, e2, e4 = points.triple(base, idx)
        # the ladder compares triples by the estimate's threshold; the caller's rtol/atol, if
        # any, decide the mismatch at the end
        return confirm(e1, e2, e4, sc.f0, floor[idx], noise, sc.noise_guess, tol, user=False)

    # the first triple: around stage 1's step, below it when truncation dominated stage 1's
    # estimate (the step may be too large), above it when rounding did
    base = np.where(stage1_noisy, 1.0, FIRST)
    best = _judge_bases(judge, base, np.arange(n), _empty(n))
    # the estimates that may support a mismatch: stage 1's, then every smooth triple trusted
    # on the way (by the smaller step of the triple: a triple counts once, should a line pass
    # its step twice); a mismatch must show on two that agree, so that one triple whose two
    # extrapolations agreed by chance (outside the regime where they estimate their error)
    # cannot declare it
    seen = _Estimates(n, tuple(stage1))
    if first is not None:
        seen.record(-1.0, np.arange(n), *first)
    seen.record_triples(base, np.arange(n), best, ~best.kinky)
    deciding = base.copy()  # the smaller step of the triple each verdict comes from
    run = best.kinky.astype(int)  # consecutive kinky triples, down from the first one seen
    last_thr = best.threshold.copy()
    turned = np.zeros(n, dtype=bool)  # lines that went down, found more noise, and climb
    # which way each line moves: down for kinks (do they persist?) and where truncation
    # dominates, up where rounding does; a declared mismatch stays
    move = np.where(best.kinky | ~best.noisy, 1 / RATIO, RATIO)
    # a declared mismatch stays, once a second estimate supports it and rounding, not
    # truncation, limits its triple: a truncation-limited triple may not resolve the function
    # (a layer norm of an output near 0 varies on a scale of sqrt(its eps)), and a stage-1
    # estimate whose model assumed the scale of the input agrees with it; smaller steps tell
    support = seen.support(best, deciding)
    active = best.kinky | (best.status != Status.MISMATCH) | (support < 2) | ~best.noisy
    active &= np.cumsum(active) <= DEEP_CAP
    while True:
        base[active] *= move[active]
        active &= (base >= LOWEST) & (base <= HIGHEST)
        idx = np.flatnonzero(active)
        if not len(idx):
            break
        v = _judge_bases(judge, base[idx], idx, _empty(len(idx)))
        # a smooth line climbing to larger steps that turns kinky has passed the scale on which
        # the function is smooth: it stops there (its verdict stays the smaller triple's)
        overshot = v.kinky & (move[idx] > 1) & ~best.kinky[idx]
        v.kinky[overshot] = False
        v.status[overshot] = Status.UNCHECKED
        was = run[idx] > 0
        # a jump the triples before resolved, which this smaller one cannot tell from its
        # rounding (under the kink test's noise limit, which grows as the step shrinks), but
        # which is the same jump (within a quarter; the jump of a smooth corner the steps have
        # passed below shrinks 4 times a triple): a kink, with the last triple that resolved it
        faint = ~v.kinky & best.kinky[idx] & (run[idx] >= KINK_TRIPLES - 1)
        faint &= np.abs(v.jump - best.jump[idx]) <= FAINT * np.abs(best.jump[idx])
        run[idx] = np.where(v.kinky, run[idx] + 1, 0)
        # kinky on KINK_TRIPLES consecutive triples, 4 times smaller each: a kink (the smallest
        # triple's verdict); a jump that a large step made vanishes on smaller ones
        confirmed = run[idx] >= KINK_TRIPLES
        smooth = ~v.kinky
        kinky_so_far = v.kinky & ~confirmed
        # a larger step helps only while rounding limits it: once truncation shows, its triple
        # is past the best step, where the two extrapolations no longer measure their error
        trusted = smooth & ~overshot & ~faint & ((move[idx] < 1) | v.noisy)
        up = (move[idx] > 1) & ~best.kinky[idx]
        trusted &= _within_best(v, best, idx, up, floor, tol)
        take = confirmed | kinky_so_far & best.kinky[idx]
        take |= trusted & (best.kinky[idx] | (v.threshold < best.threshold[idx]))
        _assign(best, idx[take], v, take)
        seen.record_triples(base[idx], idx, v, trusted)
        deciding[idx[take]] = base[idx[take]]
        # the triple halfway between this one and the last (steps 2 times apart, not 4): its
        # points are evaluated already; the best step often lies between two of the ladder's
        smooth_line = trusted & ~best.kinky[idx]
        if smooth_line.any():
            at = idx[smooth_line]
            half = np.where(up[smooth_line], base[at] / 2, base[at] * 2)
            h = _judge_bases(judge, half, at, _empty(len(at)))
            ok_h = ~h.kinky & ((move[at] < 1) | h.noisy)
            ok_h &= _within_best(h, best, at, up[smooth_line], floor, tol)
            better = ok_h & (h.threshold < best.threshold[at])
            _assign(best, at[better], h, better)
            deciding[at[better]] = half[better]
            seen.record_triples(half, at, h, ok_h)
        support = seen.support(best, deciding)
        improving = v.threshold < IMPROVING * last_thr[idx]
        # a mismatch declared on a triple limited by truncation goes on down while truncation
        # limits it (whatever its threshold does: above the scale on which the function varies
        # the extrapolations' disagreement is erratic), so that a smaller step confirms it or
        # resolves the function
        mismatch = ~best.kinky[idx] & (best.status[idx] == Status.MISMATCH)
        unresolved = mismatch & ~best.noisy[idx] & trusted & ~v.noisy & (move[idx] < 1)
        # a smooth line sent down (its estimate looked limited by truncation) whose threshold
        # rose instead was limited by rounding noise, which the measured level underestimates
        # along it: it turns, once, and climbs from the triple it left
        turn = trusted & ~v.kinky & ~best.kinky[idx] & ~was & (move[idx] < 1) & ~unresolved
        turn &= (v.threshold > last_thr[idx]) & ~turned[idx]
        if turn.any():
            at = idx[turn]
            base[at] *= RATIO
            move[at] = RATIO
            turned[at] = True
            improving |= turn
        last_thr[idx[~turn]] = v.threshold[~turn]
        # a kinky line goes on down until confirmed; a smooth one goes on while its threshold
        # still falls clearly (or it just stopped looking kinky); a verdict on a threshold that
        # falls no more is as good as this function allows
        move[idx[v.kinky]] = 1 / RATIO
        unsupported = (v.status == Status.MISMATCH) | mismatch
        unsupported &= support[idx] < 2
        settled = mismatch & ~unsupported & ~unresolved
        going = (improving | was) & ~settled | unsupported | unresolved
        active[idx] = (kinky_so_far | (trusted & going)) & ~faint
    status = best.status.copy()
    smooth_lines = ~best.kinky
    fixed = user and (tol.rtol is not None or tol.atol is not None)
    if not fixed:
        # over the best threshold on one estimate only: no mismatch, and no pass at that
        # threshold either. The analytic value lies within the residual of the best value, so
        # the threshold widens by the residual; or the tightest estimate that includes the
        # analytic value gives the verdict, when it is tighter still
        over = smooth_lines & (np.abs(best.analytic - best.numeric) > best.threshold)
        lone = over & (support < 2)
        resid = np.abs(best.analytic - best.numeric)[lone]
        best.error_estimate[lone] += resid / tol.safety
        best.threshold[lone] += resid
        seen.fall_back(best, lone)
    ok = verified(best.threshold, best.analytic, best.numeric, scale, best.noisy)
    # kinky verdicts keep their status from the kink test (a kink, or a mismatch when the
    # analytic value lies outside the one-sided slopes); smooth ones are judged here
    threshold = np.where(
        smooth_lines, tol.threshold(best.numeric, best.error_estimate, floor, user), best.threshold
    )
    bad = smooth_lines & (np.abs(best.analytic - best.numeric) > threshold)
    if not fixed:
        bad &= support >= 2
    status[smooth_lines] = np.where(
        bad[smooth_lines], Status.MISMATCH, np.where(ok[smooth_lines], Status.OK, Status.UNVERIFIED)
    )
    if not fixed:
        # what a wrong value must exceed to be declared (two estimates against it), reported
        # as the threshold of the lines that pass, so that their detection bounds say it:
        # wider than the best estimate's where the estimates a line got exclude each other
        need = seen.detectable(best, deciding)
        wider = smooth_lines & (status != Status.MISMATCH) & (need > threshold)
        best.error_estimate[wider] = np.maximum(
            best.error_estimate[wider], need[wider] / tol.safety
        )
        threshold[wider] = need[wider]
    declared = (status == Status.MISMATCH) | (status == Status.KINK)
    _recheck(state, points, declared, deciding)
    # a line stage 1 flagged and the ladder cleared: were its stage-1 values noise?
    _recheck(state, points, flagged & ~declared, np.ones(n), tuple(stage1))
    return Verdicts(best.numeric, best.analytic, best.error_estimate, threshold, status)


_NAMES = ("numeric", "analytic", "error_estimate", "threshold", "status", "kinky", "noisy", "jump")


class _Estimates:
    """The estimates of each line that may support a mismatch, by key (the smaller step of a
    triple as a multiple of the line's step; -1 for stage 1): numeric value, error estimate,
    threshold (NaN where a line has none). ``first``: the multiples of the step at which stage
    1 evaluated."""

    def __init__(self, n: int, first: tuple[float, ...]) -> None:
        self.n = n
        self.first = first
        self.at: dict[float, tuple[F64, F64, F64]] = {}

    def dominant(self, key: float) -> float:
        """The multiple of the step whose evaluation weighs most in the estimate's value: stage
        1's step, or the middle step of a triple (its value is ``(4 D(2s) - D(4s)) / 3``)."""
        return min(self.first) if key < 0 else 2 * key

    def record(self, key: float, idx: NDArray[np.intp], numeric: F64, err: F64, thr: F64) -> None:
        if key not in self.at:
            self.at[key] = tuple(np.full(self.n, np.nan) for _ in range(3))  # type: ignore[assignment]
        for mine, new in zip(self.at[key], (numeric, err, thr), strict=True):
            mine[idx] = new

    def record_triples(
        self, keys: F64, idx: NDArray[np.intp], v: Refined, which: NDArray[np.bool_]
    ) -> None:
        """Record triples ``which`` of verdicts ``v`` (lines ``idx``; smaller steps ``keys``)."""
        keys = np.broadcast_to(keys, idx.shape)
        for key in np.unique(keys[which]):
            part = which & (keys == key)
            self.record(
                float(key), idx[part], v.numeric[part], v.error_estimate[part], v.threshold[part]
            )

    def support(self, best: Refined, deciding: F64) -> NDArray[np.intp]:
        """Per line, how many estimates put the analytic value outside their threshold: the
        best verdict (its triple's smaller step ``deciding``), and the others that agree with
        its value (within the sum of the two thresholds) and do not weigh most the same
        evaluation as it (two such estimates are one piece of evidence: that evaluation's noise
        pulls both the same way; an evaluation weighing little in one of them pulls it the
        other way). At most 1 where a triple of smaller steps contradicts the best value and
        includes the analytic one."""
        resid = np.abs(best.numeric - best.analytic)
        count = (resid > best.threshold).astype(np.intp)
        contradicted = np.zeros(self.n, dtype=bool)
        for key, (numeric, _, thr) in self.at.items():
            shared = np.isclose(self.dominant(key), 2 * deciding)
            with np.errstate(invalid="ignore"):
                # a triple of smaller steps that includes the analytic value and excludes the
                # best value (by more than the two thresholds): truncation, which shrinks with
                # the step, made the estimates of the larger steps agree on a wrong value (steps
                # above the scale on which the function varies); no mismatch rests on them
                contradicted |= (
                    (key > 0)
                    & (key < deciding)
                    & (np.abs(numeric - best.analytic) <= thr)
                    & (np.abs(numeric - best.numeric) > thr + best.threshold)
                )
            with np.errstate(invalid="ignore"):
                over = np.abs(numeric - best.analytic) > thr
                # agreeing within the two thresholds, or (where both are confident but apart
                # by more than the thresholds say) far closer to each other than to the
                # analytic value: an error of 1e-3 that two estimates of 1e-12 see, 1e-11
                # apart, is no rounding of either
                gap = np.abs(numeric - best.numeric)
                agrees = (gap <= thr + best.threshold) | (gap <= resid / 4)
            count += over & agrees & ~shared
        return np.where(contradicted, np.minimum(count, 1), count)

    def detectable(self, best: Refined, deciding: F64) -> F64:
        """Per line, the residual a wrong analytic value needs before :meth:`support` counts
        two estimates against it: over the best threshold and the threshold of another
        estimate that agrees with the best value within the two thresholds; or 4 times its
        distance from an estimate that does not (see :meth:`support`). Estimates that exclude
        each other say that an error model failed: the comparison is no tighter than that.
        The best threshold where a line has no other estimate."""
        need = np.full(self.n, np.inf)
        for key, (numeric, _, thr) in self.at.items():
            shared = np.isclose(self.dominant(key), 2 * deciding)
            with np.errstate(invalid="ignore"):
                gap = np.abs(numeric - best.numeric)
                agrees = gap <= thr + best.threshold
                here = np.where(agrees, thr + gap, 4 * gap)
            here = np.where(np.isnan(numeric) | shared, np.inf, here)
            need = np.minimum(need, here)
        return np.where(np.isinf(need), best.threshold, np.maximum(need, best.threshold))

    def fall_back(self, best: Refined, which: NDArray[np.bool_]) -> None:
        """Give the lines ``which`` the values of their tightest estimate that includes the
        analytic value, where it is tighter than their threshold now."""
        tightest = best.threshold.copy()
        for numeric, err, thr in self.at.values():
            with np.errstate(invalid="ignore"):
                take = which & (np.abs(numeric - best.analytic) <= thr) & (thr < tightest)
            tightest[take] = thr[take]
            best.numeric[take] = numeric[take]
            best.error_estimate[take] = err[take]
            best.threshold[take] = thr[take]
            best.noisy[take] = False


def _put(into: Refined, where: NDArray[np.bool_], v: Refined) -> None:
    for name in _NAMES:
        getattr(into, name)[where] = getattr(v, name)


def _copy(e: Eval) -> Eval:
    return Eval(e.fp.copy(), e.fm.copy(), e.dp.copy(), e.dm.copy(), e.analytic.copy())


def _empty(n: int) -> Refined:
    def f() -> F64:
        return np.empty(n)

    flags = np.zeros(n, dtype=bool)
    return Refined(f(), f(), f(), f(), np.zeros(n, dtype=np.int8), flags, flags.copy(), f())


def _judge_bases(
    judge: Callable[[float, NDArray[np.intp]], Refined],
    bases: F64,
    idx: NDArray[np.intp],
    into: Refined,
) -> Refined:
    """Judge lines ``idx`` on the triples of their own ``bases`` (one batch per base)."""
    for b in np.unique(bases):
        part = bases == b
        _put(into, part, judge(float(b), idx[part]))
    return into


def _within_best(
    v: Refined,
    best: Refined,
    idx: NDArray[np.intp],
    up: NDArray[np.bool_],
    floor: F64,
    tol: Tolerance,
) -> NDArray[np.bool_]:
    """Whether triples ``v`` of lines ``idx`` that climbed to larger steps (``up``) can be
    trusted: their value must fall within the threshold of the best triple so far (a value
    outside it comes from a truncation its own estimate does not see). Their error is made no
    smaller than their distance to that value (beyond what the best triple's own error, two
    of its estimates, explains), since the two extrapolations of one large triple can agree by
    chance where truncation already counts; ``v`` is updated in place."""
    distance = np.abs(v.numeric - best.numeric[idx])
    unexplained = distance - 2 * best.error_estimate[idx]
    grown = up & ~v.kinky & (unexplained > v.error_estimate)
    if grown.any():
        v.error_estimate[grown] = unexplained[grown]
        v.threshold[grown] = tol.threshold(
            v.numeric[grown], unexplained[grown], floor[idx][grown], user=False
        )
        over = np.abs(v.analytic - v.numeric)[grown] > v.threshold[grown]
        v.status[grown] = np.where(over, Status.MISMATCH, Status.OK)
    out: NDArray[np.bool_] = ~up | (distance <= best.threshold[idx])
    return out


def _assign(best: Refined, where: NDArray[np.intp], v: Refined, take: NDArray[np.bool_]) -> None:
    for name in _NAMES:
        getattr(best, name)[where] = getattr(v, name)[take]


def _recheck(
    state: CheckState,
    points: _Points,
    which: NDArray[np.bool_],
    deciding: F64,
    multiples: tuple[float, ...] = (1.0, 2.0, 4.0),
) -> None:
    """Evaluate again the points (at ``deciding * multiples``) of a sample of the lines ``which``,
    and raise :class:`NondeterminismError` when a value differs from the first evaluation."""
    lines_ = np.flatnonzero(which)
    if not len(lines_):
        return
    if len(lines_) > RECHECK_CAP:
        lines_ = np.sort(state.rng.choice(lines_, RECHECK_CAP, replace=False))
    tol = state.opts.nondet_tol
    for base in np.unique(deciding[lines_]):
        idx = lines_[deciding[lines_] == base]
        for m in sorted({float(base * k) for k in multiples}):
            again = points.lines.at(m, points.sel[idx], tolerant=m > 1)
            old = points.at[m]
            for before, after in ((old.fp[idx], again.fp), (old.fm[idx], again.fm)):
                diff = np.abs(after - before)
                worst = int(np.argmax(diff))
                if diff[worst] > tol:
                    raise NondeterminismError(
                        "the function is not deterministic: evaluated twice at the same "
                        f"perturbed point it gave {before[worst]!r} and {after[worst]!r} "
                        f"(difference {diff[worst]:.3g}), so a suspected mismatch may be noise. "
                        "Something in it changes between calls now and then (an unseeded random "
                        "draw, state kept between calls, a race); fix it, or pass "
                        "nondet_tol=... to accept differences up to that size",
                        difference=float(diff[worst]),
                    )
