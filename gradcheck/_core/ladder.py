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
estimate (stage 1's, or another triple): the error estimate of one triple can collapse by chance
(its two extrapolations agreeing outside the regime where their difference measures the error).

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
from .numerics import F64, FLOOR_A, Eval, Refined, Verdicts, confirm, verified
from .state import CheckState

#: the smaller step of the first triple, as a multiple of the line's step h
FIRST = 0.25
#: the ratio between the steps of successive triples
RATIO = 4.0
#: the smallest and largest smaller step of a triple
LOWEST, HIGHEST = 4.0**-6, 16.0
#: a kink is confirmed on this many consecutive triples, each 4 times smaller
KINK_TRIPLES = 3
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
) -> Verdicts:
    """Verdicts of the lines ``sel`` of a batch (``stage1``: their stage-1 points; ``flagged``:
    which of them stage 1 found over their threshold; ``stage1_noisy``: where rounding, not
    truncation, dominated stage 1's estimate)."""
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
    # how many estimates (stage 1's, then every smooth triple) put the analytic value outside
    # their threshold: a mismatch must show on two, so that one triple whose two extrapolations
    # agreed by chance (outside the regime where they estimate their error) cannot declare it
    support = flagged.astype(int) + (~best.kinky & (best.status == Status.MISMATCH))
    counted = np.where(~best.kinky & (best.status == Status.MISMATCH), base, np.nan)
    deciding = base.copy()  # the smaller step of the triple each verdict comes from
    run = best.kinky.astype(int)  # consecutive kinky triples, down from the first one seen
    last_thr = best.threshold.copy()
    # which way each line moves: down for kinks (do they persist?) and where truncation
    # dominates, up where rounding does; a declared mismatch stays
    move = np.where(best.kinky | ~best.noisy, 1 / RATIO, RATIO)
    # a declared mismatch stays, once a second estimate supports it
    active = best.kinky | (best.status != Status.MISMATCH) | (support < 2)
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
        run[idx] = np.where(v.kinky, run[idx] + 1, 0)
        # kinky on KINK_TRIPLES consecutive triples, 4 times smaller each: a kink (the smallest
        # triple's verdict); a jump that a large step made vanishes on smaller ones
        confirmed = run[idx] >= KINK_TRIPLES
        smooth = ~v.kinky
        kinky_so_far = v.kinky & ~confirmed
        # a larger step helps only while rounding limits it: once truncation shows, its triple
        # is past the best step, where the two extrapolations no longer measure their error
        trusted = smooth & ~overshot & ((move[idx] < 1) | v.noisy)
        # and its value must fall within the threshold of the best triple so far (a value
        # outside it comes from a truncation its own estimate does not see); its error is no
        # smaller than its distance to that value, since the two extrapolations of one large
        # triple can agree by chance where truncation already counts
        up = (move[idx] > 1) & ~best.kinky[idx]
        distance = np.abs(v.numeric - best.numeric[idx])
        trusted &= ~up | (distance <= best.threshold[idx])
        # (beyond what the best triple's own error, two of its estimates, explains)
        unexplained = distance - 2 * best.error_estimate[idx]
        grown = up & smooth & (unexplained > v.error_estimate)
        if grown.any():
            v.error_estimate[grown] = unexplained[grown]
            v.threshold[grown] = tol.threshold(
                v.numeric[grown], unexplained[grown], floor[idx][grown], user=False
            )
            over = np.abs(v.analytic - v.numeric)[grown] > v.threshold[grown]
            v.status[grown] = np.where(over, Status.MISMATCH, Status.OK)
        take = confirmed | kinky_so_far & best.kinky[idx]
        take |= trusted & (best.kinky[idx] | (v.threshold < best.threshold[idx]))
        _assign(best, idx[take], v, take)
        # (a triple counts once, should a line pass its step twice)
        new = base[idx] != counted[idx]
        support[idx] += trusted & new & (v.status == Status.MISMATCH)
        counted[idx] = np.where(trusted & (v.status == Status.MISMATCH), base[idx], counted[idx])
        deciding[idx[take]] = base[idx[take]]
        improving = v.threshold < IMPROVING * last_thr[idx]
        last_thr[idx] = v.threshold
        # a kinky line goes on down until confirmed; a smooth one goes on while its threshold
        # still falls clearly (or it just stopped looking kinky); a verdict on a threshold that
        # falls no more is as good as this function allows
        move[idx[v.kinky]] = 1 / RATIO
        unsupported = (v.status == Status.MISMATCH) & (support[idx] < 2)
        settled = (v.status == Status.MISMATCH) & ~unsupported
        going = (improving | was) & ~settled | unsupported
        active[idx] = kinky_so_far | (trusted & going)
    status = best.status.copy()
    ok = verified(best.threshold, best.analytic, best.numeric, scale, best.noisy)
    # kinky verdicts keep their status from the kink test (a kink, or a mismatch when the
    # analytic value lies outside the one-sided slopes); smooth ones are judged here
    smooth_lines = ~best.kinky
    threshold = np.where(
        smooth_lines, tol.threshold(best.numeric, best.error_estimate, floor, user), best.threshold
    )
    bad = smooth_lines & (np.abs(best.analytic - best.numeric) > threshold)
    if not (user and (tol.rtol is not None or tol.atol is not None)):
        bad &= support >= 2
    status[smooth_lines] = np.where(
        bad[smooth_lines], Status.MISMATCH, np.where(ok[smooth_lines], Status.OK, Status.UNVERIFIED)
    )
    declared = (status == Status.MISMATCH) | (status == Status.KINK)
    _recheck(state, points, declared, deciding)
    # a line stage 1 flagged and the ladder cleared: were its stage-1 values noise?
    _recheck(state, points, flagged & ~declared, np.ones(n), tuple(stage1))
    return Verdicts(best.numeric, best.analytic, best.error_estimate, threshold, status)


_NAMES = ("numeric", "analytic", "error_estimate", "threshold", "status", "kinky", "noisy")


def _put(into: Refined, where: NDArray[np.bool_], v: Refined) -> None:
    for name in _NAMES:
        getattr(into, name)[where] = getattr(v, name)


def _copy(e: Eval) -> Eval:
    return Eval(e.fp.copy(), e.fm.copy(), e.dp.copy(), e.dm.copy(), e.analytic.copy())


def _empty(n: int) -> Refined:
    def f() -> F64:
        return np.empty(n)

    flags = np.zeros(n, dtype=bool)
    return Refined(f(), f(), f(), f(), np.zeros(n, dtype=np.int8), flags, flags.copy())


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
