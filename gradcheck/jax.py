"""Check jax code: functions with custom rules (``jax.custom_vjp``, ``jax.custom_jvp``) or any
function of pytrees of arrays.

The floating-point leaves of the inputs are checked in their own dtype (float64 needs
``jax_enable_x64``; float16 and bfloat16 become numpy arrays of the same dtype, bfloat16 through
ml_dtypes), each named by its path (``params['layer1']['W']``). Every evaluation runs the function
on arrays rebuilt from the checker's numpy arrays; the analytic gradient is the vector-Jacobian
product of ``jax.vjp`` with the checker's cotangents (for a ``custom_jvp`` rule, its transpose).
Leaves that are not floating-point arrays (integer labels, Python numbers) are passed through.

Besides the values, the contracts of a VJP are checked at the unperturbed point
(``contracts=False`` turns them off): it is linear in the cotangent (the VJP of ``-2 *
cotangent`` is ``-2`` times the VJP, to rounding), two calls of the VJP function agree (bit for
bit, or within 16 ulps of the gradient's largest element), and each gradient has its input's
shape and dtype (jax passes a ``custom_vjp`` rule's gradient of another dtype through). A
violation fails the check with a finding of kind ``"contract"``.

Needs ``pip install "gradcheck[jax]"``; importing this module without jax raises
:class:`~gradcheck.MissingDependencyError`.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> from gradcheck.jax import check_function
>>> @jax.custom_vjp
... def softplus(x):
...     return jnp.logaddexp(x, 0.0)
>>> def softplus_fwd(x):
...     return softplus(x), x
>>> def softplus_bwd(x, g):
...     return (g * jax.nn.sigmoid(x),)
>>> softplus.defvjp(softplus_fwd, softplus_bwd)
>>> check_function(softplus, (jnp.linspace(-3.0, 3.0, 7),)).passed
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._api import check_vjp
from ._errors import (
    GradcheckError,
    InvalidArgumentError,
    InvalidOutputError,
    UserCodeError,
    _show,
)
from ._frontend import LINEARITY_FACTOR, Contract, merge, positional, require, select
from ._result import CheckResult

_jax: Any = require("jax", "jax", "gradcheck.jax")
_jnp: Any = require("jax.numpy", "jax", "gradcheck.jax")

__all__ = ["check_function"]

#: the dtypes checked
_DTYPES = ("float64", "float32", "float16", "bfloat16")


def _is_array(value: object) -> bool:
    return isinstance(value, np.ndarray | _jax.Array)


def _floating(value: object) -> bool:
    return _is_array(value) and np.dtype(value.dtype).name in _DTYPES  # type: ignore[attr-defined]


class _Target:
    """The function under check as numpy callables for :func:`gradcheck.check_vjp`.

    ``forward(*leaves)`` rebuilds the argument pytrees (checked leaves as jax arrays from the
    checker's numpy arrays, on their device) and returns the function's floating-point output
    leaves as numpy arrays; ``vjp(cotangents, *leaves)`` returns ``jax.vjp``'s gradient of each
    checked leaf with the cotangents (None for leaves passed through); its first call also runs
    the contract checks.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        treedefs: Sequence[Any],
        counts: Sequence[int],
        names: Sequence[str],
        checked: Sequence[str],
        devices: dict[str, Any],
        contracts: bool,
        who: str,
    ) -> None:
        self.fn = fn
        self.treedefs = list(treedefs)
        self.counts = list(counts)
        self.names = list(names)
        self.checked = set(checked)
        self.devices = devices
        self.contracts = contracts
        self.who = who
        self.kept: list[int] | None = None
        self.contract: Contract | None = None

    def device(self, name: str) -> Any:
        """The device of a checked leaf: its own, or jax's default device."""
        device = self.devices.get(name)
        return device if device is not None else _jax.devices()[0]

    def _device_array(self, name: str, value: NDArray[Any]) -> Any:
        return _jax.device_put(value, self.device(name))

    def _args(self, flat: Sequence[Any]) -> list[Any]:
        args, at = [], 0
        for treedef, count in zip(self.treedefs, self.counts, strict=True):
            args.append(_jax.tree_util.tree_unflatten(treedef, list(flat[at : at + count])))
            at += count
        return args

    def _is_checked(self, name: str, value: object) -> bool:
        return name in self.checked and isinstance(value, np.ndarray)

    def _outputs(self, res: Any, complex_ok: bool) -> tuple[list[Any], Any, list[int]]:
        leaves, treedef = _jax.tree_util.tree_flatten(res)
        kept = [
            k
            for k, leaf in enumerate(leaves)
            if _floating(leaf)
            or (complex_ok and _is_array(leaf) and np.dtype(leaf.dtype).kind == "c")
        ]
        if self.kept is None:
            if not kept:
                raise InvalidOutputError(
                    f"{self.who} returned no floating-point array (got {type(res).__name__}); "
                    "there is nothing to differentiate"
                )
            self.kept = kept
        elif kept != self.kept:
            raise InvalidOutputError(
                f"{self.who} returned floating-point arrays at positions {kept} of its output "
                f"leaves at a perturbed point but {self.kept} at the unperturbed point"
            )
        return leaves, treedef, kept

    def forward(self, *flat: Any) -> tuple[NDArray[Any], ...]:
        complex_ok = any(isinstance(a, np.ndarray) and a.dtype.kind == "c" for a in flat)
        values = list(flat)
        checked = [
            k
            for k, (n, v) in enumerate(zip(self.names, flat, strict=True))
            if self._is_checked(n, v)
        ]
        # one transfer for all the arrays (a call per array can cost more than the function)
        moved = _jax.device_put(
            [flat[k] for k in checked], [self.device(self.names[k]) for k in checked]
        )
        for k, array in zip(checked, moved, strict=True):
            values[k] = array
        leaves, _, kept = self._outputs(self.fn(*self._args(values)), complex_ok)
        return tuple(np.asarray(leaves[k]) for k in kept)

    def vjp(self, cotangent: Any, *flat: Any) -> list[NDArray[Any] | None]:
        try:
            return self._vjp(cotangent, *flat)
        except GradcheckError:
            raise
        except Exception as exc:
            raise UserCodeError(
                f"the VJP of {self.who} (through jax.vjp) raised {type(exc).__name__}: {exc}",
                during="backward",
            ) from exc

    def _vjp(self, cotangent: Any, *flat: Any) -> list[NDArray[Any] | None]:
        cots = cotangent if isinstance(cotangent, tuple) else (cotangent,)
        positions = [
            k
            for k, (n, v) in enumerate(zip(self.names, flat, strict=True))
            if self._is_checked(n, v)
        ]
        primals = [self._device_array(self.names[k], flat[k]) for k in positions]

        def primal(*checked: Any) -> Any:
            values = list(flat)
            for k, value in zip(positions, checked, strict=True):
                values[k] = value
            return self.fn(*self._args(values))

        res, vjp_fn = _jax.vjp(primal, *primals)
        leaves, treedef, kept = self._outputs(res, complex_ok=False)

        def cotangent_tree(factor: float) -> Any:
            ct = [np.zeros(np.shape(leaf), dtype=_jax.dtypes.float0) for leaf in leaves]
            for k, c in zip(kept, cots, strict=True):
                ct[k] = _jnp.asarray(c, dtype=leaves[k].dtype) * factor
            return _jax.tree_util.tree_unflatten(treedef, ct)

        grads = [np.asarray(g) for g in vjp_fn(cotangent_tree(1.0))]
        if self.contracts and self.contract is None:
            self.contract = Contract()
            names = [self.names[k] for k in positions]
            dtypes = [np.dtype(p.dtype) for p in primals]
            again = [np.asarray(g) for g in vjp_fn(cotangent_tree(1.0))]
            scaled = [np.asarray(g) for g in vjp_fn(cotangent_tree(LINEARITY_FACTOR))]
            diffs = self.contract.reentrancy(names, grads, again, dtypes)
            self.contract.linearity(names, grads, scaled, dtypes, diffs, what="the cotangent")
            for name, g, p in zip(names, grads, primals, strict=True):
                self.contract.metadata(
                    name,
                    (tuple(g.shape), str(g.dtype), ""),
                    (tuple(p.shape), str(np.dtype(p.dtype)), ""),
                    "the VJP",
                    "jax",
                )
        out: list[NDArray[Any] | None] = [None] * len(flat)
        for k, g, p in zip(positions, grads, primals, strict=True):
            # a gradient of another dtype is a contract violation (above); its values are
            # checked in the input's dtype, as they would be used
            out[k] = g.astype(np.dtype(p.dtype), copy=False)
        return out


def check_function(fn: Callable[..., Any], inputs: Any, **options: Any) -> CheckResult:
    """Check the gradients ``jax.vjp`` computes for ``fn`` at ``inputs``.

    Parameters
    ----------
    fn : callable
        A function of jax arrays and pytrees of them (a ``jax.custom_vjp`` or
        ``jax.custom_jvp`` function, one that calls them, or a jitted function); its output is
        an array or a pytree of arrays, whose floating-point leaves are checked.
    inputs : array, tuple or dict
        The positional arguments of ``fn``: a tuple (names from ``fn``'s signature), a dict of
        names to arguments (passed in order), or one array. Each argument is a pytree; its
        floating-point array leaves are checked and named by their path
        (``params['layer1']['W']``, ``xs[0]``), other leaves are passed through.
    **options
        The options of :class:`gradcheck.CheckOptions`; ``wrt`` may also name an argument or a
        path prefix (``"params['layer1']"``) to select the leaves under it. Also
        ``cotangents`` (one array per floating-point output leaf) and ``contracts=False``.

    Returns
    -------
    CheckResult

    Raises
    ------
    InvalidArgumentError
        When no leaf is a floating-point array, a leaf is float64 while ``jax_enable_x64`` is
        off (jax would compute in float32), or an option is wrong.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from gradcheck.jax import check_function
    >>> def mlp(params, x):
    ...     h = jnp.tanh(x @ params["layer1"]["W"] + params["layer1"]["b"])
    ...     return h @ params["out"]
    >>> keys = jax.random.split(jax.random.key(0), 4)
    >>> params = {"layer1": {"W": jax.random.normal(keys[0], (3, 4)),
    ...                      "b": jax.random.normal(keys[1], (4,))},
    ...           "out": jax.random.normal(keys[2], (4, 2))}
    >>> x = jax.random.normal(keys[3], (5, 3))
    >>> result = check_function(mlp, (params, x), wrt=["params"])
    >>> result.passed, list(result.inputs)
    (True, ["params['layer1']['W']", "params['layer1']['b']", "params['out']"])
    """
    if not callable(fn):
        raise InvalidArgumentError(
            f"Expected a callable for fn, but got fn={_show(fn)} (type={type(fn).__name__})"
        )
    options = dict(options)
    contracts = options.pop("contracts", True)
    if not isinstance(contracts, bool):
        raise InvalidArgumentError(
            f"Expected True or False for contracts, but got contracts={_show(contracts)} "
            f"(type={type(contracts).__name__})"
        )
    names, args = positional(fn, inputs, _is_array)
    tree_util = _jax.tree_util
    treedefs, counts, flat_names, flat_values = [], [], [], []
    for name, arg in zip(names, args, strict=True):
        with_paths, treedef = tree_util.tree_flatten_with_path(arg)
        treedefs.append(treedef)
        counts.append(len(with_paths))
        for path, leaf in with_paths:
            flat_names.append(name + tree_util.keystr(path))
            flat_values.append(leaf)
    candidates = [n for n, v in zip(flat_names, flat_values, strict=True) if _floating(v)]
    if not candidates:
        raise InvalidArgumentError(
            "no input leaf is a floating-point array: gradcheck.jax checks the float16, "
            "bfloat16, float32 and float64 array leaves of the inputs"
        )
    wrt = select(options.pop("wrt", None), flat_names, candidates)
    x64 = bool(_jax.config.jax_enable_x64)
    inputs_np: dict[str, Any] = {}
    devices: dict[str, Any] = {}
    for name, value in zip(flat_names, flat_values, strict=True):
        if name not in wrt:
            inputs_np[name] = value
            continue
        if np.dtype(value.dtype) == np.float64 and not x64:
            raise InvalidArgumentError(
                f"input {name!r} is float64 but jax_enable_x64 is off, so jax would compute in "
                "float32; enable it first (jax.config.update('jax_enable_x64', True)) or pass "
                "a float32 array"
            )
        if isinstance(value, _jax.Array):
            found = value.devices()
            if len(found) == 1:
                devices[name] = next(iter(found))
        inputs_np[name] = np.array(value, copy=True)
    cotangents = options.pop("cotangents", None)
    if cotangents is not None:
        given = cotangents if isinstance(cotangents, tuple | list) else (cotangents,)
        cotangents = tuple(np.array(c) if _is_array(c) else c for c in given)
    who = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    target = _Target(fn, treedefs, counts, flat_names, wrt, devices, contracts, str(who))
    result = check_vjp(
        target.forward, target.vjp, inputs_np, cotangents=cotangents, wrt=wrt, **options
    )
    if target.contract is None:
        return result
    return merge(result, target.contract)
