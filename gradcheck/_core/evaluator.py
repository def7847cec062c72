"""The evaluator: owns the user's function, the working copies of the inputs and the call count.

Every evaluation of user code goes through :class:`Evaluator`: the unperturbed evaluation with the
backward pass, evaluations at perturbed points (locally or sharded over an executor), the check
that the function left its inputs unchanged, and the progress callback. The caller's arrays are
copied once here and never written to.
"""

from __future__ import annotations

import math
import pickle
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import (
    ExecutorError,
    GradcheckError,
    InputMutationError,
    InvalidArgumentError,
    InvalidGradientError,
    NonFiniteError,
    UserCodeError,
)
from .._objective import Arrays, Base

F64 = NDArray[np.float64]

#: a perturbation of one element: (input index, flat element index, value)
Probe = tuple[int, int, Any]


class Evaluator:
    """Evaluates the objective at the unperturbed inputs and at perturbed points, counting calls.

    The checked inputs (``wrt``) are copied into C-ordered arrays of native byte order. Other
    inputs are passed through: arrays are copied (keeping their class and dtype), so that a
    function that writes to them is caught and the caller's arrays stay unchanged; any other
    object (None, a list, a dict of labels) is passed as it is.
    """

    def __init__(
        self,
        objective: Any,
        names: Sequence[str],
        arrays: Sequence[Any],
        wrt: Sequence[int],
        executor: Executor | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.objective = objective
        self.names = tuple(names)
        self.work: Arrays = [
            _working_copy(a) if k in wrt else (a.copy() if isinstance(a, np.ndarray) else a)
            for k, a in enumerate(arrays)
        ]
        self._pristine = [w.copy() if isinstance(w, np.ndarray) else None for w in self.work]
        self.executor = executor
        self._progress_fn = progress
        self._blob: bytes | None = None
        self.calls = 0
        self.backward_calls = 0
        self.planned = 0
        #: the time of one evaluation, once measured (see :meth:`value`)
        self.seconds_per_call = 0.0

    # ---- bookkeeping --------------------------------------------------------------------------

    def plan(self, total: int) -> None:
        """Announce the number of calls the check now expects to make in all."""
        self.planned = total

    def progress(self) -> None:
        """Report progress to the caller's callback, if any."""
        if self._progress_fn is not None:
            self.planned = max(self.planned, self.calls)
            self._progress_fn(self.calls, self.planned)

    def mutation_check(self, during: str) -> None:
        """Raise :class:`InputMutationError` when user code changed a working copy in place."""
        changed = tuple(
            self.names[k]
            for k, (w, p) in enumerate(zip(self.work, self._pristine, strict=True))
            if p is not None and not same_bits(w, p)
        )
        if changed:
            for w, p in zip(self.work, self._pristine, strict=True):
                if p is not None:
                    np.copyto(w, p)
            raise InputMutationError(
                f"{during} changed its input(s) {list(changed)} in place; a function under a "
                "gradient check must not modify its inputs (copy them first)",
                names=changed,
                during=during,
            )

    # ---- evaluations --------------------------------------------------------------------------

    def base(self, wrt: Sequence[int]) -> tuple[Base, dict[int, F64]]:
        """The unperturbed evaluation with the backward pass, and the gradients of inputs ``wrt``
        (validated, in float64)."""
        base: Base = self.objective.base(self.work, self.mutation_check)
        self.calls += 1
        self.backward_calls += 1
        return base, self._validate_grads(base.grads, wrt)

    def gradients_at(self, arrays: Arrays, wrt: Sequence[int]) -> dict[int, F64]:
        """The gradients of inputs ``wrt`` from the function and backward pass at ``arrays``."""

        def unchanged(during: str) -> None:  # these arrays are the evaluator's own
            pass

        try:
            base: Base = self.objective.base(arrays, unchanged)
        except GradcheckError:
            raise
        except Exception as exc:  # pragma: no cover - base wraps user errors itself
            raise UserCodeError(f"the function raised {exc!r}", during="evaluation") from exc
        self.calls += 1
        self.backward_calls += 1
        return self._validate_grads(base.grads, wrt)

    def absolute_grads(self, wrt: Sequence[int]) -> dict[int, F64] | None:
        """Per element of inputs ``wrt`` (flat), ``|backward(|dout|)|`` at the unperturbed point:
        the size of the terms the backward pass sums into each gradient. None when the objective
        has no cotangents to take the magnitude of (a scalar loss, complex outputs)."""
        absolute = getattr(self.objective, "absolute_grads", None)
        if absolute is None:
            return None
        self.calls += 1
        self.backward_calls += 1
        try:  # a backward pass that refuses |dout| excuses nothing
            grads = absolute(self.work, self.mutation_check)
            out = None if grads is None else self._validate_grads(list(grads), wrt)
        except GradcheckError:
            return None
        return None if out is None else {k: np.abs(g).reshape(-1) for k, g in out.items()}

    def _validate_grads(self, grads: list[object], wrt: Sequence[int]) -> dict[int, F64]:
        n = len(self.names)
        if len(grads) != n:
            raise InvalidGradientError(
                f"the backward pass returned {len(grads)} gradient(s) but there are {n} inputs "
                f"{list(self.names)}; return one gradient per input, in order (None for inputs "
                "that are not checked)"
            )
        out: dict[int, F64] = {}
        for k in wrt:
            g, x, name = grads[k], self.work[k], self.names[k]
            if not isinstance(g, np.ndarray):
                raise InvalidGradientError(
                    f"the gradient for {name!r} must be a numpy array of shape {x.shape}, got "
                    f"{type(g).__name__} {g!r}"[:200]
                )
            if g.shape != x.shape:
                raise InvalidGradientError(
                    f"the gradient for {name!r} has shape {g.shape} but {name!r} has shape "
                    f"{x.shape}" + ("; is it transposed?" if g.shape == x.shape[::-1] else "")
                )
            if g.dtype != x.dtype:
                douts = getattr(self.objective, "douts_user", ())
                given = sorted({str(d.dtype) for d in douts if d.dtype != x.dtype})
                cause = (
                    f"the cotangents passed are {', '.join(given)}: give them in the outputs' "
                    "dtype, or cast the gradients"
                    if given and getattr(self.objective, "cotangents", None) is not None
                    else "a silent up- or down-cast in the backward pass?"
                )
                raise InvalidGradientError(
                    f"the gradient for {name!r} has dtype {g.dtype} but {name!r} has dtype "
                    f"{x.dtype}; a gradient must have its input's dtype ({cause})"
                )
            if not np.all(np.isfinite(g)):
                bad = tuple(int(i) for i in np.argwhere(~np.isfinite(g))[0])
                raise NonFiniteError(
                    f"the gradient for {name!r} contains {g[bad]} at index {list(bad)}"
                )
            out[k] = g.astype(np.float64)
        return out

    def value(self, arrays: Arrays, where: str, tolerant: bool = False) -> complex:
        """The objective at ``arrays``; ``where`` says where, for error messages.

        ``tolerant``: NaN instead of an error when the function raises or is not finite there.
        """
        start = time.perf_counter()
        try:
            v: complex = self.objective(arrays)
        except GradcheckError:
            if tolerant:
                self.calls += 1
                return math.nan
            raise
        except Exception as exc:
            self.calls += 1
            if tolerant:
                return math.nan
            raise UserCodeError(
                f"the function raised {type(exc).__name__}: {exc} (evaluated {where})",
                during=f"evaluation {where}",
            ) from exc
        self.calls += 1
        if not self.seconds_per_call:
            self.seconds_per_call = time.perf_counter() - start
        if not np.isfinite(v):
            if tolerant:
                return math.nan
            raise NonFiniteError(f"the function returned {v} {where}")
        return v

    def probes(self, probes: list[Probe], arrays: Arrays, tolerant: bool = False) -> NDArray[Any]:
        """The objective with one element of ``arrays`` changed per probe, in order.

        ``tolerant``: NaN for a probe where the function raises or is not finite.
        """
        executor = self.executor
        if executor is not None and len(probes) >= 8:
            values = self._parallel(executor, probes, arrays, tolerant)
            self.calls += len(probes)
            self.progress()
        elif self._progress_fn is None:
            values = eval_probes(self.objective, arrays, probes, self.names, tolerant)
            self.calls += len(probes)
        else:
            values = []
            for lo in range(0, len(probes), 64):
                chunk = probes[lo : lo + 64]
                values += eval_probes(self.objective, arrays, chunk, self.names, tolerant)
                self.calls += len(chunk)
                self.progress()
        return np.asarray(values)

    def _parallel(
        self, executor: Executor, probes: list[Probe], arrays: Arrays, tolerant: bool
    ) -> list[complex]:
        """Shard ``probes`` over ``executor``. Every task owns its copy of the function and of
        the arrays (what a process pool gives by pickling, a thread pool gets the same way), so
        tasks running in threads of one process cannot race on shared working arrays or on the
        state of a layer object."""
        if self._blob is None:
            self._blob = pickle.dumps(self.objective)
        workers = int(getattr(executor, "_max_workers", 0) or 2)
        bounds = guided_chunks(len(probes), workers)
        futures: list[Future[list[complex]]] = []
        try:
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
                futures.append(
                    executor.submit(
                        eval_task, self._blob, arrays, probes[lo:hi], self.names, tolerant
                    )
                )
            values: list[complex] = []
            for fut in futures:
                values.extend(fut.result())
            return values
        except GradcheckError:
            raise
        except Exception as exc:
            what = "refused the work" if len(futures) < len(bounds) - 1 else "failed"
            raise ExecutorError(
                f"executor: the {type(executor).__name__} {what} with {type(exc).__name__}: "
                f"{exc} (is it shut down? did a worker crash, for instance from os._exit, a "
                "segmentation fault or running out of memory in the function?)"
            ) from exc
        finally:
            for fut in futures:
                fut.cancel()


def eval_task(
    blob: bytes,
    arrays: Arrays,
    probes: Sequence[Probe],
    names: Sequence[str],
    tolerant: bool = False,
) -> list[complex]:
    """One executor task: :func:`eval_probes` on private copies of the function and arrays.

    A function that changes its inputs in place is caught here, on the task's copies.
    """
    try:
        objective = pickle.loads(blob)
    except Exception as exc:
        raise ExecutorError(
            f"executor: the function could not be loaded in a worker ({type(exc).__name__}: "
            f"{exc}); is its module importable there?"
        ) from exc
    own = [a.copy() if isinstance(a, np.ndarray) else a for a in arrays]
    values = eval_probes(objective, own, probes, names, tolerant)
    changed = tuple(
        names[k]
        for k, (a, b) in enumerate(zip(own, arrays, strict=True))
        if isinstance(b, np.ndarray) and not same_bits(a, b)
    )
    if changed:
        raise InputMutationError(
            f"a perturbed evaluation changed its input(s) {list(changed)} in place; a function "
            "under a gradient check must not modify its inputs (copy them first)",
            names=changed,
            during="a perturbed evaluation",
        )
    return values


def _working_copy(a: NDArray[Any]) -> NDArray[Any]:
    """A C-ordered copy of a checked input, in native byte order."""
    return np.array(a, dtype=a.dtype.newbyteorder("="), copy=True, order="C")


def same_bits(a: NDArray[Any], b: NDArray[Any]) -> bool:
    """Whether two arrays of one dtype hold the same values bit for bit.

    Extended precision (``longdouble``) has padding bytes that copies need not preserve, so it
    compares values, NaNs and the signs of zeros instead of bytes.
    """
    if a.dtype.kind in "fc" and a.dtype.itemsize > np.dtype(a.dtype.kind + "8").itemsize * (
        2 if a.dtype.kind == "c" else 1
    ):
        return bool(
            np.array_equal(a, b, equal_nan=True)
            and np.array_equal(np.signbit(np.real(a)), np.signbit(np.real(b)))
            and np.array_equal(np.signbit(np.imag(a)), np.signbit(np.imag(b)))
        )
    return a.tobytes() == b.tobytes()


def eval_probes(
    objective: Callable[[Arrays], complex],
    arrays: Arrays,
    probes: Sequence[Probe],
    names: Sequence[str],
    tolerant: bool = False,
) -> list[complex]:
    """Evaluate ``objective`` with element ``j`` of input ``k`` set to ``value``, for each probe.

    The element is restored bit for bit after each evaluation, also when the objective raises.
    ``tolerant``: NaN for a probe where the objective raises or is not finite, instead of an
    error. (A module-level function, so that executors can ship it to worker processes.)
    """
    flats = {k: arrays[k].reshape(-1) for k in {p[0] for p in probes}}
    values: list[complex] = []
    for k, j, value in probes:
        flat = flats[k]
        old = flat[j]
        flat[j] = value
        try:
            v = objective(arrays)
        except GradcheckError:
            if not tolerant:
                raise
            v = math.nan
        except Exception as exc:
            if tolerant:
                values.append(math.nan)
                continue
            where = _where(names[k], arrays[k].shape, j, value, old)
            raise UserCodeError(
                f"the function raised {type(exc).__name__}: {exc} (evaluated at {where})",
                during=f"perturbed evaluation at {where}",
            ) from exc
        finally:
            flat[j] = old
        if not np.isfinite(v) and not tolerant:
            where = _where(names[k], arrays[k].shape, j, value, old)
            raise NonFiniteError(
                f"the function returned {v} at {where}; the step left the region where it is "
                "finite (a log or division near a singularity?)"
            )
        values.append(v if np.isfinite(v) else math.nan)
    return values


def _where(name: str, shape: tuple[int, ...], j: int, value: Any, old: Any) -> str:
    index = tuple(int(i) for i in np.unravel_index(j, shape)) if shape else ()
    delta = value - old
    return f"{name}{list(index)} {'+' if np.real(delta) >= 0 else '-'} {abs(delta):.3g}" + (
        "i" if np.iscomplexobj(delta) else ""
    )


def guided_chunks(n: int, workers: int, smallest: int = 8) -> list[int]:
    """Chunk bounds for ``n`` probes over ``workers``: each chunk a share of what is left
    (guided self-scheduling), so the first chunks are large (few round trips) and the last
    ones small (the workers finish together instead of one waiting for the other's chunk)."""
    bounds = [0]
    while bounds[-1] < n:
        left = n - bounds[-1]
        bounds.append(bounds[-1] + min(left, max(smallest, -(-left // (2 * workers)))))
    return bounds


def check_picklable(objective: object) -> None:
    """Raise a clear error when an executor is given but the function cannot be shipped."""
    try:
        pickle.dumps(objective)
    except Exception as exc:
        raise InvalidArgumentError(
            "executor: the function must be picklable to run in other processes (define it at "
            f"module level, not as a lambda or closure); pickling failed with: {exc}"
        ) from exc
