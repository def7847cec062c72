"""Scalar objectives: every entry point is reduced to a scalar function of a list of arrays.

An objective is a picklable callable ``objective(arrays) -> scalar`` (so an executor can ship it to
worker processes) plus a ``base`` method that runs the user's code once at the unperturbed point and
returns the value, a magnitude used to estimate rounding noise, and the analytic gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._core.streams import collinear, stream
from ._dtypes import is_float
from ._errors import (
    ComplexStepError,
    GradcheckError,
    InvalidGradientError,
    InvalidOutputError,
    NonFiniteError,
    UserCodeError,
    _show,
)
from ._frontend import foreign_array, foreign_hint

Arrays = list[NDArray[Any]]
MutationCheck = Callable[[str], None]


@dataclass
class Base:
    """What one evaluation at the unperturbed point gives."""

    value: float
    magnitude: float
    grads: list[object]
    out_dtypes: tuple[np.dtype[Any], ...]

    def __post_init__(self) -> None:
        for k, g in enumerate(self.grads):
            foreign = foreign_array(g)
            if foreign is not None:  # named by kind, shape and dtype, never cut mid-word
                raise InvalidGradientError(
                    f"gradient {k} (in the order of the inputs) is {foreign}, expected a numpy "
                    f"array; {foreign_hint(g)}"
                )


def _call_user(fn: Callable[..., Any], args: Sequence[object], during: str) -> Any:
    try:
        return fn(*args)
    except GradcheckError:
        raise
    except Exception as exc:
        raise UserCodeError(f"{during} raised {type(exc).__name__}: {exc}", during=during) from exc


def _as_outputs(res: object, *, with_cache: bool, fn_name: str) -> tuple[NDArray[Any], ...]:
    if with_cache:
        if not isinstance(res, tuple) or len(res) < 2:
            raise InvalidOutputError(
                f"{fn_name} must return a tuple (*outputs, cache) with at least one output, "
                f"got {_describe(res)}; did it forget to return the cache?"
            )
        outs = res[:-1]
    else:
        outs = res if isinstance(res, tuple) else (res,)
        if not outs:
            raise InvalidOutputError(f"{fn_name} returned an empty tuple; expected outputs")
    for k, out in enumerate(outs):
        if not isinstance(out, np.ndarray):
            raise InvalidOutputError(
                f"output {k} of {fn_name} must be a numpy array, got {_describe(out)}"
            )
        if out.dtype.kind != "c" and not is_float(out.dtype):
            raise InvalidOutputError(
                f"output {k} of {fn_name} has dtype {out.dtype}; expected a floating-point "
                "array (integer or boolean outputs have no gradient)"
            )
    return outs


def _pair(a: NDArray[Any]) -> NDArray[Any]:
    """A complex array as the real array of its real and imaginary parts (a real one as it is)."""
    if a.dtype.kind != "c":
        return a
    return np.concatenate([a.real.ravel(), a.imag.ravel()])


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, tuple):
        return f"a tuple of length {len(value)}"
    return f"{type(value).__name__} {_show(value, 100)}"


def _inner(douts: Sequence[NDArray[Any]], outs: Sequence[NDArray[Any]]) -> complex:
    """``sum_k <dout_k, out_k>`` accumulated in double precision.

    A complex cotangent (of a complex output) contracts as ``Re sum(conj(dout) * out)``, the real
    inner product of the real and imaginary parts (see ``_complex.py``); a real cotangent keeps
    the imaginary part of a complex output (the complex step's derivative).
    """
    total: complex = 0.0
    for d, o in zip(douts, outs, strict=True):
        if d.dtype.kind == "c":
            total += float(np.real(np.vdot(d.ravel(), o.ravel())))
        else:
            total += np.dot(d.ravel(), o.ravel())
    return total


def _scalar(value: object, fn_name: str) -> complex:
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise InvalidOutputError(
                f"{fn_name} must return a scalar, got an array of shape {value.shape}"
            )
        value = value.reshape(())[()]
    if isinstance(value, bool | np.bool_ | np.timedelta64) or not isinstance(
        value, int | float | complex | np.number
    ):
        raise InvalidOutputError(f"{fn_name} must return a scalar number, got {_describe(value)}")
    try:
        return complex(value) if np.iscomplexobj(value) else float(value)  # type: ignore[arg-type]
    except OverflowError:  # an int beyond the float range, such as 10**400
        raise NonFiniteError(
            f"{fn_name} returned {_show(value)}, an integer too large for a float"
        ) from None


class _OutputObjective:
    """Shared part of the layer and VJP objectives: outputs contracted with seeded cotangents."""

    fn_name = "forward"
    with_cache = True

    def __init__(
        self, fn: Callable[..., Any], seed: int, cotangents: object, names: Sequence[str] = ()
    ) -> None:
        self.fn = fn
        self.seed = seed
        self.cotangents = cotangents
        self.names = tuple(names)
        self.douts: list[NDArray[Any]] = []
        self.douts_user: list[NDArray[Any]] = []
        self.shapes: tuple[tuple[int, ...], ...] = ()
        self.complex_outputs: tuple[bool, ...] = ()
        self.kinds: tuple[str, ...] = ()
        #: the backward pass runs with ``|dout|`` (see :meth:`absolute_grads`)
        self._absolute = False

    def _draw(self, outs: Sequence[NDArray[Any]], arrays: Sequence[object]) -> None:
        self.shapes = tuple(o.shape for o in outs)
        # complex outputs take complex cotangents (the convention of ``_complex.py``)
        self.complex_outputs = tuple(o.dtype.kind == "c" for o in outs)
        self.kinds = tuple(a.dtype.kind if isinstance(a, np.ndarray) else "" for a in arrays)
        if self.cotangents is not None:
            given = (
                self.cotangents if isinstance(self.cotangents, tuple | list) else (self.cotangents,)
            )
            if len(given) != len(outs):
                raise InvalidOutputError(
                    f"cotangents has {len(given)} arrays but {self.fn_name} returned {len(outs)} "
                    "outputs"
                )
            user = []
            for k, (d, o) in enumerate(zip(given, outs, strict=True)):
                kind = "a real or complex" if o.dtype.kind == "c" else "a real"
                if (
                    not isinstance(d, np.ndarray)
                    or d.shape != o.shape
                    or not (is_float(d.dtype) or (d.dtype.kind == "c" and o.dtype.kind == "c"))
                ):
                    raise InvalidOutputError(
                        f"cotangents[{k}] must be {kind} array of shape {o.shape} matching output "
                        f"{k}, got {_describe(d)}"
                    )
                if not np.all(np.isfinite(d)):
                    bad = [int(i) for i in np.argwhere(~np.isfinite(d))[0]]
                    raise NonFiniteError(f"cotangents[{k}] contains {d[tuple(bad)]} at index {bad}")
                user.append(d.copy())
        else:
            user = self._random_cotangents(outs, arrays)
        self.douts_user = user
        self.douts = [
            np.asarray(d, dtype=np.complex128 if c else np.float64)
            for d, c in zip(user, self.complex_outputs, strict=True)
        ]

    def _random_cotangents(
        self, outs: Sequence[NDArray[Any]], arrays: Sequence[object]
    ) -> list[NDArray[Any]]:
        """Cotangents from the check's own stream (never the caller's ``default_rng(seed)``),
        redrawn when one lies along an output or an input (``dout = c * x`` hides a backward pass
        that uses ``x`` for ``dout``, and makes ``x.T @ dout`` symmetric)."""
        rng = stream(self.seed, "cotangents", self.names)
        others = [
            a
            for a in (*outs, *arrays)
            if isinstance(a, np.ndarray) and (a.dtype.kind == "c" or is_float(a.dtype))
        ]
        others = [_pair(a) for a in others]
        user = []
        for o in outs:
            for _ in range(16):
                d = rng.standard_normal(o.shape).astype(np.finfo(o.dtype).dtype, copy=False)
                if o.dtype.kind == "c":  # complex outputs: complex cotangents, in their dtype
                    d = (d + 1j * rng.standard_normal(o.shape)).astype(o.dtype)
                if not any(collinear(_pair(d), a) for a in others):
                    break
            user.append(d)
        return user

    def _backward_douts(self) -> list[NDArray[Any]]:
        """Copies of the cotangents handed to the backward pass (their magnitudes when
        :meth:`absolute_grads` asks)."""
        return [np.abs(d) if self._absolute else d.copy() for d in self.douts_user]

    def absolute_grads(self, arrays: Arrays, mutation_check: MutationCheck) -> list[object] | None:
        """The backward pass at ``arrays`` with cotangents ``|dout|``: per element, the size of
        the terms its backward pass sums (``sum |dout|`` for a bias), which bounds the rounding
        of a gradient whose terms cancel. None for complex outputs (no sign to drop)."""
        if any(self.complex_outputs):
            return None
        self._absolute = True
        try:
            base: Base = self.base(arrays, mutation_check)  # type: ignore[attr-defined]
        finally:
            self._absolute = False
        return base.grads

    def _outs(self, arrays: Arrays) -> tuple[NDArray[Any], ...]:
        res = self.fn(*arrays)
        outs = _as_outputs(res, with_cache=self.with_cache, fn_name=self.fn_name)
        if tuple(o.shape for o in outs) != self.shapes:
            raise InvalidOutputError(
                f"{self.fn_name} returned outputs of shapes {[o.shape for o in outs]} at a "
                f"perturbed point but {list(self.shapes)} at the unperturbed point"
            )
        return outs

    def __call__(self, arrays: Arrays) -> complex:
        self._no_complex_step(arrays)
        return _inner(self.douts, self._outs(arrays))

    def _no_complex_step(self, arrays: Arrays) -> None:
        """Refuse the complex step for a complex-valued function: its outputs are already
        complex at real inputs, so ``Im f(x + ih)`` mixes the derivative with the function."""
        if any(self.complex_outputs) and any(
            isinstance(a, np.ndarray) and a.dtype.kind == "c" and kind != "c"
            for a, kind in zip(arrays, self.kinds, strict=False)
        ):
            raise ComplexStepError(
                f"method='complex' cannot check {self.fn_name}: its outputs are complex at real "
                "inputs, so the imaginary part of f(x + ih) is no derivative. Use "
                "method='central' or 'richardson'"
            )

    @staticmethod
    def _magnitude(douts: Sequence[NDArray[Any]], outs: Sequence[NDArray[Any]]) -> float:
        return float(
            sum(
                np.dot(np.abs(d.ravel()), np.abs(o.ravel()))
                for d, o in zip(douts, outs, strict=True)
            )
        )


class LayerObjective(_OutputObjective):
    """``forward(*inputs) -> (*outputs, cache)`` and ``backward(*douts, cache) -> grads``."""

    def __init__(
        self,
        forward: Callable[..., Any],
        backward: Callable[..., Any],
        seed: int,
        cotangents: object = None,
        names: Sequence[str] = (),
    ) -> None:
        super().__init__(forward, seed, cotangents, names)
        self.backward = backward

    def base(self, arrays: Arrays, mutation_check: MutationCheck) -> Base:
        res = _call_user(self.fn, arrays, "forward at the unperturbed inputs")
        outs = _as_outputs(res, with_cache=True, fn_name="forward")
        mutation_check("forward")
        self._draw(outs, arrays)
        value = _inner(self.douts, outs)
        magnitude = self._magnitude(self.douts, outs)
        out_dtypes = tuple(o.dtype for o in outs)
        _check_finite_outputs(outs, "forward")
        douts = self._backward_douts()
        grads = _call_user(self.backward, [*douts, res[-1]], "backward")
        mutation_check("backward")
        if not isinstance(grads, tuple | list):
            grads = (grads,)
        return Base(float(np.real(value)), magnitude, list(grads), out_dtypes)


class VjpObjective(_OutputObjective):
    """``fn(*inputs) -> output(s)`` and ``vjp(cotangent(s), *inputs) -> grads``."""

    fn_name = "fn"
    with_cache = False

    def __init__(
        self,
        fn: Callable[..., Any],
        vjp: Callable[..., Any],
        seed: int,
        cotangents: object = None,
        names: Sequence[str] = (),
    ) -> None:
        super().__init__(fn, seed, cotangents, names)
        self.vjp = vjp

    def base(self, arrays: Arrays, mutation_check: MutationCheck) -> Base:
        res = _call_user(self.fn, arrays, "fn at the unperturbed inputs")
        outs = _as_outputs(res, with_cache=False, fn_name="fn")
        mutation_check("fn")
        self._draw(outs, arrays)
        value = _inner(self.douts, outs)
        magnitude = self._magnitude(self.douts, outs)
        _check_finite_outputs(outs, "fn")
        douts = self._backward_douts()
        cot: object = tuple(douts) if isinstance(res, tuple) else douts[0]
        grads = _call_user(self.vjp, [cot, *arrays], "vjp")
        mutation_check("vjp")
        if not isinstance(grads, tuple | list):
            grads = (grads,)
        return Base(float(np.real(value)), magnitude, list(grads), tuple(o.dtype for o in outs))


class GradObjective:
    """``fn(*inputs) -> scalar`` and ``grad(*inputs) -> grads`` (a tuple in order, or a dict)."""

    def __init__(
        self, fn: Callable[..., Any], grad: Callable[..., Any], names: Sequence[str]
    ) -> None:
        self.fn = fn
        self.grad = grad
        self.names = tuple(names)

    def __call__(self, arrays: Arrays) -> complex:
        return _scalar(self.fn(*arrays), "fn")

    def base(self, arrays: Arrays, mutation_check: MutationCheck) -> Base:
        value = _scalar(_call_user(self.fn, arrays, "fn at the unperturbed inputs"), "fn")
        mutation_check("fn")
        _check_finite_scalar(value, "fn")
        grads = _call_user(self.grad, arrays, "grad")
        mutation_check("grad")
        if isinstance(grads, Mapping):
            grads = _grads_from_mapping(grads, self.names, "grad")
        elif not isinstance(grads, tuple | list):
            grads = (grads,)
        return Base(float(np.real(value)), abs(value), list(grads), ())


class LossObjective:
    """``loss_fn(params) -> (loss, grads)`` with ``grads`` a dict keyed like ``params``."""

    def __init__(self, loss_fn: Callable[..., Any], names: Sequence[str]) -> None:
        self.loss_fn = loss_fn
        self.names = tuple(names)

    def _split(self, res: object) -> tuple[object, object]:
        if not isinstance(res, tuple) or len(res) != 2:
            raise InvalidOutputError(
                f"loss_fn must return a pair (loss, grads), got {_describe(res)}"
            )
        return res[0], res[1]

    def __call__(self, arrays: Arrays) -> complex:
        loss, _ = self._split(self.loss_fn(dict(zip(self.names, arrays, strict=True))))
        return _scalar(loss, "loss_fn")

    def base(self, arrays: Arrays, mutation_check: MutationCheck) -> Base:
        params = dict(zip(self.names, arrays, strict=True))
        res = _call_user(self.loss_fn, [params], "loss_fn at the unperturbed parameters")
        mutation_check("loss_fn")
        loss, grads = self._split(res)
        value = _scalar(loss, "loss_fn")
        _check_finite_scalar(value, "loss_fn")
        if not isinstance(grads, Mapping):
            raise InvalidGradientError(
                f"loss_fn must return (loss, grads) with grads a dict keyed like params, "
                f"got grads={_describe(grads)}"
            )
        return Base(
            float(np.real(value)), abs(value), _grads_from_mapping(grads, self.names, "loss_fn"), ()
        )


class ModuleObjective(_OutputObjective):
    """An object-style layer: ``layer.<params>`` dict, ``forward(*inputs)``, ``backward(dout)``.

    ``backward`` returns the input gradient(s) and fills ``layer.<grads>``. Arrays are ordered as
    the layer's inputs followed by its parameters; parameters are swapped into the layer's dict
    for each call (the caller restores the original objects).
    """

    fn_name = "layer.forward"
    with_cache = False

    def __init__(
        self,
        layer: Any,
        n_inputs: int,
        param_names: Sequence[str],
        params_attr: str,
        grads_attr: str,
        seed: int,
        cotangents: object = None,
        names: Sequence[str] = (),
    ) -> None:
        super().__init__(layer.forward, seed, cotangents, names)
        self.layer = layer
        self.n_inputs = n_inputs
        self.param_names = tuple(param_names)
        self.params_attr = params_attr
        self.grads_attr = grads_attr

    def _install(self, arrays: Arrays) -> None:
        params = getattr(self.layer, self.params_attr)
        for name, array in zip(self.param_names, arrays[self.n_inputs :], strict=True):
            params[name] = array

    def __call__(self, arrays: Arrays) -> complex:
        self._no_complex_step(arrays)
        self._install(arrays)
        return _inner(self.douts, self._outs(arrays[: self.n_inputs]))

    def base(self, arrays: Arrays, mutation_check: MutationCheck) -> Base:
        self._install(arrays)
        res = _call_user(self.layer.forward, arrays[: self.n_inputs], "layer.forward")
        outs = _as_outputs(res, with_cache=False, fn_name="layer.forward")
        mutation_check("layer.forward")
        self._draw(outs, arrays)
        value = _inner(self.douts, outs)
        _check_finite_outputs(outs, "layer.forward")
        douts = self._backward_douts()
        dout: object = tuple(douts) if isinstance(res, tuple) else douts[0]
        dxs = _call_user(self.layer.backward, [dout], "layer.backward")
        mutation_check("layer.backward")
        if self.n_inputs == 0:
            dxs = ()
        elif not isinstance(dxs, tuple | list):
            dxs = (dxs,)
        if len(dxs) != self.n_inputs:
            raise InvalidGradientError(
                f"layer.backward must return {self.n_inputs} input gradient(s), "
                f"got {_describe(dxs)}"
            )
        grads = getattr(self.layer, self.grads_attr, None)
        if not isinstance(grads, Mapping):
            raise InvalidGradientError(
                f"after layer.backward, layer.{self.grads_attr} must be a dict of parameter "
                f"gradients, got {_describe(grads)}"
            )
        pgrads = _grads_from_mapping(grads, self.param_names, f"layer.{self.grads_attr}")
        return Base(
            float(np.real(value)),
            self._magnitude(self.douts, outs),
            [*dxs, *pgrads],
            tuple(o.dtype for o in outs),
        )


def _grads_from_mapping(grads: Mapping[Any, Any], names: Sequence[str], who: str) -> list[object]:
    missing = [n for n in names if n not in grads]
    extra = [k for k in grads if k not in names]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {extra}")
        raise InvalidGradientError(
            f"the gradient dict from {who} must have exactly the keys {list(names)}: "
            + " and ".join(parts)
        )
    return [grads[n] for n in names]


def _check_finite_outputs(outs: Sequence[NDArray[Any]], who: str) -> None:
    for k, out in enumerate(outs):
        if not np.all(np.isfinite(out)):
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
            raise NonFiniteError(
                f"output {k} of {who} contains {out[bad]} at index {list(bad)} at the "
                "unperturbed inputs; gradients of non-finite outputs cannot be checked"
            )


def _check_finite_scalar(value: complex, who: str) -> None:
    if not np.isfinite(value):
        raise NonFiniteError(f"{who} returned {value} at the unperturbed inputs")
    if np.iscomplexobj(value):
        raise InvalidOutputError(
            f"{who} returned the complex value {value}; a loss must be real. Check a "
            "complex-valued function with check_vjp (its outputs are contracted with complex "
            "cotangents) or check its real and imaginary parts as two real functions"
        )
