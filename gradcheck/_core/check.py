"""The orchestrator: one gradient check from the unperturbed evaluation to the result.

``run_check`` evaluates the function and its backward pass once, proves the function
deterministic, derives the scales of the check, prepares the numerical method (``methods.py``),
runs the mode (``modes.py``) and assembles the :class:`CheckResult`. Diagnosis is not part of the
core: the caller adds findings to a failed result.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import NondeterminismError
from .._result import CheckResult
from .evaluator import Evaluator
from .methods import METHODS
from .modes import MODES
from .numerics import scales
from .results import input_result
from .state import CheckState, Options


def _noise_note(state: CheckState) -> tuple[str, ...]:
    levels = list(state.noise_measured.values())
    if not levels:
        return ()
    low, high = min(levels), max(levels)
    span = f"{low:.3g}" if high <= 1.5 * low else f"{low:.3g} to {high:.3g}"
    return (f"rounding noise of one evaluation, measured in {len(levels)} place(s): {span}",)


def run_check(
    objective: Any,
    names: Sequence[str],
    arrays: Sequence[NDArray[Any]],
    wrt: Sequence[int],
    options: Options,
) -> CheckResult:
    """Check the gradients of inputs ``wrt`` of ``objective`` at ``arrays`` (see the module)."""
    t0 = time.perf_counter()
    ev = Evaluator(objective, names, arrays, wrt, options.executor, options.progress)
    base, grads = ev.base(wrt)
    again = ev.value(ev.work, "a second time at the unperturbed inputs")
    ev.mutation_check("the second evaluation")
    diff = abs(complex(again) - base.value)
    if diff > options.nondet_tol:
        raise NondeterminismError(
            f"the function is not deterministic: two evaluations at the same inputs gave "
            f"{base.value!r} and {float(np.real(again))!r} (difference {diff:.3g}); finite "
            "differences would measure this noise, not the gradient. Fix the randomness "
            "(seed it inside the function) or pass nondet_tol=... to accept it",
            difference=diff,
        )
    dtypes = [ev.work[k].dtype for k in wrt] + list(base.out_dtypes)
    sc = scales(base.value, base.magnitude, grads, {k: ev.work[k] for k in wrt}, dtypes)
    method = METHODS[options.method]()
    state = CheckState(ev, wrt, options, grads, sc, method)
    method.prepare(state)
    mode_used = MODES[options.mode](state)
    ev.plan(ev.calls)
    ev.progress()
    ev.mutation_check("a perturbed evaluation")
    inputs = {ev.names[k]: input_result(state, k) for k in wrt}
    passed = all(r.passed for r in inputs.values()) and all(d.passed for d in state.screens)
    return CheckResult(
        passed=passed,
        inputs=inputs,
        method=options.method,
        mode=options.mode,
        mode_used=mode_used,
        calls=ev.calls,
        backward_calls=ev.backward_calls,
        wall_time=time.perf_counter() - t0,
        noise=max([sc.noise_guess, *state.noise_measured.values()]),
        screens=tuple(state.screens),
        notes=tuple(state.notes) + _noise_note(state),
        options=options.public(),
    )
