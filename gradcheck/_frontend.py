"""What the torch and jax front ends share: names, nested inputs, dtypes and contract checks.

The front ends (``gradcheck.torch``, ``gradcheck.jax``) turn a framework's tensors into numpy
arrays of the same dtype, run :func:`gradcheck.check_vjp` on a numpy view of the function (its
vector-Jacobian product coming from the framework's autodiff with the checker's cotangents), and
add the framework's contract checks to the result. This module imports neither framework: it
works on numpy arrays, names and plain Python containers.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._errors import InvalidArgumentError, MissingDependencyError, _show
from ._result import CheckResult, Confidence, Finding, FindingKind

#: factor on the cotangent of the linearity check (negative: a backward pass that uses
#: ``|grad_output|`` or branches on its sign is caught too; a power of two: exact in floating
#: point, so a linear backward pass gives exactly ``-2`` times its gradient)
LINEARITY_FACTOR = -2.0
#: two backward runs may differ by this many units of rounding of the gradient's largest element
#: (a kernel that sums with atomics in a varying order); the linearity check allows the same
REENTRANT_ULPS = 16.0

#: module names whose arrays are recognised in error messages, with the front end to use
_FOREIGN = {
    "torch": "gradcheck.torch.check_function(fn, inputs)",
    "jax": "gradcheck.jax.check_function(fn, inputs)",
    "jaxlib": "gradcheck.jax.check_function(fn, inputs)",
    "tensorflow": None,
    "cupy": None,
}


def require(module: str, extra: str, what: str) -> Any:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``gradcheck[extra]``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{what} needs {module.split('.')[0]}, which is not installed; install it with "
            f'pip install "gradcheck[{extra}]"'
        ) from exc


# ---- messages about arrays of other libraries -------------------------------------------------


def foreign_array(value: object) -> str | None:
    """A short description of a torch/jax/... array (``a torch.Tensor of shape (3, 4) and dtype
    torch.float32 on cpu``), or None when ``value`` is not one. Never prints the values: a
    message about a tensor names its kind, shape and dtype, whole words only."""
    module = type(value).__module__.split(".")[0]
    if module not in _FOREIGN or not hasattr(value, "shape") or not hasattr(value, "dtype"):
        return None
    kind = {"torch": "torch.Tensor", "jax": "jax.Array", "jaxlib": "jax.Array"}.get(
        module, f"{module} array"
    )
    try:
        described = f"a {kind} of shape {tuple(int(s) for s in value.shape)}"
    except Exception:  # a symbolic shape
        described = f"a {kind}"
    device = getattr(value, "device", None) if module == "torch" else None
    return f"{described} and dtype {value.dtype}" + (f" on {device}" if device is not None else "")


def foreign_hint(value: object, conversion: str = "np.asarray(...)") -> str:
    """What to do with an array of another library: convert it, or use its front end."""
    module = type(value).__module__.split(".")[0]
    front = _FOREIGN.get(module)
    if module == "torch":
        conversion = ".detach().cpu().numpy()"
    hint = f"convert it with {conversion}"
    if front is not None:
        hint += f", or check {'jax' if module == 'jaxlib' else module} code with {front}"
    return hint


# ---- dtypes -----------------------------------------------------------------------------------


def eps(dtype: np.dtype[Any]) -> float:
    """The unit roundoff of a floating dtype, bfloat16 (ml_dtypes) included."""
    if dtype.kind in "fc":
        return float(np.finfo(dtype).eps)
    if dtype.name == "bfloat16":
        return 2.0**-7  # 8 significant bits
    raise InvalidArgumentError(f"dtype {dtype} is not a floating-point dtype")


def bfloat16() -> np.dtype[Any]:
    """numpy's bfloat16 dtype (from ml_dtypes, which the torch and jax extras install)."""
    ml_dtypes = require("ml_dtypes", "torch", "a bfloat16 tensor")
    dtype: np.dtype[Any] = np.dtype(ml_dtypes.bfloat16)
    return dtype


# ---- names and nested inputs ------------------------------------------------------------------


def arg_names(fn: Callable[..., Any], count: int, *, skip: int = 0) -> list[str]:
    """Names of ``count`` positional arguments of ``fn``: its parameters' names, ``args[i]`` for
    those a ``*args`` takes, ``input{i}`` when the signature says nothing. ``skip`` leading
    parameters are left out (``ctx`` of an ``autograd.Function.forward``)."""
    try:
        params = list(inspect.signature(fn).parameters.values())[skip:]
    except (TypeError, ValueError):
        params = []
    names: list[str] = []
    for p in params:
        if len(names) == count:
            break
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind is p.VAR_POSITIONAL:
            start = len(names)
            names += [f"{p.name}[{i}]" for i in range(count - start)]
        else:
            break
    names += [f"input{i}" for i in range(len(names), count)]
    return names


def positional(
    fn: Callable[..., Any], inputs: object, is_leaf: Callable[[object], bool], *, skip: int = 0
) -> tuple[list[str], list[Any]]:
    """The arguments of ``fn`` and their names from ``inputs``: a dict of named arguments (in
    the order of ``fn``'s parameters), a tuple or list of positional arguments, or one leaf."""
    if isinstance(inputs, Mapping):
        for key in inputs:
            if not isinstance(key, str):
                raise InvalidArgumentError(
                    f"Expected string names as the keys of inputs, but got {_show(key)} "
                    f"(type={type(key).__name__})"
                )
        names, args = list(inputs), list(inputs.values())
    elif isinstance(inputs, tuple | list):
        args = list(inputs)
        names = arg_names(fn, len(args), skip=skip)
    elif is_leaf(inputs):
        args = [inputs]
        names = arg_names(fn, 1, skip=skip)
    else:
        raise InvalidArgumentError(
            "Expected inputs to be a tuple of positional arguments, a dict of named arguments "
            f"or a single array, but got inputs={_show(inputs)} (type={type(inputs).__name__})"
        )
    if not args:
        raise InvalidArgumentError("inputs is empty: give at least one tensor to check")
    return names, args


@dataclasses.dataclass
class Tree:
    """A nested structure of dicts, lists and tuples, with its leaves taken out (and named)."""

    kind: str  # "leaf", "dict", "list", "tuple", "namedtuple"
    keys: tuple[Any, ...] = ()
    children: tuple[Tree, ...] = ()
    cls: type | None = None

    def rebuild(self, leaves: Iterator[Any]) -> Any:
        """The structure with its leaves taken, in order, from ``leaves``."""
        if self.kind == "leaf":
            return next(leaves)
        items = [c.rebuild(leaves) for c in self.children]
        if self.kind == "dict":
            return dict(zip(self.keys, items, strict=True))
        if self.kind == "list":
            return items
        if self.kind == "namedtuple":
            assert self.cls is not None
            return self.cls(*items)
        return tuple(items)


def flatten(
    value: object, name: str, is_leaf: Callable[[object], bool]
) -> tuple[Tree, list[tuple[str, Any]]]:
    """The structure of ``value`` and its leaves as ``(path, leaf)``, paths written as Python
    (``params['layer1']['W']``, ``xs[0]``). Dicts, lists and tuples are walked; anything else
    (and what ``is_leaf`` accepts) is a leaf."""
    if not is_leaf(value):
        if isinstance(value, Mapping) and isinstance(value, dict):
            leaves: list[tuple[str, Any]] = []
            children = []
            for key, item in value.items():
                tree, sub = flatten(item, f"{name}[{key!r}]", is_leaf)
                children.append(tree)
                leaves += sub
            return Tree("dict", tuple(value), tuple(children)), leaves
        if isinstance(value, list | tuple):
            leaves = []
            children = []
            for i, item in enumerate(value):
                tree, sub = flatten(item, f"{name}[{i}]", is_leaf)
                children.append(tree)
                leaves += sub
            if isinstance(value, list):
                return Tree("list", (), tuple(children)), leaves
            if hasattr(value, "_fields"):
                return Tree("namedtuple", (), tuple(children), type(value)), leaves
            return Tree("tuple", (), tuple(children)), leaves
    return Tree("leaf"), [(name, value)]


def select(wrt: object, names: Sequence[str], candidates: Sequence[str]) -> list[str]:
    """The names ``wrt`` selects among ``names``: a name, or an argument or a path prefix
    (``"params"`` selects ``params['W']`` and ``params['b']``). Each must select at least one of
    ``candidates`` (the inputs that can be checked)."""
    if wrt is None:
        return list(candidates)
    if isinstance(wrt, str) or not isinstance(wrt, Sequence | set | frozenset):
        raise InvalidArgumentError(
            f"Expected a list of input names for wrt, but got wrt={_show(wrt)} "
            f"(type={type(wrt).__name__})"
        )
    chosen: list[str] = []
    for entry in wrt:
        if not isinstance(entry, str):
            raise InvalidArgumentError(
                f"Expected input names in wrt, but got {_show(entry)} (type={type(entry).__name__})"
            )
        hits = [n for n in names if n == entry or n.startswith(f"{entry}[")]
        if not hits:
            raise InvalidArgumentError(
                f"wrt names {entry!r}, which is not an input; the inputs are {list(names)}"
            )
        usable = [n for n in hits if n in candidates]
        if not usable:
            raise InvalidArgumentError(
                f"wrt names {entry!r}, which cannot be checked: "
                + ("it is" if len(hits) == 1 else "none of its leaves is")
                + " a floating-point tensor that requires grad; call .requires_grad_() on it"
            )
        chosen += [n for n in usable if n not in chosen]
    if not chosen:
        raise InvalidArgumentError("wrt is empty: name at least one input to check")
    return [n for n in candidates if n in chosen]


# ---- the contract checks ----------------------------------------------------------------------


@dataclasses.dataclass
class Contract:
    """What the contract checks of one check found: findings (violations) and notes."""

    findings: list[Finding] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    def violation(
        self, name: str, summary: str, hint: str, evidence: Mapping[str, object] | None = None
    ) -> None:
        self.findings.append(
            Finding(
                kind=FindingKind.CONTRACT,
                input=name,
                summary=summary,
                hint=hint,
                evidence=dict(evidence or {}),
                score=1.0,
                confidence=Confidence.EXACT,
            )
        )

    def reentrancy(
        self,
        names: Sequence[str],
        first: Sequence[NDArray[Any]],
        second: Sequence[NDArray[Any]],
        dtypes: Sequence[np.dtype[Any]],
    ) -> list[float]:
        """Compare two backward runs at the same point and cotangent; returns the difference
        per input (the allowance of the linearity check)."""
        diffs = []
        for name, a, b, dtype in zip(names, first, second, dtypes, strict=True):
            a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
            diff = float(np.max(np.abs(a64 - b64), initial=0.0))
            bound = REENTRANT_ULPS * eps(dtype) * float(np.max(np.abs(a64), initial=0.0))
            diffs.append(diff)
            if diff == 0.0 and np.asarray(a).tobytes() == np.asarray(b).tobytes():
                continue
            if diff <= bound:
                self.notes.append(
                    f"two backward runs differ for {name} by {diff:.3g}, within the rounding "
                    f"bound {bound:.3g} ({REENTRANT_ULPS:g} ulps of its largest element)"
                )
                continue
            self.violation(
                name,
                f"two backward runs at the same inputs and cotangent disagree for {name}: the "
                f"gradients differ by up to {diff:.3g} (allowed: {bound:.3g}, "
                f"{REENTRANT_ULPS:g} ulps of its largest element)",
                "the backward pass is not reentrant: it reads state that the first run changed "
                "(a buffer updated in place, a counter on ctx), or sums in a varying order with "
                "more than rounding error",
                {"max_abs_difference": diff, "bound": bound},
            )
        return diffs

    def linearity(
        self,
        names: Sequence[str],
        base: Sequence[NDArray[Any]],
        scaled: Sequence[NDArray[Any]],
        dtypes: Sequence[np.dtype[Any]],
        noise: Sequence[float],
        what: str = "grad_output",
    ) -> None:
        """Compare the VJP at ``LINEARITY_FACTOR * cotangent`` with ``LINEARITY_FACTOR`` times
        the VJP at the cotangent."""
        f = LINEARITY_FACTOR
        for name, g, gs, dtype, extra in zip(names, base, scaled, dtypes, noise, strict=True):
            expected = f * np.asarray(g, np.float64)
            got = np.asarray(gs, np.float64)
            diff = float(np.max(np.abs(got - expected), initial=0.0))
            scale = float(np.max(np.abs(expected), initial=0.0))
            bound = REENTRANT_ULPS * eps(dtype) * scale + abs(f) * extra
            if diff <= bound:
                continue
            where = tuple(
                int(i) for i in np.unravel_index(np.argmax(np.abs(got - expected)), got.shape)
            )
            self.violation(
                name,
                f"the backward pass is not linear in {what}: for {name}, the gradient at "
                f"{f:g} x {what} differs from {f:g} x the gradient by up to {diff:.3g} "
                f"(at {list(where)}; allowed: {bound:.3g})",
                f"a backward pass must return J^T {what}: a term that does not scale with "
                f"{what} (a constant, |{what}|, a clamp or a branch on its sign, "
                f"{what} used twice) breaks it",
                {"factor": f, "max_abs_difference": diff, "bound": bound, "index": list(where)},
            )

    def metadata(
        self,
        name: str,
        got: tuple[tuple[int, ...], str, str],
        want: tuple[tuple[int, ...], str, str],
        who: str,
        framework: str,
    ) -> None:
        """Compare a gradient's shape, dtype and device with its input's."""
        labels = ("shape", "dtype", "device")
        for label, g, w in zip(labels, got, want, strict=True):
            if g == w:
                continue
            consequence = {
                "shape": f"{framework} reduces it to the input's shape by summation, silently",
                "dtype": f"{framework} casts it to the input's dtype, silently",
                "device": "the gradient has to be copied back",
            }[label]
            self.violation(
                name,
                f"{who} returned a gradient of {label} {g} for {name}, whose {label} is {w}",
                f"a backward pass must return each gradient with its input's shape, dtype and "
                f"device; {consequence}",
                {label: str(g), f"input_{label}": str(w)},
            )


def merge(result: CheckResult, contract: Contract) -> CheckResult:
    """The result with the contract's findings first and its notes added; a violation fails it."""
    if not contract.findings and not contract.notes:
        return result
    return dataclasses.replace(
        result,
        passed=result.passed and not contract.findings,
        findings=(*contract.findings, *result.findings),
        notes=(*result.notes, *contract.notes),
    )


def split_options(options: dict[str, Any], own: Sequence[str]) -> dict[str, Any]:
    """Take the front end's own options (``own``) out of ``options`` and return them."""
    return {key: options.pop(key) for key in own if key in options}
