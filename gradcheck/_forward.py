"""Forward mode and second order: JVPs, HVPs and the derivatives of a VJP.

Every check here reduces to the scalar objective of a gradient check. A function ``f`` and its
JVP ``u -> J u`` are checked through ``L(x) = <v, f(x)>`` for a seeded cotangent ``v``: the
gradient of ``L`` has at element ``j`` the value ``<v, J e_j>``, the JVP along the unit tangent
``e_j`` contracted with ``v``. :class:`JvpObjective` builds that gradient with one JVP call per
checked element (the Jacobian column by column, as PyTorch's ``check_forward_ad`` does; two per
element of a complex input, along ``e_j`` and ``1j e_j``), and the core checks it against
finite differences of ``L`` with every mode, method, threshold and diagnosis of a gradient
check. A JVP that is wrong along some tangents shows at those elements; one wrong in some
output elements shows at every element that moves them.

An HVP is the JVP of a gradient; the derivative of a VJP ``g(v, x) = J(x)^T v`` along
``(dv, dx)`` is ``g(dv, x)`` (a VJP is linear in its cotangent) plus the second-order term the
user supplies (:class:`VjpFunction`, :class:`VjpJvp`).

Exact identities (no finite differences): the same row is what the transposed operator gives
for ``v``, so ``<v, J e_j> = (J^T v)_j`` for a VJP (the adjoint identity ``<J u, v> = <u, J^T
v>`` on the pairs ``(e_j, v)``), and ``<v, H e_j> = (H v)_j`` for an HVP (a Hessian is
symmetric; so is the second-order term of a VJP, the Hessian of ``<v, f>``). Both sides are
computed by the user's code in its own precision, so they agree to rounding:
:func:`identity_result` judges every element under a bound of a few ``eps`` times the size of
the products the two sides sum (and, for an element beyond it, the measured rounding of both
sides), as :func:`gradcheck.check_reference` does for exact comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._complex import part_names
from ._core.streams import stream
from ._dtypes import is_float
from ._errors import (
    InputMutationError,
    InvalidGradientError,
    InvalidOutputError,
    NonFiniteError,
)
from ._objective import (
    Arrays,
    Base,
    MutationCheck,
    _as_outputs,
    _call_user,
    _check_finite_outputs,
    _describe,
    _inner,
    _OutputObjective,
)
from ._reference import check_reference
from ._result import CheckResult

F64 = NDArray[np.float64]

#: the bound of an exact identity: eps * (TERMS_C * sum of |products| + VALUE_C * (|a| + |b|))
#: + eps * SCALE_C * (largest |a| of the input); beyond it, FLOOR_A times the measured rounding
#: of both sides is added before a mismatch is declared
TERMS_C = 16.0
VALUE_C = 8.0
SCALE_C = 2.0
FLOOR_A = 4.0

#: (cotangent as the function's outputs are structured, arrays) -> per input, the transposed
#: operator applied to the cotangent (None for an input without an identity)
Adjoint = Callable[[object, Arrays], Sequence[object]]


def _floating(a: object) -> bool:
    return isinstance(a, np.ndarray) and (a.dtype.kind == "c" or is_float(a.dtype))


def _as_tuple(res: object) -> tuple[Any, ...]:
    return tuple(res) if isinstance(res, tuple | list) else (res,)


@dataclass
class Rows:
    """The gradient of ``<v, f>`` built from JVPs, per input (None where not checked), in
    float64 (complex128 for complex inputs, in the convention of ``_complex.py``), with the size
    of the products each element sums: ``sum_o |v_o| |(J e_j)_o|``."""

    rows: list[NDArray[Any] | None]
    terms: list[NDArray[Any] | None]


class JvpObjective(_OutputObjective):
    """``fn(*inputs) -> output(s)`` and ``jvp(tangent, *inputs) -> J tangent``, checked through
    ``<v, fn(x)>`` (see the module). ``tangent`` is an array when there is one input, else a
    tuple with one array per input (zeros for floating inputs that are not checked, None for
    the others); the JVP's outputs are structured as ``fn``'s.
    """

    with_cache = False

    def __init__(
        self,
        fn: Callable[..., Any],
        jvp: Callable[..., Any],
        seed: int,
        cotangents: object,
        names: Sequence[str],
        checked: Sequence[str],
        *,
        fn_name: str = "fn",
        jvp_name: str = "jvp",
        adjoint: Adjoint | None = None,
        adjoint_name: str = "vjp",
        identity: str = "adjoint",
    ) -> None:
        super().__init__(fn, seed, cotangents, names)
        self.fn_name = fn_name
        self.jvp = jvp
        self.jvp_name = jvp_name
        self.checked = frozenset(checked)
        self.adjoint = adjoint
        self.adjoint_name = adjoint_name
        self.identity = identity
        #: calls of the JVP (and of the adjoint, for the identity)
        self.analytic_calls = 0
        #: the rows at the unperturbed point
        self.first: Rows | None = None
        self.single = True

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["first"] = None  # workers evaluate the function only
        return state

    def base(self, arrays: Arrays, mutation_check: MutationCheck) -> Base:
        res = _call_user(self.fn, arrays, f"{self.fn_name} at the unperturbed inputs")
        outs = _as_outputs(res, with_cache=False, fn_name=self.fn_name)
        mutation_check(self.fn_name)
        if not self.shapes:  # the cotangent is drawn once, at the unperturbed point
            self.single = not isinstance(res, tuple)
            self._draw(outs, arrays)
        elif tuple(o.shape for o in outs) != self.shapes:
            raise InvalidOutputError(
                f"{self.fn_name} returned outputs of shapes {[o.shape for o in outs]} at a "
                f"perturbed point but {list(self.shapes)} at the unperturbed point"
            )
        _check_finite_outputs(outs, self.fn_name)
        value = _inner(self.douts, outs)
        magnitude = self._magnitude(self.douts, outs)
        rows = self.rows(arrays)
        mutation_check(self.jvp_name)
        if self.first is None:
            self.first = rows
        grads: list[object] = [
            None if r is None else r.astype(arrays[k].dtype) for k, r in enumerate(rows.rows)
        ]
        return Base(float(np.real(value)), magnitude, grads, tuple(o.dtype for o in outs))

    def rows(self, arrays: Arrays) -> Rows:
        """The gradient of ``<v, fn>`` at ``arrays`` from one JVP per checked element."""
        tangents: list[Any] = [np.zeros(a.shape, a.dtype) if _floating(a) else None for a in arrays]
        rows: list[NDArray[Any] | None] = []
        terms: list[NDArray[Any] | None] = []
        for k, a in enumerate(arrays):
            if self.names[k] not in self.checked or tangents[k] is None:
                rows.append(None)
                terms.append(None)
                continue
            units: tuple[complex, ...] = (1.0, 1j) if a.dtype.kind == "c" else (1.0,)
            kind = np.complex128 if a.dtype.kind == "c" else np.float64
            row = np.zeros(a.size, dtype=kind)
            term = np.zeros(a.size, dtype=kind)
            flat = tangents[k].reshape(-1)
            for j in range(a.size):
                for unit in units:
                    flat[j] = unit
                    jouts = self._jvp(tangents, arrays, k, j, unit)
                    scale = 1.0 if unit == 1.0 else 1j
                    # contracted before the tangent is reset: a JVP may return it (identity)
                    row[j] += scale * float(np.real(_inner(self.douts, jouts)))
                    term[j] += scale * self._magnitude(self.douts, jouts)
                    flat[j] = 0
            rows.append(row.reshape(a.shape))
            terms.append(term.reshape(a.shape))
        return Rows(rows, terms)

    def _jvp(
        self, tangents: list[Any], arrays: Arrays, k: int, j: int, unit: complex
    ) -> tuple[NDArray[Any], ...]:
        arg = tuple(tangents) if len(tangents) > 1 else tangents[0]
        res = _call_user(self.jvp, [arg, *arrays], self.jvp_name)
        self.analytic_calls += 1
        moved = sum(int(np.count_nonzero(t)) for t in tangents if t is not None)
        if moved != 1 or tangents[k].reshape(-1)[j] != unit:
            raise InputMutationError(
                f"{self.jvp_name} changed its tangent in place; a function under a check must "
                "not modify its arguments (copy them first)",
                names=("tangent",),
                during=self.jvp_name,
            )
        jouts = _as_outputs(res, with_cache=False, fn_name=self.jvp_name)
        where = f"{self.names[k]}[{j}] (flat)" + (" times 1j" if unit != 1.0 else "")
        if tuple(o.shape for o in jouts) != self.shapes:
            raise InvalidOutputError(
                f"{self.jvp_name} must return one array per output of {self.fn_name}, of shapes "
                f"{list(self.shapes)}, got {_describe(res)} with shapes "
                f"{[o.shape for o in jouts]} (tangent along {where})"
            )
        for i, (o, c) in enumerate(zip(jouts, self.complex_outputs, strict=True)):
            if o.dtype.kind == "c" and not c:
                raise InvalidOutputError(
                    f"output {i} of {self.jvp_name} is complex ({o.dtype}) but output {i} of "
                    f"{self.fn_name} is real (tangent along {where})"
                )
            if not np.all(np.isfinite(o)):
                raise NonFiniteError(
                    f"output {i} of {self.jvp_name} is not finite along the tangent {where}"
                )
        return jouts

    # ---- the exact identity -------------------------------------------------------------------

    def cotangent(self) -> object:
        """The check's cotangent, structured as ``fn``'s outputs (copies)."""
        douts = [d.copy() for d in self.douts_user]
        return douts[0] if self.single else tuple(douts)

    def transposed(self, arrays: Arrays) -> list[NDArray[Any] | None]:
        """The adjoint applied to the check's cotangent at ``arrays``, validated, in float64
        (complex128 for complex inputs); None for inputs without an identity."""
        assert self.adjoint is not None
        got = list(self.adjoint(self.cotangent(), arrays))
        self.analytic_calls += 1
        if len(got) != len(arrays):
            raise InvalidGradientError(
                f"{self.adjoint_name} returned {len(got)} gradient(s) but there are "
                f"{len(arrays)} inputs {list(self.names)}; return one per input, in order"
            )
        out: list[NDArray[Any] | None] = []
        for k, (g, x) in enumerate(zip(got, arrays, strict=True)):
            if g is None or self.names[k] not in self.checked or not _floating(x):
                out.append(None)
                continue
            name = self.names[k]
            if not isinstance(g, np.ndarray) or g.shape != x.shape or g.dtype != x.dtype:
                raise InvalidGradientError(
                    f"the gradient {self.adjoint_name} returned for {name!r} must be an array "
                    f"of shape {x.shape} and dtype {x.dtype}, got {_describe(g)}"
                )
            if not np.all(np.isfinite(g)):
                raise NonFiniteError(
                    f"the gradient {self.adjoint_name} returned for {name!r} is not finite"
                )
            out.append(g.astype(np.complex128 if g.dtype.kind == "c" else np.float64))
        return out


def _parts(name: str, a: NDArray[Any]) -> list[tuple[str, F64]]:
    """``(name, a)`` for a real array; its real and imaginary parts, named, for a complex one."""
    if a.dtype.kind != "c":
        return [(name, a.astype(np.float64))]
    re, im = part_names(name)
    return [(re, np.real(a).astype(np.float64)), (im, np.imag(a).astype(np.float64))]


def _second_difference(plus: F64, minus: F64, mid: F64, cap: F64) -> F64:
    """The rounding of one evaluation from a second difference at points ``+-d`` (see
    ``CheckState.analytic_noise``): a change beyond ``cap`` is no rounding and is left out."""
    second = np.abs(plus + minus - 2 * mid)
    level = np.where(second <= cap, second, 0.0) / math.sqrt(6)
    out: F64 = np.maximum(level, float(np.quantile(level, 0.9)) if level.size else 0.0)
    return out


def identity_result(
    objective: JvpObjective,
    arrays: Arrays,
    eps: float,
    seed: int,
    annotations: Mapping[str, object],
    tolerance: tuple[float | None, float | None] = (None, None),
) -> CheckResult:
    """The exact identity ``<v, A e_j> = (A^T v)_j`` of every checked element, as a result.

    ``arrays`` are the unperturbed inputs (the objective's rows come from them). Each element is
    judged under ``eps * (TERMS_C * T + VALUE_C * (|a| + |b|)) + eps * SCALE_C * max|a|`` (``T``
    the products the JVP side sums); where an element exceeds it, the rounding of both sides is
    measured (second differences at points ``ULPS`` ulps away, on ``PAIRS`` pairs: ``4 n`` JVP
    and 5 adjoint calls, once) and ``FLOOR_A`` times it added before a mismatch is declared.
    ``tolerance``: the caller's ``(rtol, atol)``; when either is given, the bound is
    ``atol + rtol * |b|`` instead, as for the finite differences.
    """
    assert objective.first is not None
    calls_before = objective.analytic_calls
    pristine = [a.copy() if isinstance(a, np.ndarray) else a for a in arrays]
    transposed = objective.transposed(arrays)
    _unchanged(arrays, pristine, objective.names, objective.adjoint_name)
    rows = objective.first
    entries: list[tuple[int, str, F64, F64, F64]] = []  # (input, name, value, reference, terms)
    for k, (r, g) in enumerate(zip(rows.rows, transposed, strict=True)):
        if r is None or g is None:
            continue
        terms = rows.terms[k]
        assert terms is not None
        name = objective.names[k]
        for (pn, value), (_, ref), (_, t) in zip(
            _parts(name, r), _parts(name, g), _parts(name, terms), strict=True
        ):
            entries.append((k, pn, value, ref, t))
    bounds = []
    rtol, atol = tolerance
    fixed = rtol is not None or atol is not None
    for _, _, value, ref, t in entries:
        scale = float(np.max(np.abs(value))) if value.size else 0.0
        if fixed:
            bounds.append((atol or 0.0) + (rtol or 0.0) * np.abs(ref))
            continue
        bounds.append(
            eps * (TERMS_C * t + VALUE_C * (np.abs(value) + np.abs(ref))) + eps * SCALE_C * scale
        )
    measured = False
    over = (np.any(np.abs(v - r) > b) for (_, _, v, r, _), b in zip(entries, bounds, strict=True))
    if not fixed and any(over):
        noise = _measured_rounding(objective, arrays, eps, seed)
        measured = True
        for i, (_, pn, *_rest) in enumerate(entries):
            level = noise.get(pn)
            if level is not None:
                bounds[i] = bounds[i] + FLOOR_A * level
    suffix = f" ({objective.identity})"
    values = {pn + suffix: value for _, pn, value, _, _ in entries}
    reference = {pn + suffix: ref for _, pn, _, ref, _ in entries}
    bound_map = {pn + suffix: b for (_, pn, _, _, _), b in zip(entries, bounds, strict=True)}
    notes = [_identity_note(objective, measured)]
    spec = {}
    for k, pn, *_ in entries:
        name = objective.names[k]
        if name in annotations:
            spec[pn + suffix] = annotations[name]
    return check_reference(
        values,
        reference,
        bound_map,
        annotations=spec,
        notes=notes,
        backward_calls=objective.analytic_calls - calls_before,
    )


def _identity_note(objective: JvpObjective, measured: bool) -> str:
    what = (
        f"{objective.jvp_name} along each unit tangent, contracted with the check's cotangent v, "
        f"against {objective.adjoint_name}(v)"
    )
    law = (
        "<J e_j, v> = <e_j, J^T v>"
        if objective.identity == "adjoint"
        else "<v, H e_j> = <e_j, H v> (a symmetric second derivative)"
    )
    tail = "; rounding of both sides measured" if measured else ""
    return f"{objective.identity}: {law}, exact to rounding ({what}){tail}"


def _unchanged(arrays: Arrays, pristine: Sequence[object], names: Sequence[str], who: str) -> None:
    changed = tuple(
        names[k]
        for k, (a, p) in enumerate(zip(arrays, pristine, strict=True))
        if isinstance(p, np.ndarray) and a.tobytes() != p.tobytes()
    )
    if changed:
        raise InputMutationError(
            f"{who} changed its input(s) {list(changed)} in place; a function under a check "
            "must not modify its inputs (copy them first)",
            names=changed,
            during=who,
        )


def _measured_rounding(
    objective: JvpObjective, arrays: Arrays, eps: float, seed: int
) -> dict[str, F64]:
    """Per part name, the rounding of one evaluation of the row and of the adjoint, summed.

    Both sides are evaluated again with every checked input moved by ``+-ULPS`` ulps (a random
    sign per element): enough to draw every rounding anew, and so little that the functions
    themselves barely move, even where they vary on a scale far below the inputs' own (a
    normalisation of values with a large offset), so the second difference
    ``s(x+d) + s(x-d) - 2 s(x)`` holds the rounding of three evaluations. A change beyond
    ``sqrt(eps)`` of the side's scale is no rounding (a kink between the points) and is left
    out; each element gets the larger of its own level and the 90th percentile of its input's.
    """
    rng = stream(seed, "analytic", objective.names)
    assert objective.first is not None
    mid_rows = objective.first.rows
    mid_adj = objective.transposed(arrays)
    out: dict[str, F64] = {}
    for _ in range(PAIRS):
        plus, minus = list(arrays), list(arrays)
        for k, x in enumerate(arrays):
            if objective.names[k] in objective.checked and _floating(x):
                d = ULPS * float(np.finfo(x.dtype).eps) * rng.choice([-1.0, 1.0], size=x.shape)
                plus[k] = (x * (1 + d)).astype(x.dtype)
                minus[k] = (x * (1 - d)).astype(x.dtype)
        sides = [(objective.rows(at).rows, objective.transposed(at)) for at in (plus, minus)]
        for k in range(len(arrays)):
            if mid_rows[k] is None or mid_adj[k] is None:
                continue
            name = objective.names[k]
            levels: dict[str, F64] = {}
            for which, mid in ((0, mid_rows[k]), (1, mid_adj[k])):
                p = sides[0][which][k]
                m = sides[1][which][k]
                assert mid is not None
                assert p is not None
                assert m is not None
                for (pn, pm), (_, pp), (_, mm) in zip(
                    _parts(name, mid), _parts(name, p), _parts(name, m), strict=True
                ):
                    cap = math.sqrt(eps) * max(float(np.max(np.abs(pm))), 1e-300)
                    level = _second_difference(pp, mm, pm, np.full(pm.shape, cap))
                    levels[pn] = levels.get(pn, 0.0) + level
            for pn, level in levels.items():
                out[pn] = np.maximum(out[pn], level) if pn in out else level
    return out


#: the rounding of an identity's sides is measured on PAIRS pairs of points ULPS ulps away
ULPS = 16.0
PAIRS = 2


# ---- the functions of the second-order checks --------------------------------------------------


class Selected:
    """``fn(*inputs)`` restricted to the outputs ``keep`` (a gradient function's outputs of the
    checked inputs); a dict of gradients by input name is read in the order of ``names``."""

    def __init__(
        self, fn: Callable[..., Any], names: Sequence[str], keep: Sequence[int], who: str
    ) -> None:
        self.fn = fn
        self.names = tuple(names)
        self.keep = tuple(keep)
        self.who = who

    def __call__(self, *args: Any) -> tuple[Any, ...]:
        res = self.fn(*args)
        if isinstance(res, Mapping):
            missing = [n for n in self.names if n not in res]
            if missing:
                raise InvalidOutputError(
                    f"the dict {self.who} returned misses the inputs {missing}; expected the "
                    f"keys {list(self.names)}"
                )
            res = tuple(res[n] for n in self.names)
        got = _as_tuple(res)
        if len(got) != len(self.names):
            raise InvalidOutputError(
                f"{self.who} must return one array per input ({len(self.names)}: "
                f"{list(self.names)}), got {_describe(res)}"
            )
        return tuple(got[k] for k in self.keep)


class HvpAdjoint:
    """The adjoint of an HVP is the HVP (a Hessian is symmetric): the cotangent over the checked
    inputs' gradients becomes a tangent over every input."""

    def __init__(self, hvp: Selected, keep: Sequence[int]) -> None:
        self.hvp = hvp
        self.keep = tuple(keep)

    def __call__(self, cotangent: object, arrays: Arrays) -> list[object]:
        cot = _as_tuple(cotangent)
        tangent: list[Any] = [np.zeros(a.shape, a.dtype) if _floating(a) else None for a in arrays]
        for k, c in zip(self.keep, cot, strict=True):
            tangent[k] = np.asarray(c, dtype=arrays[k].dtype)
        arg = tuple(tangent) if len(arrays) > 1 else tangent[0]
        got = _call_user(self.hvp, [arg, *arrays], self.hvp.who)
        out: list[object] = [None] * len(arrays)
        for k, g in zip(self.keep, got, strict=True):
            out[k] = g
        return out


class VjpFunction:
    """The VJP as a function of the cotangent(s) and the inputs: ``(*cotangents, *inputs) ->``
    the gradients of the inputs ``keep`` (the floating ones)."""

    def __init__(
        self, vjp: Callable[..., Any], n_cot: int, single: bool, n_inputs: int, keep: Sequence[int]
    ) -> None:
        self.vjp = vjp
        self.n_cot = n_cot
        self.single = single
        self.n_inputs = n_inputs
        self.keep = tuple(keep)

    def cot(self, cots: Sequence[Any]) -> object:
        return cots[0] if self.single else tuple(cots)

    def grads(self, cot: object, xs: Sequence[Any]) -> tuple[Any, ...]:
        got = _as_tuple(self.vjp(cot, *xs))
        if len(got) != self.n_inputs:
            raise InvalidOutputError(
                f"vjp must return one gradient per input ({self.n_inputs}), got {len(got)}"
            )
        return tuple(got[k] for k in self.keep)

    def __call__(self, *args: Any) -> tuple[Any, ...]:
        return self.grads(self.cot(args[: self.n_cot]), args[self.n_cot :])


class VjpJvp:
    """The JVP of :class:`VjpFunction` along ``(dv, dx)``: ``vjp(dv, x)`` (a VJP is linear in
    its cotangent) plus ``vjp_jvp(dx, v, *x)``, the user's derivative of the VJP with respect to
    the inputs along ``dx`` (the cotangent held fixed). A part whose tangent is zero is zero and
    is not called."""

    def __init__(self, g: VjpFunction, vjp_jvp: Callable[..., Any]) -> None:
        self.g = g
        self.vjp_jvp = vjp_jvp

    def second(self, dx: Sequence[Any], cot: object, xs: Sequence[Any]) -> tuple[Any, ...]:
        arg = tuple(dx) if len(dx) > 1 else dx[0]
        got = _as_tuple(self.vjp_jvp(arg, cot, *xs))
        if len(got) != self.g.n_inputs:
            raise InvalidOutputError(
                f"vjp_jvp must return one array per input ({self.g.n_inputs}), got {len(got)}"
            )
        return tuple(got[k] for k in self.g.keep)

    def __call__(self, tangent: Any, *args: Any) -> tuple[Any, ...]:
        n = self.g.n_cot
        tangents = _as_tuple(tangent)
        dv, dx = tangents[:n], tangents[n:]
        cot = self.g.cot(args[:n])
        xs = args[n:]
        parts = []
        if any(d is not None and np.any(d) for d in dv):
            parts.append(self.g.grads(self.g.cot(dv), xs))
        if any(d is not None and np.any(d) for d in dx):
            parts.append(self.second(dx, cot, xs))
        if not parts:
            return tuple(np.zeros(np.shape(args[n + k]), np.asarray(args[n + k]).dtype)
                         for k in self.g.keep)  # fmt: skip
        if len(parts) == 1:
            return parts[0]
        return tuple(a + b for a, b in zip(parts[0], parts[1], strict=True))


class VjpJvpAdjoint:
    """The second-order term of a VJP is the Hessian of ``<v, f>``, symmetric: its adjoint is
    itself, applied along the cotangent (over the inputs' gradients) as a tangent of the inputs.
    The cotangent inputs have no identity (None)."""

    def __init__(self, d: VjpJvp) -> None:
        self.d = d

    def __call__(self, cotangent: object, arrays: Arrays) -> list[object]:
        g = self.d.g
        n = g.n_cot
        xs = arrays[n:]
        dx: list[Any] = [np.zeros(a.shape, a.dtype) if _floating(a) else None for a in xs]
        for k, c in zip(g.keep, _as_tuple(cotangent), strict=True):
            dx[k] = np.asarray(c, dtype=xs[k].dtype)
        got = _call_user(self.d.second, [dx, g.cot(arrays[:n]), xs], "vjp_jvp")
        out: list[object] = [None] * len(arrays)
        for k, value in zip(g.keep, got, strict=True):
            out[n + k] = value
        return out
