"""Checks against a reference implementation: compare arrays under rounding bounds.

Finite differences tell whether a backward pass matches its own forward pass, to the accuracy
of a difference quotient. When a trusted implementation of the same function exists, its values
are a far stricter test: a correct implementation differs from it by rounding only. The caller
supplies, per array, the reference values and a bound on the rounding difference (for example
a multiple of ``eps`` times the magnitude of the terms the element is made of);
:func:`check_reference` judges every element against its bound and returns the usual
:class:`CheckResult`, so reports, breakdowns and the diagnosis work unchanged. In the result,
``analytic`` is the value under test, ``numeric`` the reference value and ``threshold`` the
bound; the method is ``"reference"``.

:func:`merge` joins such a result with a finite-difference check of what the reference does not
cover (or any two results of disjoint inputs) into one result.

This module knows nothing about what the arrays mean: annotations (axis names, groups) and an
``explain`` callback that turns the per-array verdicts into findings are the caller's hooks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._annotations import Annotation
from ._diagnose import diagnose
from ._errors import InvalidArgumentError
from ._result import CheckResult, ElementCheck, Finding, InputResult, Status

__all__ = ["check_reference", "merge_results"]

Explain = Callable[[Mapping[str, InputResult]], Sequence[Finding]]


def _real_array(what: str, name: str, value: object) -> NDArray[Any]:
    try:
        arr = np.asarray(value)
    except Exception as exc:  # an object numpy cannot read
        raise InvalidArgumentError(f"{what}[{name!r}] is not an array: {exc}") from None
    if arr.dtype.kind not in "fiu" or arr.dtype == np.float16:
        raise InvalidArgumentError(
            f"{what}[{name!r}] has dtype {arr.dtype}; expected real numbers (float32 or float64)"
        )
    return arr


def _input(
    name: str,
    value: NDArray[Any],
    ref: NDArray[np.float64],
    bound: NDArray[np.float64],
    estimate: NDArray[np.float64],
    annotation: Annotation | None,
) -> InputResult:
    a = value.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(a - ref)
        err = np.where(np.isfinite(a), err, np.inf)  # a NaN or inf under test always fails
        bad = err > bound
        scale = np.maximum(np.abs(a), np.abs(ref))
        rel = np.where(scale > 0, err / np.where(scale > 0, scale, 1.0), np.where(err > 0, 1, 0))
        excess = np.where(bound > 0, err / np.where(bound > 0, bound, 1.0), np.inf)
        excess = np.where(err > 0, excess, 0.0)
    status = np.where(bad, Status.MISMATCH, Status.OK).astype(np.int8)
    worst = None
    if a.size:
        j = int(np.argmax(np.where(np.isnan(excess), np.inf, excess)))
        index = tuple(int(i) for i in np.unravel_index(j, a.shape))
        worst = ElementCheck(
            index=index,
            analytic=float(a[index]),
            numeric=float(ref[index]),
            abs_error=float(err[index]),
            rel_error=float(rel[index]),
            error_estimate=float(estimate[index]),
            threshold=float(bound[index]),
            status=Status(int(status[index])),
        )
    return InputResult(
        name=name,
        shape=tuple(a.shape),
        dtype=str(value.dtype),
        checked=int(a.size),
        mismatches=int(bad.sum()),
        kinks=(),
        worst=worst,
        max_abs_error=float(err.max()) if a.size else 0.0,
        max_rel_error=float(rel.max()) if a.size else 0.0,
        directions=(),
        analytic=a,
        numeric=ref,
        error_estimate=estimate,
        threshold=bound,
        status=status,
        annotation=annotation,
    )


def check_reference(
    values: Mapping[str, ArrayLike],
    reference: Mapping[str, ArrayLike],
    bounds: Mapping[str, ArrayLike],
    *,
    estimates: Mapping[str, ArrayLike] | None = None,
    annotations: Mapping[str, object] | None = None,
    explain: Explain | None = None,
    notes: Sequence[str] = (),
    calls: int = 0,
    backward_calls: int = 0,
    wall_time: float = 0.0,
    options: Mapping[str, object] | None = None,
) -> CheckResult:
    """Judge arrays against reference values, element by element, under rounding bounds.

    An element fails when ``|value - reference| > bound`` (or the value is NaN or infinite).

    Parameters
    ----------
    values : dict of str to array
        The arrays under test (gradients, outputs...), by name, in report order.
    reference : dict of str to array
        The reference values: the same names and shapes, finite.
    bounds : dict of str to array or float
        Per name, the largest difference rounding explains, broadcast to the array's shape
        (finite, >= 0): the threshold of every element.
    estimates : dict of str to array or float, optional
        The rounding estimate shown as each element's error estimate (default: the bound).
    annotations : dict, optional
        Axis names and groups per name, as in :class:`CheckOptions` (for reports and diagnosis).
    explain : callable, optional
        ``explain(inputs)`` receives the per-name :class:`InputResult` and returns findings
        that go before the generic diagnosis's (for example the caller's own reading of
        where the differences are). It is called only when a check fails.
    notes, calls, backward_calls, wall_time, options
        Stored in the result as they are (how the values were obtained).

    Returns
    -------
    CheckResult
        With ``method="reference"`` and ``mode="full"``.

    Examples
    --------
    >>> import numpy as np
    >>> from gradcheck import check_reference
    >>> exact = {"w": np.array([1.0, 2.0, 3.0])}
    >>> ours = {"w": exact["w"] * (1 + np.array([1e-16, 0.0, 1e-9]))}
    >>> r = check_reference(ours, exact, {"w": 4 * np.finfo(float).eps * np.abs(exact["w"])})
    >>> r.passed, r.inputs["w"].mismatches, r.inputs["w"].worst.index
    (False, 1, (2,))
    """
    for what, mapping in (("values", values), ("reference", reference), ("bounds", bounds)):
        if not isinstance(mapping, Mapping):
            raise InvalidArgumentError(
                f"Expected a dict of arrays for {what}, but got {type(mapping).__name__}"
            )
    names = list(values)
    if not names:
        raise InvalidArgumentError("values is empty: give at least one array to compare")
    for what, mapping in (("reference", reference), ("bounds", bounds)):
        missing = [n for n in names if n not in mapping]
        extra = [n for n in mapping if n not in values]
        if missing or extra:
            raise InvalidArgumentError(
                f"{what} must have exactly the names of values; missing {missing}, "
                f"unexpected {extra}"
            )
    notes_spec = annotations or {}
    if not isinstance(notes_spec, Mapping):
        raise InvalidArgumentError("annotations must be a mapping from names to annotations")
    unknown = [n for n in notes_spec if n not in values]
    if unknown:
        raise InvalidArgumentError(f"annotations names {unknown}, which are not in values")
    inputs: dict[str, InputResult] = {}
    for name in names:
        value = _real_array("values", name, values[name])
        ref = _real_array("reference", name, reference[name]).astype(np.float64)
        if ref.shape != value.shape:
            raise InvalidArgumentError(
                f"values[{name!r}] has shape {value.shape} but reference[{name!r}] has shape "
                f"{ref.shape}"
            )
        if not np.all(np.isfinite(ref)):
            raise InvalidArgumentError(f"reference[{name!r}] has non-finite values")
        bound = _broadcast("bounds", name, bounds[name], value.shape)
        estimate = (
            bound
            if estimates is None or name not in estimates
            else _broadcast("estimates", name, estimates[name], value.shape)
        )
        annotation = None
        if name in notes_spec:
            annotation = Annotation.parse(notes_spec[name], name, tuple(value.shape))
        inputs[name] = _input(name, value, ref, bound, estimate, annotation)
    passed = all(r.passed for r in inputs.values())
    findings: tuple[Finding, ...] = ()
    if not passed:
        own = tuple(explain(inputs)) if explain is not None else ()
        findings = own + diagnose(inputs)
    return CheckResult(
        passed=passed,
        inputs=inputs,
        method="reference",
        mode="full",
        mode_used="full",
        calls=calls,
        backward_calls=backward_calls,
        wall_time=wall_time,
        noise=0.0,
        notes=tuple(notes),
        options=dict(options or {}),
        findings=findings,
    )


def _broadcast(what: str, name: str, value: object, shape: tuple[int, ...]) -> NDArray[np.float64]:
    arr = _real_array(what, name, value).astype(np.float64)
    try:
        out = np.broadcast_to(arr, shape).copy()
    except ValueError:
        raise InvalidArgumentError(
            f"{what}[{name!r}] has shape {arr.shape}, which does not broadcast to {shape}"
        ) from None
    if not np.all(np.isfinite(out)) or np.any(out < 0):
        raise InvalidArgumentError(f"{what}[{name!r}] must be finite and >= 0")
    return out


def merge_results(
    first: CheckResult, *others: CheckResult, notes: Sequence[str] = ()
) -> CheckResult:
    """One result from several checks of different inputs (a reference check and the rest).

    The inputs of all results, in order, must have distinct names. The method, mode and noise
    are the first result's; calls, backward calls and wall time add up; notes, screens and
    findings are concatenated (with ``notes`` appended), options are the first's with the
    others' under ``"merged"``.

    Examples
    --------
    >>> import numpy as np
    >>> from gradcheck import check_grad, check_reference, merge_results
    >>> a = check_reference({"w": np.ones(2)}, {"w": np.ones(2)}, {"w": 0.0})
    >>> b = check_grad(lambda v: float(v @ v), lambda v: (2 * v,), {"v": np.ones(3)})
    >>> m = merge_results(a, b)
    >>> list(m.inputs), m.method, m.passed
    (['w', 'v'], 'reference', True)
    """
    results = (first, *others)
    for r in results:
        if not isinstance(r, CheckResult):
            raise InvalidArgumentError(f"merge_results takes CheckResults, got {type(r).__name__}")
    inputs: dict[str, InputResult] = {}
    for r in results:
        for name, ir in r.inputs.items():
            if name in inputs:
                raise InvalidArgumentError(
                    f"the input {name!r} is in two of the results; merge joins checks of "
                    "different inputs"
                )
            inputs[name] = ir
    options = dict(first.options)
    if others:
        options["merged"] = [
            {"method": r.method, "mode": r.mode, **dict(r.options)} for r in others
        ]
    findings = [f for r in results for f in r.findings]
    return CheckResult(
        passed=all(r.passed for r in results),
        inputs=inputs,
        method=first.method,
        mode=first.mode,
        mode_used=first.mode_used,
        calls=sum(r.calls for r in results),
        backward_calls=sum(r.backward_calls for r in results),
        wall_time=math.fsum(r.wall_time for r in results),
        noise=first.noise,
        screens=tuple(s for r in results for s in r.screens),
        notes=tuple(n for r in results for n in r.notes) + tuple(notes),
        options=options,
        findings=tuple(findings),
    )
