"""Public entry points: check_layer, check_vjp, check_grad, check_loss, check_module, and the
forward-mode and second-order checks check_jvp, check_hvp and check_gradgrad."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from datetime import timedelta
from typing import Any, Literal, TypedDict, Unpack

import numpy as np
from numpy.typing import NDArray

from . import _complex
from ._annotations import Annotation
from ._core import METHODS, MODES, Budget, Options, check_picklable, run_check
from ._diagnose import diagnose
from ._dtypes import is_float
from ._errors import (
    GradcheckError,
    InvalidArgumentError,
    NonFiniteError,
    UserCodeError,
    _show,
)
from ._forward import (
    HvpAdjoint,
    JvpObjective,
    Selected,
    VjpFunction,
    VjpJvp,
    VjpJvpAdjoint,
    identity_result,
)
from ._frontend import foreign_array, foreign_hint
from ._objective import (
    GradObjective,
    LayerObjective,
    LossObjective,
    ModuleObjective,
    VjpObjective,
    _as_outputs,
    _call_user,
)
from ._progress import close as close_progress
from ._progress import progress_option
from ._reference import merge_results
from ._result import CheckResult

__all__ = [
    "CheckOptions",
    "check_grad",
    "check_gradgrad",
    "check_hvp",
    "check_jvp",
    "check_layer",
    "check_loss",
    "check_module",
    "check_vjp",
]


class CheckOptions(TypedDict, total=False):
    """Options shared by every ``check_*`` function (all keyword-only, all optional).

    wrt : sequence of str
        Names of the inputs to check (default: all). Inputs left out are passed through unchanged
        and may be of any type (integer labels, flags...).
    method : {"central", "richardson", "complex"}
        ``"central"`` (default): central differences, 2 calls per element, confirmed by Richardson
        extrapolation before a mismatch is declared. ``"richardson"``: extrapolation from steps
        ``2h`` and ``4h`` with a per-element error estimate, 4 calls per element. ``"complex"``:
        complex step ``Im f(x + ih) / h``, exact to rounding, 1 call per element; the function must
        accept complex input (and be real at real inputs: complex inputs or outputs refuse it).
    mode : {"auto", "full", "sample", "directional"}
        ``"full"``: every element. ``"sample"``: ``samples`` seeded elements per input, always
        including the first and last element. ``"directional"``: ``directions`` random directions
        per input, ``<g, u>`` against the directional derivative. ``"auto"`` (default): full when
        it fits the ``budget``; otherwise screens that spend ``screen``: directions with random
        signs over blocks of each input (one common block size, at least one block per input),
        then the failing blocks split in halves down to their wrong elements, within the
        ``budget``.
    seed : int
        Seeds the cotangents, samples and directions (default 0): results are reproducible.
    rtol, atol : float
        Fixed tolerances: when either is given, an element fails when
        ``|analytic - numeric| > atol + rtol * |numeric|`` instead of the error-estimate threshold.
    safety : float
        Factor on the error estimate in the threshold ``safety * estimate + floor`` (default 4).
    samples : int
        Elements per input in ``mode="sample"`` (default 10).
    directions : int
        Random directions per screen (default 2).
    budget : int or str or datetime.timedelta
        What ``mode="auto"`` may spend in all (default 4000 calls): a number of calls, or a
        duration (``"2.5s"``, ``"500ms"``, ``"2min"`` or a ``timedelta``, turned into calls by
        the time one call takes). A full check is run when it fits.
    screen : int or str or datetime.timedelta
        What ``mode="auto"`` spends beyond the checks it must make, to lower its detection floor
        (default 128 calls), within the ``budget``: screens of smaller blocks when a full check
        does not fit, the elements with the highest detection bounds judged again when it
        does.
    kinks : {"report", "fail", "skip"}
        Elements where the function is not differentiable (one-sided slopes disagree and the
        analytic value lies between them): reported without failing (default), counted as
        failures, or skipped.
    executor : concurrent.futures.Executor
        Shards element evaluations over an executor (a process pool, dask's
        ``Client.get_executor()``...); the function must then be picklable.
    annotations : Mapping[str, object]
        Per input name, the meaning of its axes (see :class:`Annotation`), used by reports.
    nondet_tol : float
        Largest difference accepted between two evaluations at the same point (default 0).
    progress : bool or callable
        ``True``: a tqdm progress bar on stderr (``pip install "gradcheck[progress]"``).
        A callable: ``progress(done, total)`` is called as function calls complete (``total`` is
        the current plan and may grow when mismatches are confirmed).
    sizes : Mapping[str, int]
        Sizes the diagnosis should know when no input carries their axes, e.g.
        ``{"N": 3, "T": 5}`` for a loss averaged over batch and time checked on weights only: a
        constant ratio is then matched against each size, its inverse and square root, and the
        products of two sizes. ``N`` and ``T`` get the batch and time hints.
    """

    wrt: Sequence[str]
    method: Literal["central", "richardson", "complex"]
    mode: Literal["auto", "full", "sample", "directional"]
    seed: int
    rtol: float
    atol: float
    safety: float
    samples: int
    directions: int
    budget: int | str | timedelta
    screen: int | str | timedelta
    kinks: Literal["report", "fail", "skip"]
    executor: Executor
    annotations: Mapping[str, object]
    nondet_tol: float
    progress: bool | Callable[[int, int], None]
    sizes: Mapping[str, int]


_CHOICES = {
    "method": tuple(METHODS),
    "mode": tuple(MODES),
    "kinks": ("report", "fail", "skip"),
}
_KNOWN = set(CheckOptions.__annotations__)


def _expected(name: str, expected: str, value: object) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"Expected {expected} for {name}, but got {name}={_show(value)} "
        f"(type={type(value).__name__})"
    )


#: Largest count accepted for ``samples``, ``directions`` and ``budget`` (numpy's int64).
_COUNT_MAX = 2**63 - 1


def _int_option(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        wanted = f"an integer >= {minimum}"
        if maximum is not None:
            wanted += f" and <= {maximum}"
        raise _expected(name, wanted, value)
    return int(value)


def _float_option(name: str, value: object, *, positive: bool = False) -> float:
    expected = "a finite number > 0" if positive else "a finite number >= 0"
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise _expected(name, expected, value)
    try:
        number = float(value)
    except OverflowError:  # an int beyond the float range, such as 10**400
        raise _expected(name, expected, value) from None
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise _expected(name, expected, value)
    return number


_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|min)\s*")
_UNIT = {"ms": 1e-3, "s": 1.0, "min": 60.0}


def _budget_option(name: str, value: object) -> Budget:
    """A budget: a number of calls, or a duration (a string such as "2.5s", or a timedelta)."""
    expected = 'a number of calls (an int >= 1), or a duration such as "2.5s" or a timedelta'
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match is None:
            raise _expected(name, expected, value)
        seconds = float(match[1]) * _UNIT[match[2]]
    elif isinstance(value, int | np.integer) and not isinstance(value, bool):
        return Budget(calls=_int_option(name, value, 1, _COUNT_MAX))
    else:
        raise _expected(name, expected, value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise _expected(name, expected, value)
    return Budget(seconds=seconds)


def _progress_option(progress: object) -> Callable[[int, int], None] | None:
    """The ``progress`` callback, checked for its arity, wrapped so that what it raises names it."""
    if progress is None:
        return None
    if not callable(progress):
        raise _expected("progress", "True or a callable progress(done, total)", progress)
    try:
        signature = inspect.signature(progress)
    except (TypeError, ValueError):  # a builtin without a signature: what it raises is named
        return _Progress(progress)
    try:
        signature.bind(0, 0)
    except TypeError as exc:
        raise InvalidArgumentError(
            f"progress must accept two positional arguments, progress(done, total), but "
            f"{getattr(progress, '__qualname__', progress)!r} has the signature {signature} "
            f"({exc})"
        ) from None
    return _Progress(progress)


class _Progress:
    """The user's ``progress(done, total)``; an exception it raises becomes a UserCodeError."""

    def __init__(self, fn: Callable[[int, int], object]) -> None:
        self.fn = fn

    def __call__(self, done: int, total: int) -> None:
        try:
            self.fn(done, total)
        except GradcheckError:
            raise
        except Exception as exc:
            hint = (
                "; progress must accept two positional arguments (done, total)"
                if isinstance(exc, TypeError)
                else ""
            )
            raise UserCodeError(
                f"the progress callback progress({done}, {total}) raised "
                f"{type(exc).__name__}: {exc}{hint}",
                during="progress",
            ) from exc


def _sizes_option(value: object) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise _expected("sizes", 'a mapping from names to sizes, such as {"T": 5}', value)
    out = {}
    for name, size in value.items():
        if not isinstance(name, str) or not name:
            raise _expected("a key of sizes", "a non-empty string name", name)
        out[name] = _int_option(f"sizes[{name!r}]", size, 1)
    return out


def _parse_options(
    options: Mapping[str, Any], names: Sequence[str], arrays: Sequence[object]
) -> tuple[Options, list[int]]:
    unknown = [key for key in options if key not in _KNOWN]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, sorted(_KNOWN), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InvalidArgumentError(
            f"unknown option {key!r}{hint} Known options: {', '.join(sorted(_KNOWN))}"
        )
    for key, choices in _CHOICES.items():
        if key in options and (not isinstance(options[key], str) or options[key] not in choices):
            value = options[key]
            raise InvalidArgumentError(
                f"{key} must be one of {', '.join(map(repr, choices))}, got {key}={_show(value)}"
                f" (type={type(value).__name__})"
            )
    kw: dict[str, Any] = {k: options[k] for k in _CHOICES if k in options}
    if "seed" in options:
        kw["seed"] = _int_option("seed", options["seed"], 0)
    for key in ("rtol", "atol"):
        if options.get(key) is not None:
            kw[key] = _float_option(key, options[key])
    if "safety" in options:
        kw["safety"] = _float_option("safety", options["safety"], positive=True)
    if "nondet_tol" in options:
        kw["nondet_tol"] = _float_option("nondet_tol", options["nondet_tol"])
    for key in ("samples", "directions"):
        if key in options:
            kw[key] = _int_option(key, options[key], 1, _COUNT_MAX)
    for key in ("budget", "screen"):
        if key in options:
            kw[key] = _budget_option(key, options[key])
    executor = options.get("executor")
    if executor is not None and not isinstance(executor, Executor):
        raise _expected("executor", "a concurrent.futures.Executor", executor)
    kw["executor"] = executor

    wrt_names = options.get("wrt")
    if wrt_names is None:
        wrt = list(range(len(names)))
    else:
        if isinstance(wrt_names, str) or not isinstance(wrt_names, Sequence | set | frozenset):
            raise _expected("wrt", "a list of input names", wrt_names)
        wrt = []
        for n in wrt_names:
            if n not in names:
                raise InvalidArgumentError(
                    f"wrt names {_show(n)}, which is not an input; the inputs are {list(names)}"
                )
            if names.index(n) in wrt:
                raise InvalidArgumentError(f"wrt names {_show(n)} twice")
            wrt.append(names.index(n))
        if not wrt:
            raise InvalidArgumentError("wrt is empty: name at least one input to check")
        wrt.sort()

    _validate_arrays(names, arrays, wrt)
    spec = options.get("annotations")
    spec = {} if spec is None else spec
    if not isinstance(spec, Mapping):
        raise _expected("annotations", "a mapping from input names to annotations", spec)
    annotations: dict[str, Annotation] = {}
    for name, ann in spec.items():
        if name not in names:
            raise InvalidArgumentError(
                f"annotations names {_show(name)}, which is not an input; the inputs are "
                f"{list(names)}"
            )
        shape = np.shape(arrays[names.index(name)])  # type: ignore[call-overload]
        annotations[name] = Annotation.parse(ann, name, tuple(shape))
    kw["annotations"] = annotations
    if "sizes" in options:
        kw["sizes"] = _sizes_option(options["sizes"])
    # last: progress=True opens a bar, which _run closes
    progress = options.get("progress")
    if progress is None or isinstance(progress, bool | np.bool_):
        kw["progress"] = progress_option(bool(progress))
    else:
        kw["progress"] = _progress_option(progress)
    return Options(**kw), wrt


def _array_advice(x: object) -> str:
    """How to turn ``x`` into the numpy array a check needs, by where ``x`` comes from."""
    if isinstance(x, list | tuple):
        return "wrap it with np.asarray(x, dtype=np.float64)"
    return "pass a numpy array of floats (np.asarray(x, dtype=np.float64))"


def _validate_arrays(names: Sequence[str], arrays: Sequence[object], wrt: Sequence[int]) -> None:
    for k in wrt:
        name, x = names[k], arrays[k]
        if not isinstance(x, np.ndarray):
            foreign = foreign_array(x)
            if foreign is not None:  # described by kind, shape and dtype, never by its values
                raise InvalidArgumentError(
                    f"Expected a numpy array for input {name!r}, but got {foreign}; "
                    f"{foreign_hint(x)}"
                )
            raise InvalidArgumentError(
                f"Expected a numpy array for input {name!r}, but got {name}={_show(x, 120)} "
                f"(type={type(x).__name__}); {_array_advice(x)}"
            )
        if isinstance(x, np.matrix):
            raise InvalidArgumentError(
                f"input {name!r} is an np.matrix, whose * and ** mean matrix products; a check "
                "differentiates a copy, which would be a plain array and change the meaning of "
                "the function: pass np.asarray(x) and write the products with @"
            )
        if isinstance(x, np.ma.MaskedArray):
            raise InvalidArgumentError(
                f"input {name!r} is a masked array; a check differentiates a plain copy of it, "
                "which would drop the mask: pass the data (x.data, or x.filled(value)) as the "
                "input and the mask as another input left out of wrt"
            )
        if not is_float(x.dtype):
            hint = (
                "; only real floating inputs are differentiated (complex step is method='complex')"
                if x.dtype.kind == "c"
                else "; leave it out with wrt=[...] if it is not differentiable (labels, indices)"
            )
            raise InvalidArgumentError(
                f"input {name!r} has dtype {x.dtype}, expected a real floating dtype (float64, "
                f"float32, float16, bfloat16){hint}"
            )
        if x.size == 0:
            raise InvalidArgumentError(
                f"input {name!r} has shape {x.shape} with no elements; there is nothing to check"
            )
        if not np.all(np.isfinite(x)):
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
            raise NonFiniteError(f"input {name!r} contains {x[bad]} at index {list(bad)}")


def _named_inputs(inputs: object, what: str = "inputs") -> tuple[list[str], list[Any]]:
    if not isinstance(inputs, Mapping):
        raise _expected(what, "a dict mapping names to arrays", inputs)
    if not inputs:
        raise InvalidArgumentError(f"{what} is empty: give at least one array to check")
    for key in inputs:
        if not isinstance(key, str):
            raise _expected(f"a key of {what}", "a string name", key)
    return list(inputs), list(inputs.values())


def _callable(name: str, fn: object) -> None:
    if not callable(fn):
        raise _expected(name, "a callable", fn)


def _run(
    objective: Any, names: list[str], arrays: list[Any], options: Mapping[str, Any]
) -> CheckResult:
    parts = _complex.split(names, arrays, options)  # complex inputs: real and imaginary parts
    if parts is not None:
        objective = _complex.ComplexInputs(objective, names, parts.layout)
        names, arrays, options = parts.names, parts.arrays, parts.options
    opts, wrt = _parse_options(options, names, arrays)
    try:
        if opts.executor is not None:
            check_picklable(objective)
        result = run_check(objective, names, arrays, wrt, opts)
    finally:
        close_progress(opts.progress)
    if parts is not None:
        result = dataclasses.replace(
            result, notes=(*result.notes, _complex.note(parts.complex_names))
        )
    if result.passed:
        return result
    result = dataclasses.replace(result, findings=diagnose(result.inputs, sizes=opts.sizes))
    return result if parts is None else _complex.explain(result, parts.complex_names)


def check_layer(
    forward: Callable[..., Any],
    backward: Callable[..., Any],
    inputs: Mapping[str, NDArray[Any]],
    *,
    cotangents: NDArray[Any] | Sequence[NDArray[Any]] | None = None,
    **options: Unpack[CheckOptions],
) -> CheckResult:
    """Check a cs231n-style layer: ``forward(*inputs) -> (*outputs, cache)``.

    The outputs are turned into the scalar ``L = sum_k <dout_k, out_k>`` with a seeded random
    cotangent ``dout_k`` per output, and ``backward(*douts, cache)`` must return ``dL/dinput``,
    one gradient per input in the order of ``inputs`` (anything, e.g. None, for inputs left out
    of ``wrt``).

    Parameters
    ----------
    forward, backward : callable
        The layer's forward and backward passes.
    inputs : dict of str to ndarray
        The inputs, in the order of ``forward``'s positional arguments. They are copied; the
        caller's arrays are never written to.
    cotangents : ndarray or sequence of ndarray, optional
        Fixed cotangents, one per output, instead of seeded random ones.
    **options
        See :class:`CheckOptions`.

    Returns
    -------
    CheckResult

    Examples
    --------
    >>> import numpy as np
    >>> from gradcheck import check_layer
    >>> def forward(x, w):
    ...     out = np.tanh(x @ w)
    ...     return out, (x, w, out)
    >>> def backward(dout, cache):
    ...     x, w, out = cache
    ...     da = dout * (1 - out**2)
    ...     return da @ w.T, x.T @ da
    >>> rng = np.random.default_rng(0)
    >>> inputs = {"x": rng.standard_normal((4, 3)), "w": rng.standard_normal((3, 2))}
    >>> check_layer(forward, backward, inputs).passed
    True
    """
    _callable("forward", forward)
    _callable("backward", backward)
    names, arrays = _named_inputs(inputs)
    objective = LayerObjective(forward, backward, options.get("seed", 0), cotangents, names)
    return _run(objective, names, arrays, options)


def check_vjp(
    fn: Callable[..., Any],
    vjp: Callable[..., Any],
    inputs: Mapping[str, NDArray[Any]],
    *,
    cotangents: NDArray[Any] | Sequence[NDArray[Any]] | None = None,
    **options: Unpack[CheckOptions],
) -> CheckResult:
    """Check a function against its vector-Jacobian product.

    ``fn(*inputs)`` returns an array or a tuple of arrays; ``vjp(cotangent, *inputs)`` returns
    one gradient per input (a bare array when there is one input). ``cotangent`` is an array, or
    a tuple of arrays when ``fn`` returns a tuple.

    Examples
    --------
    >>> import numpy as np
    >>> from gradcheck import check_vjp
    >>> check_vjp(np.sin, lambda dout, x: dout * np.cos(x),
    ...           {"x": np.linspace(0, 1, 5)}).passed
    True
    """
    _callable("fn", fn)
    _callable("vjp", vjp)
    names, arrays = _named_inputs(inputs)
    objective = VjpObjective(fn, vjp, options.get("seed", 0), cotangents, names)
    return _run(objective, names, arrays, options)


def check_grad(
    fn: Callable[..., Any],
    grad: Callable[..., Any],
    inputs: Mapping[str, NDArray[Any]],
    **options: Unpack[CheckOptions],
) -> CheckResult:
    """Check a scalar function against its gradient.

    ``fn(*inputs)`` returns a scalar; ``grad(*inputs)`` returns the gradient with respect to
    each input, as a tuple in order or as a dict keyed by input name.

    Examples
    --------
    >>> import numpy as np
    >>> from gradcheck import check_grad
    >>> r = check_grad(lambda x: float(np.sum(x**3)), lambda x: (3 * x**2,),
    ...                {"x": np.array([1.0, -2.0, 0.5])})
    >>> r.passed, r.mode_used
    (True, 'full')
    """
    _callable("fn", fn)
    _callable("grad", grad)
    names, arrays = _named_inputs(inputs)
    return _run(GradObjective(fn, grad, names), names, arrays, options)


def check_loss(
    loss_fn: Callable[[dict[str, NDArray[Any]]], Any],
    params: Mapping[str, NDArray[Any]],
    **options: Unpack[CheckOptions],
) -> CheckResult:
    """Check a whole model's loss, cs231n style: ``loss_fn(params) -> (loss, grads)``.

    ``grads`` is a dict with exactly the keys of ``params``. ``loss_fn`` receives a dict of
    copies, never the caller's arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from gradcheck import check_loss
    >>> def loss_fn(p):
    ...     r = p["w"] @ p["x"] - 1.0
    ...     return 0.5 * float(r @ r), {"w": np.outer(r, p["x"]), "x": p["w"].T @ r}
    >>> rng = np.random.default_rng(0)
    >>> params = {"w": rng.standard_normal((2, 3)), "x": rng.standard_normal(3)}
    >>> check_loss(loss_fn, params).passed
    True
    """
    _callable("loss_fn", loss_fn)
    names, arrays = _named_inputs(params, "params")
    return _run(LossObjective(loss_fn, names), names, arrays, options)


def check_module(
    layer: Any,
    inputs: Mapping[str, NDArray[Any]],
    *,
    params_attr: str = "params",
    grads_attr: str = "grads",
    cotangents: NDArray[Any] | Sequence[NDArray[Any]] | None = None,
    **options: Unpack[CheckOptions],
) -> CheckResult:
    """Check an object-style layer (the class style of hand-written numpy networks).

    The layer holds its parameters in a dict attribute (``layer.params``), ``layer.forward(
    *inputs)`` returns the output(s), and ``layer.backward(dout)`` returns the gradient with
    respect to each input and fills a dict attribute (``layer.grads``) with the parameter
    gradients. Inputs and parameters are both checked; ``wrt`` may name either. Parameters are
    swapped into ``layer.params`` during the check and the original arrays put back afterwards,
    also when the check raises.

    Examples
    --------
    >>> import numpy as np
    >>> from gradcheck import check_module
    >>> class Affine:
    ...     def __init__(self, w):
    ...         self.params, self.grads = {"w": w}, {}
    ...     def forward(self, x):
    ...         self.x = x
    ...         return x @ self.params["w"]
    ...     def backward(self, dout):
    ...         self.grads["w"] = self.x.T @ dout
    ...         return dout @ self.params["w"].T
    >>> rng = np.random.default_rng(0)
    >>> layer = Affine(rng.standard_normal((3, 2)))
    >>> check_module(layer, {"x": rng.standard_normal((4, 3))}).passed
    True
    """
    for name, attr in (("params_attr", params_attr), ("grads_attr", grads_attr)):
        if not isinstance(attr, str):
            raise _expected(name, "the name of an attribute of the layer", attr)
    for attr in ("forward", "backward"):
        _callable(f"layer.{attr}", getattr(layer, attr, None))
    params = getattr(layer, params_attr, None)
    if not isinstance(params, dict):
        error = _expected(f"layer.{params_attr}", "a dict of parameter arrays", params)
        if params_attr == "params":
            error = InvalidArgumentError(
                f"{error}; a layer that keeps its parameters elsewhere names that dict with "
                "params_attr= (and its gradients' dict with grads_attr=)"
            )
        raise error
    if inputs:
        in_names, in_arrays = _named_inputs(inputs)
    else:
        in_names, in_arrays = [], []
    clash = [n for n in in_names if n in params]
    if clash:
        raise InvalidArgumentError(
            f"input names {clash} are also parameter names of the layer; rename the inputs"
        )
    names = in_names + list(params)
    arrays = in_arrays + list(params.values())
    if not names:
        raise InvalidArgumentError("the layer has no parameters and no inputs were given")
    originals = dict(params)
    objective = ModuleObjective(
        layer,
        len(in_names),
        list(params),
        params_attr,
        grads_attr,
        options.get("seed", 0),
        cotangents,
        names,
    )
    try:
        return _run(objective, names, arrays, options)
    finally:
        params.clear()
        params.update(originals)


# ---- forward mode and second order (see _forward.py) ------------------------------------------


def _checked(options: Mapping[str, Any], names: Sequence[str], arrays: Sequence[Any]) -> list[str]:
    """The inputs a check differentiates, by the caller's names (a complex input named by one of
    its parts counts); ``wrt`` itself is validated later, with the other options."""
    wrt = options.get("wrt")
    if wrt is None or isinstance(wrt, str):
        return list(names)
    try:
        wanted = set(wrt)
    except TypeError:
        return list(names)
    complex_names = [n for n, a in zip(names, arrays, strict=True) if _complex._is_complex(a)]
    out = []
    for n in names:
        parts = _complex.part_names(n) if n in complex_names else ()
        if n in wanted or any(p in wanted for p in parts):
            out.append(n)
    return out


class _VjpAdjoint:
    """A VJP as the adjoint of a JVP: ``vjp(cotangent, *inputs)``, one gradient per input."""

    def __init__(self, vjp: Callable[..., Any]) -> None:
        self.vjp = vjp

    def __call__(self, cotangent: object, arrays: Sequence[Any]) -> list[object]:
        got = _call_user(self.vjp, [cotangent, *arrays], "vjp")
        return list(got) if isinstance(got, tuple | list) else [got]


def _run_forward(
    objective: JvpObjective,
    names: list[str],
    arrays: list[Any],
    options: Mapping[str, Any],
    check: str,
) -> CheckResult:
    """A check of ``objective``'s rows by finite differences (:func:`_run`), then, with an
    adjoint, the exact identity of every element; the result names the check in its options."""
    result = _run(objective, names, arrays, options)
    result = dataclasses.replace(
        result,
        backward_calls=objective.analytic_calls,
        options={**result.options, "check": check},
    )
    if objective.adjoint is None or objective.first is None:
        return result
    dtypes = [np.dtype(a.dtype) for a in arrays if isinstance(a, np.ndarray)]
    dtypes += [np.dtype(d.dtype) for d in objective.douts_user]
    eps = max([float(np.finfo(np.float64).eps)] + [float(np.finfo(d).eps) for d in dtypes
                                                    if d.kind == "c" or is_float(d)])  # fmt: skip
    spec = options.get("annotations") or {}
    own = [a.copy() if isinstance(a, np.ndarray) else a for a in arrays]
    tolerance = (options.get("rtol"), options.get("atol"))
    exact = identity_result(objective, own, eps, options.get("seed", 0), spec, tolerance)
    merged = merge_results(result, exact)
    merged = dataclasses.replace(merged, options={**merged.options, "check": check})
    complex_names = [n for n, a in zip(names, arrays, strict=True) if _complex._is_complex(a)]
    return _complex.explain(merged, complex_names) if complex_names else merged


def check_jvp(
    fn: Callable[..., Any],
    jvp: Callable[..., Any],
    inputs: Mapping[str, NDArray[Any]],
    *,
    vjp: Callable[..., Any] | None = None,
    cotangents: NDArray[Any] | Sequence[NDArray[Any]] | None = None,
    **options: Unpack[CheckOptions],
) -> CheckResult:
    """Check a function against its Jacobian-vector product (forward mode).

    ``fn(*inputs)`` returns an array or a tuple of arrays; ``jvp(tangent, *inputs)`` returns
    ``J @ tangent`` structured as ``fn``'s outputs. ``tangent`` is an array when there is one
    input, else a tuple with one array per input (zeros for floating inputs left out of
    ``wrt``, None for inputs that are not floating arrays).

    The outputs are contracted with a seeded cotangent ``v`` into ``L = <v, fn(x)>``, whose
    gradient at element ``j`` is ``<v, jvp(e_j)>``: one JVP call along each unit tangent ``e_j``
    builds it, and it is checked against finite differences of ``L`` like any gradient (every
    mode, method and option of :class:`CheckOptions`). With ``vjp``, the adjoint identity
    ``<jvp(e_j), v> = vjp(v)[j]`` is also checked at every element, exact to rounding (inputs
    named ``"x (adjoint)"`` in the result; with ``rtol`` or ``atol``, within ``atol + rtol *
    |vjp(v)[j]|`` instead).

    Parameters
    ----------
    fn, jvp : callable
        The function and its JVP.
    inputs : dict of str to ndarray
        The inputs, in the order of ``fn``'s arguments (real or complex, see below).
    vjp : callable, optional
        ``vjp(cotangent, *inputs)``, one gradient per input (a bare array for one input).
    cotangents : ndarray or sequence of ndarray, optional
        Fixed cotangents, one per output, instead of seeded random ones.
    **options
        See :class:`CheckOptions`.

    Returns
    -------
    CheckResult
        ``backward_calls`` counts the calls of ``jvp`` (one per checked element, two for a
        complex one) and of ``vjp``; ``options["check"]`` is ``"jvp"``.

    Notes
    -----
    Complex inputs and outputs follow PyTorch's convention (see the README): a tangent of a
    complex input is complex, a JVP is the real-linear derivative along it.

    Examples
    --------
    >>> import numpy as np
    >>> from gradcheck import check_jvp
    >>> def fn(x, w):
    ...     return np.tanh(x @ w)
    >>> def jvp(tangent, x, w):
    ...     dx, dw = tangent
    ...     return (1 - np.tanh(x @ w) ** 2) * (dx @ w + x @ dw)
    >>> def vjp(dout, x, w):
    ...     da = dout * (1 - np.tanh(x @ w) ** 2)
    ...     return da @ w.T, x.T @ da
    >>> rng = np.random.default_rng(0)
    >>> inputs = {"x": rng.standard_normal((4, 3)), "w": rng.standard_normal((3, 2))}
    >>> r = check_jvp(fn, jvp, inputs, vjp=vjp)
    >>> r.passed, list(r.inputs)
    (True, ['x', 'w', 'x (adjoint)', 'w (adjoint)'])
    """
    _callable("fn", fn)
    _callable("jvp", jvp)
    if vjp is not None:
        _callable("vjp", vjp)
    names, arrays = _named_inputs(inputs)
    objective = JvpObjective(
        fn,
        jvp,
        options.get("seed", 0),
        cotangents,
        names,
        _checked(options, names, arrays),
        adjoint=None if vjp is None else _VjpAdjoint(vjp),
    )
    return _run_forward(objective, names, arrays, options, "jvp")


def check_hvp(
    grad: Callable[..., Any],
    hvp: Callable[..., Any],
    inputs: Mapping[str, NDArray[Any]],
    *,
    cotangents: NDArray[Any] | Sequence[NDArray[Any]] | None = None,
    **options: Unpack[CheckOptions],
) -> CheckResult:
    """Check a gradient against its Hessian-vector product (second order).

    ``grad(*inputs)`` returns the gradient of a scalar function with respect to each input (a
    tuple in order, a dict by input name, or a bare array for one input); ``hvp(tangent,
    *inputs)`` returns ``H @ tangent`` structured the same way, with ``tangent`` as in
    :func:`check_jvp`. The HVP is the JVP of the gradient: it is checked as
    :func:`check_jvp` checks a JVP (one HVP call per checked element, finite differences of
    ``<v, grad(x)>``), and the symmetry of the Hessian, ``<v, hvp(e_j)> = hvp(v)[j]``, is checked
    at every element, exact to rounding (inputs named ``"x (symmetry)"``): a transposed HVP
    fails it without any finite difference.

    Parameters
    ----------
    grad, hvp : callable
        The gradient and its HVP.
    inputs : dict of str to ndarray
        The inputs, in the order of their arguments.
    cotangents : ndarray or sequence of ndarray, optional
        Fixed cotangents, one per checked input's gradient, instead of seeded random ones.
    **options
        See :class:`CheckOptions`.

    Returns
    -------
    CheckResult
        ``backward_calls`` counts the calls of ``hvp``; ``options["check"]`` is ``"hvp"``.

    Examples
    --------
    >>> import numpy as np
    >>> from gradcheck import check_hvp
    >>> a = np.array([[2.0, 1.0], [0.0, 3.0]])
    >>> def grad(x):  # of sum(exp(a @ x))
    ...     return a.T @ np.exp(a @ x)
    >>> def hvp(u, x):
    ...     return a.T @ (np.exp(a @ x) * (a @ u))
    >>> check_hvp(grad, hvp, {"x": np.array([0.1, -0.2])}).passed
    True
    """
    _callable("grad", grad)
    _callable("hvp", hvp)
    names, arrays = _named_inputs(inputs)
    checked = _checked(options, names, arrays)
    keep = [names.index(n) for n in checked]
    objective = JvpObjective(
        Selected(grad, names, keep, "grad"),
        Selected(hvp, names, keep, "hvp"),
        options.get("seed", 0),
        cotangents,
        names,
        checked,
        fn_name="grad",
        jvp_name="hvp",
        adjoint=HvpAdjoint(Selected(hvp, names, keep, "hvp"), keep),
        adjoint_name="hvp",
        identity="symmetry",
    )
    return _run_forward(objective, names, arrays, options, "hvp")


def check_gradgrad(
    fn: Callable[..., Any],
    vjp: Callable[..., Any],
    vjp_jvp: Callable[..., Any],
    inputs: Mapping[str, NDArray[Any]],
    *,
    cotangents: NDArray[Any] | Sequence[NDArray[Any]] | None = None,
    **options: Unpack[CheckOptions],
) -> CheckResult:
    """Check the derivatives of a VJP (grad of grad): with respect to the cotangent and the
    inputs.

    ``vjp(cotangent, *inputs)`` is ``fn``'s VJP, as in :func:`check_vjp`. As a function of the
    cotangent and the inputs, its derivative along ``(dv, dx)`` is ``vjp(dv, *inputs)`` (a VJP
    is linear in its cotangent) plus ``vjp_jvp(dx, cotangent, *inputs)``, the second-order term
    the caller supplies: the derivative of ``vjp(cotangent, *inputs)`` with respect to the inputs
    along ``dx`` (one array per input, a bare array for one input), the cotangent held fixed.
    Both are checked as :func:`check_jvp` checks a JVP, against finite differences of the VJP,
    with the cotangent as an input named ``"cotangent"`` (``"cotangent0"``, ... for a function
    with several outputs) beside the others; and since the second-order term is the Hessian of
    ``<cotangent, fn>``, its symmetry is checked exactly (inputs named ``"x (symmetry)"``).
    A reverse-over-reverse VJP of the VJP is checked with :func:`check_vjp` instead (see the
    README).

    Parameters
    ----------
    fn : callable
        The function (its outputs give the cotangent's shapes).
    vjp, vjp_jvp : callable
        Its VJP, and the VJP's derivative with respect to the inputs.
    inputs : dict of str to ndarray
        The inputs of ``fn``.
    cotangents : ndarray or sequence of ndarray, optional
        The cotangent at which the VJP is differentiated, one per output (default: seeded).
    **options
        See :class:`CheckOptions` (``wrt`` may name the cotangent).

    Returns
    -------
    CheckResult
        ``options["check"]`` is ``"gradgrad"``.

    Examples
    --------
    >>> import numpy as np
    >>> from gradcheck import check_gradgrad
    >>> def vjp(v, x):  # of sin
    ...     return v * np.cos(x)
    >>> def vjp_jvp(dx, v, x):  # d/dx of v * cos(x), along dx
    ...     return -v * np.sin(x) * dx
    >>> check_gradgrad(np.sin, vjp, vjp_jvp, {"x": np.linspace(0, 1, 4)}).passed
    True
    """
    _callable("fn", fn)
    _callable("vjp", vjp)
    _callable("vjp_jvp", vjp_jvp)
    names, arrays = _named_inputs(inputs)
    probe = VjpObjective(fn, vjp, options.get("seed", 0), cotangents, names)
    own = [a.copy() if isinstance(a, np.ndarray) else a for a in arrays]
    res = _call_user(fn, own, "fn at the unperturbed inputs")
    outs = _as_outputs(res, with_cache=False, fn_name="fn")
    probe._draw(outs, own)
    single = not isinstance(res, tuple)
    cot_names = ["cotangent"] if single else [f"cotangent{i}" for i in range(len(outs))]
    clash = [n for n in cot_names if n in names]
    if clash:
        raise InvalidArgumentError(
            f"the input name {clash[0]!r} is taken by the cotangent of check_gradgrad; rename "
            "the input"
        )
    keep = [k for k, a in enumerate(arrays) if isinstance(a, np.ndarray) and (
            a.dtype.kind == "c" or is_float(a.dtype))]  # fmt: skip
    g = VjpFunction(vjp, len(cot_names), single, len(names), keep)
    d = VjpJvp(g, vjp_jvp)
    g_names = cot_names + names
    g_arrays = [c.copy() for c in probe.douts_user] + list(arrays)
    objective = JvpObjective(
        g,
        d,
        options.get("seed", 0),
        None,
        g_names,
        _checked(options, g_names, g_arrays),
        fn_name="vjp",
        jvp_name="vjp_jvp",
        adjoint=VjpJvpAdjoint(d),
        adjoint_name="vjp_jvp",
        identity="symmetry",
    )
    return _run_forward(objective, g_names, g_arrays, options, "gradgrad")
