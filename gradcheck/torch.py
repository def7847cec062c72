"""Check PyTorch code: custom ``autograd.Function``\\ s, any function of tensors, module parameters.

The tensors are checked in their own dtype (float64, float32; float16 and bfloat16 become numpy
arrays of the same dtype, bfloat16 through ml_dtypes) on their own device: every evaluation of
the function runs on tensors rebuilt from the checker's numpy arrays, the analytic gradient is the
vector-Jacobian product ``torch.autograd.grad`` computes with the checker's cotangents, and the
result is the usual :class:`~gradcheck.CheckResult`, with its verdicts, diagnosis and reports.
Tensors that do not require grad, and arguments that are not tensors, are passed through
unchanged.

Besides the values, three contracts of a backward pass are checked at the unperturbed point
(``contracts=False`` turns them off): the backward pass is linear in ``grad_output`` (the
gradient at ``-2 * grad_output`` is ``-2`` times the gradient, to rounding), it is reentrant (a
second backward run over the same graph gives the same gradient, bit for bit or within 16 ulps of
its largest element), and each gradient has its input's shape, dtype and device (for an
``autograd.Function``, as its ``backward`` returns it, before torch's engine sums or casts it).
A violation fails the check with a finding of kind ``"contract"``.

Needs ``pip install "gradcheck[torch]"``; importing this module without torch raises
:class:`~gradcheck.MissingDependencyError`.

Examples
--------
>>> import torch
>>> from gradcheck.torch import check_function
>>> class Square(torch.autograd.Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x * x
...     @staticmethod
...     def backward(ctx, grad):
...         (x,) = ctx.saved_tensors
...         return 2 * x * grad
>>> x = torch.linspace(-1, 1, 5, dtype=torch.float32, requires_grad=True)
>>> check_function(Square, (x,)).passed
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._api import check_vjp
from ._errors import (
    GradcheckError,
    InputMutationError,
    InvalidArgumentError,
    InvalidOutputError,
    NondeterminismError,
    UserCodeError,
    _show,
)
from ._frontend import (
    LINEARITY_FACTOR,
    Contract,
    Tree,
    bfloat16,
    flatten,
    foreign_array,
    merge,
    positional,
    require,
    select,
)
from ._result import CheckResult

_torch: Any = require("torch", "torch", "gradcheck.torch")

__all__ = ["check_function", "check_module"]

#: the dtypes checked, by torch dtype
_DTYPES = ("float64", "float32", "float16", "bfloat16")


# ---- conversions ------------------------------------------------------------------------------


def _is_tensor(value: object) -> bool:
    return isinstance(value, _torch.Tensor)


def _to_numpy(t: Any) -> NDArray[Any]:
    """A tensor's values as a numpy array of the same dtype (bfloat16 through ml_dtypes)."""
    t = t.detach()
    if t.is_conj():
        t = t.resolve_conj()
    if t.is_neg():
        t = t.resolve_neg()
    if t.dtype == _torch.bfloat16:
        bits = np.asarray(t.cpu().contiguous().view(_torch.int16).numpy())
        return bits.view(bfloat16())
    return np.asarray(t.cpu().numpy())


def _to_tensor(array: NDArray[Any], device: Any) -> Any:
    """A tensor of ``array``'s dtype on ``device``; on the CPU it shares ``array``'s memory, so
    that a function writing to its input is seen by the checker's mutation check."""
    if not (array.flags.c_contiguous and array.flags.writeable and array.flags.aligned):
        array = np.array(array, order="C")
    if array.dtype.name == "bfloat16":
        t = _torch.from_numpy(array.view(np.int16)).view(_torch.bfloat16)
    else:
        t = _torch.from_numpy(array)
    return t.to(device)


def _same_bits(a: Any, b: Any) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
        return False
    if a.dtype == _torch.bool:
        return bool(_torch.equal(a, b))
    flat_a, flat_b = a.detach().reshape(-1), b.detach().reshape(-1)
    if flat_a.numel() == 0:
        return True
    return bool(
        _torch.equal(flat_a.contiguous().view(_torch.uint8), flat_b.contiguous().view(_torch.uint8))
    )


@dataclasses.dataclass(frozen=True)
class _Leaf:
    """A checked tensor: where its values go back to, and what its gradient must look like."""

    name: str
    dtype: Any
    device: Any
    shape: tuple[int, ...]

    def meta(self) -> tuple[tuple[int, ...], str, str]:
        return self.shape, str(self.dtype), str(self.device)


def _meta(t: Any) -> tuple[tuple[int, ...], str, str]:
    return tuple(int(s) for s in t.shape), str(t.dtype), str(t.device)


# ---- what is called ---------------------------------------------------------------------------


def _function_class(fn: object) -> Any:
    """The ``autograd.Function`` subclass ``fn`` is, or whose ``apply`` it is; else None."""
    base = _torch.autograd.Function
    if isinstance(fn, type) and issubclass(fn, base):
        return fn
    owner = getattr(fn, "__self__", None)
    if (
        isinstance(owner, type)
        and issubclass(owner, base)
        and getattr(fn, "__name__", "") == "apply"
    ):
        return owner
    return None


def _forward_skip(cls: Any) -> int:
    """Leading parameters of ``cls.forward`` that are not inputs: ``ctx``, unless the Function
    has a ``setup_context`` of its own (the style without ``ctx`` in ``forward``)."""
    own = getattr(cls, "setup_context", None)
    base = getattr(_torch.autograd.Function, "setup_context", None)
    return 0 if own is not None and own is not base else 1


class _Target:
    """The function under check as numpy callables for :func:`gradcheck.check_vjp`.

    ``forward(*leaves)`` rebuilds the arguments (checked tensors from the checker's arrays, on
    their device and in their dtype), calls the function without recording a graph and returns
    its floating-point outputs as numpy arrays. ``vjp(cotangents, *leaves)`` calls it again with
    the checked tensors requiring grad and returns ``torch.autograd.grad`` of the outputs with
    the cotangents (one numpy gradient per leaf, None for leaves passed through); the first
    call also runs the contract checks.
    """

    def __init__(
        self,
        call: Callable[[list[Any], dict[str, Any]], Any],
        trees: Sequence[Tree],
        names: Sequence[str],
        leaves: dict[str, _Leaf],
        n_arg_leaves: int,
        function: Any,
        top_level: Sequence[str | None],
        contracts: bool,
        who: str,
    ) -> None:
        self.call_fn = call
        self.trees = list(trees)
        self.names = list(names)
        self.leaves = leaves
        self.n_arg_leaves = n_arg_leaves
        self.function = function
        self.top_level = list(top_level)
        self.contracts = contracts
        self.who = who
        self.kept: list[int] | None = None
        self.contract: Contract | None = None

    # ---- calling ----

    def _rebuild(
        self, flat: Sequence[Any], grad: bool
    ) -> tuple[list[Any], dict[str, Any], list[Any]]:
        values = []
        checked = []
        for name, value in zip(self.names, flat, strict=True):
            leaf = self.leaves.get(name)
            if leaf is not None and isinstance(value, np.ndarray):
                t = _to_tensor(value, leaf.device)
                if grad:
                    t.requires_grad_(True)
                    checked.append(t)
                value = t
            values.append(value)
        it = iter(values[: self.n_arg_leaves])
        args = [tree.rebuild(it) for tree in self.trees]
        params = dict(
            zip(self.names[self.n_arg_leaves :], values[self.n_arg_leaves :], strict=True)
        )
        return args, params, checked

    def _outputs(self, res: Any, complex_ok: bool) -> list[Any]:
        _, leaves = flatten(res, "out", _is_tensor)
        kept = [
            k
            for k, (_, o) in enumerate(leaves)
            if _is_tensor(o) and (o.is_floating_point() or (complex_ok and o.is_complex()))
        ]
        if self.kept is None:
            if not kept:
                raise InvalidOutputError(
                    f"{self.who} returned no floating-point tensor (got {_describe(res)}); there "
                    "is nothing to differentiate"
                )
            self.kept = kept
        elif kept != self.kept:
            raise InvalidOutputError(
                f"{self.who} returned floating-point tensors at positions {kept} of its outputs "
                f"at a perturbed point but {self.kept} at the unperturbed point"
            )
        for k in kept:
            o = leaves[k][1]
            if o.is_complex() and not complex_ok:
                raise InvalidOutputError(
                    f"output {k} of {self.who} is complex ({o.dtype}); check its real and "
                    "imaginary parts as two real outputs"
                )
        return [leaves[k][1] for k in kept]

    def forward(self, *flat: Any) -> tuple[NDArray[Any], ...]:
        complex_ok = any(isinstance(a, np.ndarray) and a.dtype.kind == "c" for a in flat)
        with _torch.no_grad():
            args, params, _ = self._rebuild(flat, grad=False)
            res = self.call_fn(args, params)
            return tuple(_to_numpy(o) for o in self._outputs(res, complex_ok))

    def vjp(self, cotangent: Any, *flat: Any) -> list[NDArray[Any] | None]:
        try:
            return self._vjp(cotangent, *flat)
        except GradcheckError:
            raise
        except Exception as exc:
            raise UserCodeError(
                f"the backward pass of {self.who} (through torch.autograd.grad) raised "
                f"{type(exc).__name__}: {exc}",
                during="backward",
            ) from exc

    def _vjp(self, cotangent: Any, *flat: Any) -> list[NDArray[Any] | None]:
        cots = cotangent if isinstance(cotangent, tuple) else (cotangent,)
        with _torch.enable_grad():
            args, params, checked = self._rebuild(flat, grad=True)
            res = self.call_fn(args, params)
        outs = self._outputs(res, complex_ok=False)
        douts = [
            _to_tensor(np.array(c), o.device).to(dtype=o.dtype)
            for c, o in zip(cots, outs, strict=True)
        ]
        first = self.contracts and self.contract is None
        grads = _grad(outs, checked, douts, retain=first)
        if first:
            self.contract = Contract()
            self._contracts(res, outs, checked, douts, grads)
        it = iter(grads)
        return [
            _to_numpy(next(it)) if name in self.leaves and isinstance(value, np.ndarray) else None
            for name, value in zip(self.names, flat, strict=True)
        ]

    # ---- the contract checks ----

    def _contracts(
        self, res: Any, outs: list[Any], checked: list[Any], douts: list[Any], grads: list[Any]
    ) -> None:
        contract = self.contract
        assert contract is not None
        names = [n for n in self.names if n in self.leaves]
        first = [_to_numpy(g) for g in grads]
        dtypes = [a.dtype for a in first]
        try:
            again = [_to_numpy(g) for g in _grad(outs, checked, douts, retain=True)]
            scaled_douts = [LINEARITY_FACTOR * d for d in douts]
            scaled = [_to_numpy(g) for g in _grad(outs, checked, scaled_douts, retain=True)]
        except Exception as exc:
            contract.violation(
                names[0],
                f"the backward pass cannot run twice over the same graph: the second run raised "
                f"{type(exc).__name__}: {exc}",
                "the backward pass must leave what it reads (saved tensors, attributes of ctx) "
                "as it found them; torch.autograd.gradcheck needs the same",
            )
            return
        diffs = contract.reentrancy(names, first, again, dtypes)
        contract.linearity(names, first, scaled, dtypes, diffs)
        for name, g in zip(names, grads, strict=True):
            contract.metadata(
                name, _meta(g), self.leaves[name].meta(), "torch.autograd.grad", "torch"
            )
        if self.function is not None:
            self._raw_backward(res, outs, douts)

    def _raw_backward(self, res: Any, outs: list[Any], douts: list[Any]) -> None:
        """The gradients an ``autograd.Function``'s ``backward`` returns, before torch's engine
        reduces or casts them, against its inputs' shapes, dtypes and devices."""
        contract = self.contract
        assert contract is not None
        cls: Any = self.function
        who = f"{cls.__name__}.backward"
        returned = res if isinstance(res, tuple) else (res,)
        node = next((t.grad_fn for t in returned if _is_tensor(t) and t.grad_fn is not None), None)
        if node is None or getattr(type(node), "_forward_cls", None) is not cls:
            return
        by_output = {id(o): d for o, d in zip(outs, douts, strict=True)}
        grads_in = [
            by_output.get(id(t), _torch.zeros_like(t)) if _is_tensor(t) else None for t in returned
        ]
        try:
            with _torch.no_grad():
                raw = node.apply(*grads_in)
        except Exception as exc:  # the engine's own run succeeded; say why this one did not
            contract.notes.append(
                f"the gradients {who} returns could not be read "
                f"directly ({type(exc).__name__}: {exc}); their shapes and dtypes are unchecked"
            )
            return
        raw = raw if isinstance(raw, tuple) else (raw,)
        for position, name in enumerate(self.top_level):
            if name is None or name not in self.leaves or position >= len(raw):
                continue
            g = raw[position]
            if _is_tensor(g):
                contract.metadata(name, _meta(g), self.leaves[name].meta(), who, "torch")


def _grad(outs: list[Any], inputs: list[Any], douts: list[Any], *, retain: bool) -> list[Any]:
    """``torch.autograd.grad`` of ``outs`` with cotangents ``douts``: zeros for inputs the
    outputs do not depend on."""
    pairs = [(o, d) for o, d in zip(outs, douts, strict=True) if o.requires_grad]
    if not pairs or not inputs:
        return [_torch.zeros_like(x) for x in inputs]
    grads = _torch.autograd.grad(
        [o for o, _ in pairs],
        inputs,
        grad_outputs=[d for _, d in pairs],
        retain_graph=retain,
        allow_unused=True,
        materialize_grads=True,
    )
    return list(grads)


def _describe(value: object) -> str:
    foreign = foreign_array(value)
    if foreign is not None:
        return foreign
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of length {len(value)}"
    return f"{type(value).__name__} {_show(value, 60)}"


# ---- the entry points -------------------------------------------------------------------------


def _split(
    names: Sequence[str], args: Sequence[Any]
) -> tuple[list[Tree], list[str], list[Any], list[str | None]]:
    trees, flat_names, flat_values, top = [], [], [], []
    for name, arg in zip(names, args, strict=True):
        tree, leaves = flatten(arg, name, _is_tensor)
        trees.append(tree)
        top.append(name if tree.kind == "leaf" else None)
        for path, value in leaves:
            flat_names.append(path)
            flat_values.append(value)
    return trees, flat_names, flat_values, top


def _checkable(name: str, t: Any) -> bool:
    """Whether tensor ``t`` is checked: it requires grad (and has a dtype gradcheck knows)."""
    if not t.requires_grad:
        return False
    if t.is_complex():
        raise InvalidArgumentError(
            f"input {name!r} is a complex tensor ({t.dtype}); gradcheck.torch checks real "
            "inputs: pass the real and imaginary parts as two real tensors"
        )
    short = str(t.dtype).removeprefix("torch.")
    if short not in _DTYPES:
        raise InvalidArgumentError(
            f"input {name!r} has dtype {t.dtype}, expected one of "
            f"{', '.join('torch.' + d for d in _DTYPES)}"
        )
    return True


def _run(
    call: Callable[[list[Any], dict[str, Any]], Any],
    names: list[str],
    args: list[Any],
    params: list[tuple[str, Any]],
    function: Any,
    who: str,
    options: dict[str, Any],
) -> CheckResult:
    contracts = options.pop("contracts", True)
    if not isinstance(contracts, bool):
        raise InvalidArgumentError(
            f"Expected True or False for contracts, but got contracts={_show(contracts)} "
            f"(type={type(contracts).__name__})"
        )
    trees, flat_names, flat_values, top = _split(names, args)
    n_arg_leaves = len(flat_names)
    clash = [n for n, _ in params if n in flat_names]
    if clash:
        raise InvalidArgumentError(
            f"input names {clash} are also parameter names of the module; rename the inputs"
        )
    flat_names += [n for n, _ in params]
    flat_values += [p for _, p in params]

    leaves: dict[str, _Leaf] = {}
    inputs: dict[str, Any] = {}
    passed_through: dict[str, tuple[Any, Any]] = {}
    for name, value in zip(flat_names, flat_values, strict=True):
        if _is_tensor(value) and _checkable(name, value):
            leaves[name] = _Leaf(
                name, value.dtype, value.device, tuple(int(s) for s in value.shape)
            )
            inputs[name] = _to_numpy(value).copy()
        elif _is_tensor(value):
            clone = value.detach().clone()
            passed_through[name] = (value, clone)
            inputs[name] = clone
        else:
            inputs[name] = value
    if not leaves:
        raise InvalidArgumentError(
            "no input requires grad: gradcheck.torch checks the tensors that require grad "
            "(create them with requires_grad=True, or call .requires_grad_() on them)"
        )
    wrt = select(options.pop("wrt", None), flat_names, list(leaves))
    for name in [n for n in leaves if n not in wrt]:  # left out of wrt: passed through as is
        original = flat_values[flat_names.index(name)]
        clone = original.detach().clone()
        passed_through[name] = (original, clone)
        inputs[name] = clone
    leaves = {n: leaves[n] for n in wrt}
    cotangents = options.pop("cotangents", None)
    if cotangents is not None:
        given = cotangents if isinstance(cotangents, tuple | list) else (cotangents,)
        cotangents = tuple(_to_numpy(c) if _is_tensor(c) else c for c in given)
    target = _Target(call, trees, flat_names, leaves, n_arg_leaves, function, top, contracts, who)
    try:
        result = check_vjp(
            target.forward, target.vjp, inputs, cotangents=cotangents, wrt=wrt, **options
        )
    except NondeterminismError as exc:
        exc.add_note(
            "gradcheck.torch: random operations (dropout, a module in training mode) draw new "
            "numbers at every call; call module.eval(), or seed them inside the function "
            "(torch.manual_seed)"
        )
        raise
    changed = [n for n, (orig, clone) in passed_through.items() if not _same_bits(orig, clone)]
    if changed:
        raise InputMutationError(
            f"{who} changed its input(s) {changed} in place; a function under a gradient check "
            "must not modify its inputs (clone them first)",
            names=tuple(changed),
            during=who,
        )
    if target.contract is None:
        return result
    return merge(result, target.contract)


def check_function(
    fn: Callable[..., Any] | type,
    inputs: Any,
    **options: Any,
) -> CheckResult:
    """Check the gradients torch's autograd computes for ``fn`` at ``inputs``.

    Parameters
    ----------
    fn : callable or autograd.Function subclass
        Any function of tensors (its outputs: a tensor, or tuples, lists and dicts of them;
        the floating-point ones are checked), an ``autograd.Function`` subclass (its ``apply``
        is called; names come from its ``forward``), or an ``nn.Module`` called on the inputs
        (its parameters are not checked: see :func:`check_module`).
    inputs : tensor, tuple or dict
        The positional arguments of ``fn``: a tuple (names from ``fn``'s signature), a dict of
        names to arguments (passed in order), or one tensor. An argument may be a tensor,
        another object (passed through), or a dict, list or tuple of them (its leaves named by
        their paths, e.g. ``params['W']``). The tensors that require grad are checked, in their
        own dtype and on their own device; the caller's tensors are never changed.
    **options
        The options of :class:`gradcheck.CheckOptions`; ``wrt`` may also name an argument or
        a path prefix to select all the leaves under it. Also ``cotangents`` (a tensor per
        output, instead of seeded random ones) and ``contracts=False`` (skip the contract
        checks of the module docstring).

    Returns
    -------
    CheckResult

    Raises
    ------
    InvalidArgumentError
        When no input requires grad, an input has a dtype gradcheck does not check, or an
        option is wrong.

    Examples
    --------
    >>> import torch
    >>> from gradcheck.torch import check_function
    >>> def gelu(x, w):
    ...     return torch.nn.functional.gelu(x @ w)
    >>> x = torch.randn(4, 3, requires_grad=True, generator=torch.Generator().manual_seed(0))
    >>> w = torch.randn(3, 2, requires_grad=True, generator=torch.Generator().manual_seed(1))
    >>> result = check_function(gelu, (x, w))
    >>> result.passed, list(result.inputs), result.inputs["w"].dtype
    (True, ['x', 'w'], 'float32')
    """
    if not callable(fn):
        raise InvalidArgumentError(
            f"Expected a callable or an autograd.Function for fn, but got fn={_show(fn)} "
            f"(type={type(fn).__name__})"
        )
    cls = _function_class(fn)
    if cls is not None:
        names, args = positional(cls.forward, inputs, _is_tensor, skip=_forward_skip(cls))
        apply = cls.apply

        def call(args: list[Any], params: dict[str, Any]) -> Any:
            return apply(*args)

        who = f"{cls.__name__}.apply"
    else:
        target = fn.forward if isinstance(fn, _torch.nn.Module) else fn
        names, args = positional(target, inputs, _is_tensor)
        user_fn = fn

        def call(args: list[Any], params: dict[str, Any]) -> Any:
            return user_fn(*args)

        who = getattr(fn, "__qualname__", None) or type(fn).__name__
    return _run(call, names, args, [], cls, who, dict(options))


def check_module(
    module: Any,
    inputs: Any = (),
    **options: Any,
) -> CheckResult:
    """Check the gradients of an ``nn.Module``'s parameters (and of its inputs that require grad).

    The module is called through ``torch.func.functional_call`` with tensors rebuilt from the
    checker's arrays, so neither its parameters nor its buffers (running statistics) change;
    parameters that do not require grad are left in place and not checked.

    Parameters
    ----------
    module : torch.nn.Module
        The module; put it in evaluation mode (``module.eval()``) when it draws random numbers
        in training mode (dropout).
    inputs : tensor, tuple or dict
        The arguments of ``module.forward`` (see :func:`check_function`); inputs that require
        grad are checked too.
    **options
        As for :func:`check_function`; ``wrt`` may name parameters (``"fc.weight"``) or a
        prefix of their names' paths.

    Returns
    -------
    CheckResult
        One input per parameter, named as ``module.named_parameters()`` names it.

    Examples
    --------
    >>> import torch
    >>> from gradcheck.torch import check_module
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    >>> result = check_module(net, (torch.randn(5, 3),))
    >>> result.passed, list(result.inputs)
    (True, ['0.weight', '0.bias', '2.weight', '2.bias'])
    """
    if not isinstance(module, _torch.nn.Module):
        raise InvalidArgumentError(
            f"Expected a torch.nn.Module for module, but got module={_show(module)} "
            f"(type={type(module).__name__}); check a function with check_function"
        )
    if inputs is None or (isinstance(inputs, tuple | list | dict) and not inputs):
        names: list[str] = []
        args: list[Any] = []
    else:
        names, args = positional(module.forward, inputs, _is_tensor)
    params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    buffers = dict(module.named_buffers())
    functional_call = _torch.func.functional_call

    def call(args: list[Any], params: dict[str, Any]) -> Any:
        state = {**{n: b.clone() for n, b in buffers.items()}, **params}
        return functional_call(module, state, tuple(args))

    return _run(call, names, args, params, None, f"{type(module).__name__}.forward", dict(options))
