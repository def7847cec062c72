"""Complex inputs: each is checked as two real arrays, its real and imaginary parts.

The convention (PyTorch's): a complex array ``z = a + 1j b`` stands for the pair of real arrays
``(a, b)``, and complex arrays pair through the real inner product ``<u, w> = Re sum(conj(u) w)
= <u.real, w.real> + <u.imag, w.imag>``. So

* a function of complex inputs with complex outputs is a function of real pairs with real pairs
  out, and a check contracts a complex output ``y`` with a complex cotangent ``v`` into the real
  scalar ``Re sum(conj(v) y)``;
* the gradient of a real scalar ``L`` with respect to a complex input ``z`` is the complex array
  ``dL/da + 1j dL/db``, which is twice the conjugate Wirtinger derivative ``dL/dconj(z)``: what
  ``z.grad`` holds in PyTorch after ``L.backward()``. A VJP returns, for a complex cotangent
  ``v``, the gradient of ``Re sum(conj(v) f(z))`` in the same form (for a holomorphic ``f``,
  ``v * conj(f'(z))``: PyTorch's ``grad_output * conj(df/dz)``);
* a JVP is the real-linear derivative along a complex tangent ``u = du_a + 1j du_b`` (the same in
  every convention: ``f'(z) u`` for a holomorphic ``f``).

jax returns the conjugate: ``jax.grad`` of a real function of ``z`` gives ``dL/da - 1j dL/db``,
and ``jax.vjp`` gives ``v * f'(z)`` for a holomorphic ``f``; in general PyTorch's VJP is
``conj(jax_vjp(conj(v)))``, so a real loss's gradient is ``conj(jax.grad(L)(z))``.

The checking core sees real arrays only: the entry points split each checked complex input into
``name.real`` and ``name.imag`` (:func:`split`), and :class:`ComplexInputs` puts them together
again before the user's code runs and splits the gradients it returns. The complex step cannot
apply (the imaginary part is taken), and is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._errors import (
    ComplexStepError,
    InputMutationError,
    InvalidArgumentError,
    InvalidGradientError,
)
from ._result import CheckResult, FindingKind

if TYPE_CHECKING:  # _objective imports the core, which imports _objective
    from ._objective import Arrays, Base, MutationCheck

#: the suffixes of the two real parts of a complex input
PARTS = (".real", ".imag")

CONVENTION = (
    "PyTorch's convention: dL/d(z.real) + 1j*dL/d(z.imag), twice the conjugate Wirtinger "
    "derivative dL/dconj(z) (jax's grad returns its conjugate)"
)


def _is_complex(x: object) -> bool:
    return isinstance(x, np.ndarray) and x.dtype.kind == "c"


def part_names(name: str) -> tuple[str, str]:
    """The names of the real and imaginary parts of the complex input ``name``."""
    return name + PARTS[0], name + PARTS[1]


@dataclass(frozen=True)
class Split:
    """The inputs of a check with its complex inputs split into their real and imaginary parts.

    ``layout`` has, per original input, the index of its array among ``arrays`` (one entry) or
    the indices of its two parts (two entries).
    """

    names: list[str]
    arrays: list[Any]
    options: dict[str, Any]
    layout: tuple[tuple[int, ...], ...]
    complex_names: tuple[str, ...]


def split(names: Sequence[str], arrays: Sequence[Any], options: Mapping[str, Any]) -> Split | None:
    """The checked complex inputs split into real parts, with ``wrt`` and ``annotations``
    renamed to match; None when no checked input is complex.

    A complex input is checked when ``wrt`` is not given, or names it (or one of its parts).
    Raises :class:`ComplexStepError` for ``method="complex"`` with any complex input.
    """
    complex_inputs = [n for n, a in zip(names, arrays, strict=True) if _is_complex(a)]
    if not complex_inputs:
        return None
    if options.get("method") == "complex":
        raise ComplexStepError(
            f"method='complex' cannot check a function of complex inputs ({complex_inputs}): the "
            "complex step takes the imaginary part of the inputs for itself. Use "
            "method='central' or 'richardson'"
        )
    wrt = options.get("wrt")
    wanted = None if wrt is None or isinstance(wrt, str) else set(_names_in(wrt))
    chosen = [
        n
        for n in complex_inputs
        if wanted is None or n in wanted or any(p in wanted for p in part_names(n))
    ]
    if not chosen:
        return None
    taken = set(names)
    for n in chosen:
        clash = [p for p in part_names(n) if p in taken]
        if clash:
            raise InvalidArgumentError(
                f"the complex input {n!r} is checked as its parts {list(part_names(n))}, but "
                f"{clash[0]!r} is also the name of an input; rename it"
            )
    new_names: list[str] = []
    new_arrays: list[Any] = []
    layout: list[tuple[int, ...]] = []
    for n, a in zip(names, arrays, strict=True):
        if n in chosen:
            if not np.all(np.isfinite(a)):  # named by the complex input, with its value
                from ._errors import NonFiniteError

                bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
                raise NonFiniteError(f"input {n!r} contains {a[bad]} at index {list(bad)}")
            layout.append((len(new_names), len(new_names) + 1))
            new_names += part_names(n)
            new_arrays += [np.ascontiguousarray(a.real), np.ascontiguousarray(a.imag)]
        else:
            layout.append((len(new_names),))
            new_names.append(n)
            new_arrays.append(a)
    out = dict(options)
    if wrt is not None and wanted is not None:
        renamed: list[str] = []
        for w in _names_in(wrt):
            renamed += part_names(w) if w in chosen else [w]
        out["wrt"] = list(dict.fromkeys(renamed))
    annotations = options.get("annotations")
    if isinstance(annotations, Mapping):
        out["annotations"] = {
            p: spec
            for name, spec in annotations.items()
            for p in (part_names(name) if name in chosen else (name,))
        }
    return Split(new_names, new_arrays, out, tuple(layout), tuple(chosen))


def _names_in(wrt: object) -> list[Any]:
    try:
        names: list[Any] = list(wrt)  # type: ignore[call-overload]
    except TypeError:
        return []
    return names


def join(arrays: Sequence[Any], layout: Sequence[tuple[int, ...]]) -> Arrays:
    """The original inputs from split ones: each complex input from its two real parts."""
    out: Arrays = []
    for entry in layout:
        if len(entry) == 1:
            out.append(arrays[entry[0]])
            continue
        re, im = arrays[entry[0]], arrays[entry[1]]
        z = np.empty(re.shape, dtype=np.result_type(re.dtype, np.complex64))
        z.real = re
        z.imag = im
        out.append(z)
    return out


class ComplexInputs:
    """An objective of complex inputs seen as one of their real and imaginary parts.

    ``objective(split arrays)`` joins the parts and calls the inner objective; ``base`` also
    splits the gradients it returns (each complex gradient ``g`` of a complex input into
    ``g.real`` and ``g.imag``, see the module's convention).
    """

    def __init__(self, inner: Any, names: Sequence[str], layout: Sequence[tuple[int, ...]]):
        self.inner = inner
        self.names = tuple(names)
        self.layout = tuple(layout)

    def __call__(self, arrays: Arrays) -> complex:
        value: complex = self.inner(join(arrays, self.layout))
        return value

    def base(self, arrays: Arrays, mutation_check: MutationCheck) -> Base:
        joined = join(arrays, self.layout)
        pristine = {
            k: z.copy()
            for k, (z, entry) in enumerate(zip(joined, self.layout, strict=True))
            if len(entry) == 2
        }

        def unchanged(during: str) -> None:
            changed = tuple(
                self.names[k] for k, z in pristine.items() if z.tobytes() != joined[k].tobytes()
            )
            if changed:
                for k, z in pristine.items():
                    np.copyto(joined[k], z)
                raise InputMutationError(
                    f"{during} changed its input(s) {list(changed)} in place; a function under "
                    "a gradient check must not modify its inputs (copy them first)",
                    names=changed,
                    during=during,
                )
            mutation_check(during)

        base: Base = self.inner.base(joined, unchanged)
        grads = list(base.grads)
        if len(grads) != len(self.layout):  # the evaluator names the mistake on split names
            return base
        out: list[object] = []
        for k, (g, entry) in enumerate(zip(grads, self.layout, strict=True)):
            if len(entry) == 1:
                out.append(g)
                continue
            z = joined[k]
            name = self.names[k]
            if not isinstance(g, np.ndarray) or g.dtype != z.dtype or g.shape != z.shape:
                got = (
                    f"an array of shape {g.shape} and dtype {g.dtype}"
                    if isinstance(g, np.ndarray)
                    else type(g).__name__
                )
                raise InvalidGradientError(
                    f"the gradient for the complex input {name!r} must be a complex array of "
                    f"shape {z.shape} and dtype {z.dtype} ({CONVENTION}), got {got}"
                )
            out += [np.ascontiguousarray(g.real), np.ascontiguousarray(g.imag)]
        return dataclasses.replace(base, grads=out)


def explain(result: CheckResult, complex_names: Sequence[str]) -> CheckResult:
    """Name the conjugation slip in the findings of a failed check of complex inputs.

    When a complex input's real part passes and its imaginary part is the negative of the
    numeric one (the constant ratio -1), its gradient is the conjugate of the expected one: the
    finding says so, with the convention and the conversion. The parts of an exact identity
    (``"z.imag (adjoint)"``) are read the same way.
    """
    if result.passed:
        return result
    findings = []
    for f in result.findings:
        for name in complex_names:
            for suffix in ("", " (adjoint)", " (symmetry)"):
                re, im = (p + suffix for p in part_names(name))
                if (
                    f.kind == FindingKind.CONSTANT_RATIO
                    and f.input == im
                    and str(f.evidence.get("factor")) == "-1"
                    and re in result.inputs
                    and result.inputs[re].passed
                    and not f.hint.startswith(SLIP)
                ):
                    f = dataclasses.replace(
                        f,
                        summary=f"{f.summary.rstrip('.')}; the real part {re} is right: the "
                        f"gradient of {name} is the complex conjugate of the expected one",
                        hint=f"{SLIP}: the gradient of a complex input is expected in "
                        f"{CONVENTION}; return np.conj of it (a jax-style gradient, or a VJP "
                        "missing a conj)",
                    )
        findings.append(f)
    return dataclasses.replace(result, findings=tuple(findings))


#: how the hint of a conjugation slip begins
SLIP = "a conjugation slip"


def note(complex_names: Sequence[str]) -> str:
    """The note a check of complex inputs carries."""
    shown = ", ".join(f"{n} as {n}.real and {n}.imag" for n in complex_names)
    return f"complex inputs checked as their real and imaginary parts ({shown}); gradients in " + (
        CONVENTION
    )
