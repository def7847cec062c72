"""Replay bundles: a failed check saved with everything needed to run it again elsewhere.

A bundle is one ``.npz`` file, a zip archive as numpy writes it: ``bundle.json`` (the kind of
check, the options and seed, the input names, how to find the functions, what the check found)
and arrays in numpy's ``.npy`` format (the inputs, fixed cotangents, and the per-element numbers
the check recorded). It is read without pickle: loading a bundle runs no code. The functions
themselves are not in it: the replay takes them again (from Python), or finds them by name (a
``MODULE:NAME`` spec of the command line, or the module and name each function was defined
under when it is importable).

Rerunning is deterministic: the same functions on the same inputs with the same options and
seed give the same verdict and the same numbers, bit for bit on the same platform;
:class:`Replay` says whether they did.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import io
import json
import os
import platform
import sys
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._errors import InvalidArgumentError
from ._result import CheckResult, InputResult, _jsonable

__all__ = ["Bundle", "Replay", "replay", "save_bundle"]

#: the ``format`` of ``bundle.json``, and its version (bumped on any incompatible change)
FORMAT = "gradcheck-bundle"
VERSION = 1

#: per kind of check: its function, the names of its function arguments, and its keywords
KINDS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "layer": ("check_layer", ("forward", "backward"), ("cotangents",)),
    "vjp": ("check_vjp", ("fn", "vjp"), ("cotangents",)),
    "grad": ("check_grad", ("fn", "grad"), ()),
    "loss": ("check_loss", ("loss_fn",), ()),
    "module": ("check_module", ("layer",), ("cotangents", "params_attr", "grads_attr")),
    "jvp": ("check_jvp", ("fn", "jvp"), ("cotangents",)),
    "hvp": ("check_hvp", ("grad", "hvp"), ("cotangents",)),
    "gradgrad": ("check_gradgrad", ("fn", "vjp", "vjp_jvp"), ("cotangents",)),
}
#: per kind, the optional function arguments passed by keyword (recorded like the others)
FUNCTION_KEYWORDS: dict[str, tuple[str, ...]] = {"jvp": ("vjp",)}
_BY_FUNCTION = {name: kind for kind, (name, _, _) in KINDS.items()}
#: suffixes of the exact identities' entries of a result (not inputs of the call)
_IDENTITIES = (" (adjoint)", " (symmetry)")
#: the check options a bundle keeps (those that decide the verdict and the numbers)
_KEPT = (
    "method",
    "mode",
    "seed",
    "rtol",
    "atol",
    "safety",
    "samples",
    "directions",
    "budget",
    "kinks",
    "nondet_tol",
)
_RECORDED = ("analytic", "numeric", "threshold", "status")


class BundleError(InvalidArgumentError):
    """A bundle that cannot be written, read or replayed as asked."""


@dataclass(frozen=True, eq=False)
class Bundle:
    """A saved check: what :func:`replay` needs to run it again, and what it found.

    Attributes
    ----------
    kind : str
        ``"layer"``, ``"vjp"``, ``"grad"``, ``"loss"``, ``"module"``, ``"jvp"``, ``"hvp"`` or
        ``"gradgrad"``: which ``check_*`` ran.
    inputs : dict of str to ndarray (or scalar)
        The inputs (for ``"module"``: the inputs, then the layer's parameters), in order.
    options : dict
        The check options, with ``wrt`` and ``annotations``; the seed is among them.
    cotangents : tuple of ndarray or None
        Fixed cotangents given to the check, if any.
    functions : dict of str to dict or None
        Per function argument (``forward``, ``backward``...), where it was defined
        (``module``, ``qualname``, ``file``) when it can be found by name, else None.
    target : dict or None
        For bundles saved by the command line: the command that made the functions
        (``{"command": "check", "spec": "MODULE:NAME"}`` or ``{"command": "lstm", "argv":
        [...]}``).
    extra : dict
        The other arguments of the call (``params_attr``... for ``"module"``).
    title : str or None
        What was checked.
    recorded : dict
        What the check found: verdict, mode used, calls, directions, findings.
    arrays : dict of str to dict of str to ndarray
        Per checked input, the recorded per-element ``analytic``, ``numeric``, ``threshold``
        and ``status``.
    environment : dict
        Versions of gradcheck, numpy and Python, and the platform, where it was saved.
    """

    kind: str
    inputs: dict[str, object]
    options: dict[str, Any]
    cotangents: tuple[NDArray[Any], ...] | None = None
    functions: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    target: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    title: str | None = None
    recorded: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, dict[str, NDArray[Any]]] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the bundle to ``path`` (a ``.npz`` file; parent folders are created)."""
        out = Path(path)
        members: dict[str, NDArray[Any]] = {}
        inputs: list[dict[str, object]] = []
        for k, (name, value) in enumerate(self.inputs.items()):
            if isinstance(value, np.ndarray):
                if value.dtype.hasobject:
                    raise BundleError(
                        f"input {name!r} is an array of Python objects, which a bundle cannot "
                        "hold without pickle; pass numbers"
                    )
                members[f"inputs/{k}.npy"] = value
                inputs.append({"name": name, "array": f"inputs/{k}.npy"})
            elif value is None or isinstance(value, bool | int | float | str):
                inputs.append({"name": name, "value": value})
            else:
                raise BundleError(
                    f"input {name!r} is a {type(value).__name__}; a bundle holds numpy arrays "
                    "and plain numbers or strings"
                )
        cotangents = None
        if self.cotangents is not None:
            cotangents = []
            for k, c in enumerate(self.cotangents):
                members[f"cotangents/{k}.npy"] = np.asarray(c)
                cotangents.append(f"cotangents/{k}.npy")
        recorded_arrays: dict[str, dict[str, str]] = {}
        for k, (name, per) in enumerate(self.arrays.items()):
            recorded_arrays[name] = {}
            for key, arr in per.items():
                member = f"recorded/{k}/{key}.npy"
                members[member] = arr
                recorded_arrays[name][key] = member
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "kind": self.kind,
            "title": self.title,
            "inputs": inputs,
            "cotangents": cotangents,
            "options": self.options,
            "functions": self.functions,
            "target": self.target,
            "extra": self.extra,
            "recorded": self.recorded,
            "recorded_arrays": recorded_arrays,
            "environment": self.environment,
        }
        text = json.dumps(meta, indent=2, allow_nan=False)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".partial")
        try:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("bundle.json", text)
                for member, arr in members.items():
                    buf = io.BytesIO()
                    np.lib.format.write_array(buf, np.asanyarray(arr), allow_pickle=False)
                    zf.writestr(member, buf.getvalue())
            tmp.replace(out)
        finally:
            tmp.unlink(missing_ok=True)
        return out

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Bundle:
        """Read a bundle written by :meth:`save` (no pickle: loading runs no code).

        Examples
        --------
        >>> import tempfile, pathlib, numpy as np
        >>> import gradcheck
        >>> def fn(x):
        ...     return float(np.sum(x**3))
        >>> def grad(x):
        ...     return (3 * x**2 + 0.1,)  # wrong by 0.1
        >>> inputs = {"x": np.linspace(-1, 1, 5)}
        >>> result = gradcheck.check_grad(fn, grad, inputs, seed=3)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = gradcheck.save_bundle(pathlib.Path(tmp) / "failure.npz", result,
        ...                                  gradcheck.check_grad, fn, grad, inputs)
        ...     bundle = gradcheck.Bundle.load(path)
        >>> bundle.kind, bundle.options["seed"], bundle.recorded["passed"]
        ('grad', 3, False)
        """
        try:
            zf = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise BundleError(f"cannot read the bundle {str(path)!r}: {exc}") from exc
        with zf:
            try:
                meta = json.loads(zf.read("bundle.json"))
            except KeyError:
                raise BundleError(
                    f"{str(path)!r} is not a gradcheck bundle (no bundle.json)"
                ) from None
            if meta.get("format") != FORMAT:
                raise BundleError(f"{str(path)!r} is not a gradcheck bundle")
            if meta.get("version") != VERSION:
                raise BundleError(
                    f"{str(path)!r} is a bundle of version {meta.get('version')}; this gradcheck "
                    f"reads version {VERSION}"
                )

            def array(member: str) -> NDArray[Any]:
                with zf.open(member) as f:
                    out: NDArray[Any] = np.lib.format.read_array(f, allow_pickle=False)
                    return out

            inputs: dict[str, object] = {}
            for entry in meta["inputs"]:
                inputs[entry["name"]] = (
                    array(entry["array"]) if "array" in entry else entry["value"]
                )
            cotangents = meta.get("cotangents")
            arrays = {
                name: {key: array(member) for key, member in per.items()}
                for name, per in meta.get("recorded_arrays", {}).items()
            }
            return cls(
                kind=meta["kind"],
                inputs=inputs,
                options=meta["options"],
                cotangents=None if cotangents is None else tuple(array(m) for m in cotangents),
                functions=meta.get("functions", {}),
                target=meta.get("target"),
                extra=meta.get("extra", {}),
                title=meta.get("title"),
                recorded=meta.get("recorded", {}),
                arrays=arrays,
                environment=meta.get("environment", {}),
            )


@dataclass(frozen=True, eq=False)
class Replay:
    """The outcome of :func:`replay`: the new result and how it compares with the recorded one.

    Attributes
    ----------
    result : CheckResult
        The check run again.
    bundle : Bundle
        What was replayed.
    differences : tuple of str
        How the new verdict and numbers differ from those the bundle recorded (empty when the
        replay reproduced them bit for bit).
    """

    result: CheckResult
    bundle: Bundle
    differences: tuple[str, ...]

    @property
    def reproduced(self) -> bool:
        """True when the verdict and every recorded number came out the same."""
        return not self.differences

    def summary(self) -> str:
        """One paragraph: reproduced or not, and where the bundle was recorded."""
        env = self.bundle.environment
        where = ", ".join(
            f"{k} {env[k]}" for k in ("gradcheck", "numpy", "python", "platform") if k in env
        )
        if self.reproduced:
            return f"replay: same verdict and numbers as recorded ({where})"
        lines = [f"replay: differs from the recording ({where}):"]
        lines += [f"- {d}" for d in self.differences]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# saving


def _environment() -> dict[str, str]:
    from . import __version__

    return {
        "gradcheck": __version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def function_ref(fn: object) -> dict[str, Any] | None:
    """Where ``fn`` is defined, if it can be found again by module and name; else None."""
    module_name = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    module = sys.modules.get(module_name)
    if module is None or _lookup(module, qualname) is not fn:
        return None
    try:
        file = inspect.getsourcefile(fn)  # type: ignore[arg-type]
    except TypeError:
        file = None
    return {"module": module_name, "qualname": qualname, "file": file}


def _lookup(module: object, qualname: str) -> object:
    obj = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _annotation_spec(r: InputResult) -> dict[str, Any] | None:
    ann = r.annotation
    if ann is None:
        return None
    axes = [a.name if a.labels is None else [a.name, list(a.labels)] for a in ann.axes]
    return {"axes": axes, "group": ann.group}


def _options(result: CheckResult, names: Sequence[str]) -> dict[str, Any]:
    options = {k: result.options[k] for k in _KEPT if result.options.get(k) is not None}
    checked = [n for n in result.inputs if not n.endswith(_IDENTITIES)]
    if checked != list(names):
        options["wrt"] = checked
    annotations = {
        n: _annotation_spec(r) for n, r in result.inputs.items() if not n.endswith(_IDENTITIES)
    }
    annotations = {n: a for n, a in annotations.items() if a is not None}
    if annotations:
        options["annotations"] = annotations
    return options


def _recorded(result: CheckResult) -> tuple[dict[str, Any], dict[str, dict[str, NDArray[Any]]]]:
    data = result.to_dict()
    recorded = {
        "passed": result.passed,
        "mode_used": result.mode_used,
        "calls": result.calls,
        "screens": data["screens"],
        "inputs": {
            entry["name"]: {
                "mismatches": entry["mismatches"],
                "kinks": entry["kinks"],
                "directions": entry["directions"],
            }
            for entry in data["inputs"]
        },
        "findings": [f"{f.input}: {f.summary}" for f in result.findings],
    }
    arrays = {
        name: {key: np.asarray(getattr(r, key)) for key in _RECORDED}
        for name, r in result.inputs.items()
    }
    return recorded, arrays


def bundle_from_call(
    check: str,
    args: Sequence[Any],
    options: Mapping[str, Any],
    result: CheckResult,
    *,
    title: str | None = None,
    target: dict[str, Any] | None = None,
) -> Bundle:
    """The bundle of ``gradcheck.<check>(*args, **options)`` that returned ``result``."""
    kind = _BY_FUNCTION.get(check)
    if kind is None:
        raise BundleError(f"check must be one of {', '.join(_BY_FUNCTION)}, got {check!r}")
    _, roles, keywords = KINDS[kind]
    if len(args) != len(roles) + 1:
        raise BundleError(
            f"{check} takes {len(roles) + 1} positional arguments ({', '.join(roles)} and the "
            f"inputs), got {len(args)}"
        )
    functions = {role: function_ref(fn) for role, fn in zip(roles, args, strict=False)}
    for role in FUNCTION_KEYWORDS.get(kind, ()):
        if options.get(role) is not None:
            functions[role] = function_ref(options[role])
    given = args[len(roles)]
    if given is None and kind == "module":
        given = {}
    if not isinstance(given, Mapping):
        raise BundleError(
            f"Expected a dict of inputs after the functions, got {type(given).__name__}"
        )
    inputs = dict(given)
    extra: dict[str, Any] = {}
    if kind == "module":
        functions = {"layer": None}
        params_attr = options.get("params_attr", "params")
        params = getattr(args[0], params_attr, None)
        if not isinstance(params, Mapping):
            raise BundleError(f"the layer has no dict attribute {params_attr!r} of parameters")
        extra = {
            "input_names": list(inputs),
            "params_attr": params_attr,
            "grads_attr": options.get("grads_attr", "grads"),
        }
        inputs.update(params)
    cotangents = options.get("cotangents")
    if cotangents is not None:
        cotangents = (
            (np.asarray(cotangents),)
            if isinstance(cotangents, np.ndarray)
            else tuple(np.asarray(c) for c in cotangents)
        )
    recorded, arrays = _recorded(result)
    return Bundle(
        kind=kind,
        inputs={k: v.copy() if isinstance(v, np.ndarray) else v for k, v in inputs.items()},
        options=_options(result, list(inputs)),
        cotangents=cotangents,
        functions=functions,
        target=target,
        extra=extra,
        title=title,
        recorded=recorded,
        arrays=arrays,
        environment=_environment(),
    )


def save_bundle(
    path: str | os.PathLike[str],
    result: CheckResult,
    check: Callable[..., CheckResult],
    *args: Any,
    cotangents: object = None,
    title: str | None = None,
    **call: Any,
) -> Path:
    """Save a check as a replay bundle, so that it can be run again elsewhere.

    Give the result, then the check function and its arguments as they were called
    (``check_layer, forward, backward, inputs``); the options (seed, method, ``wrt``,
    annotations...) are read from the result. The bundle is one ``.npz`` file: the inputs, the
    options, where the functions are defined (when they can be found by name) and the numbers
    the check recorded; no pickle.

    Parameters
    ----------
    path : str or os.PathLike
        Where to write the bundle (``.npz``).
    result : CheckResult
        What the check returned.
    check : callable
        The check that ran: ``gradcheck.check_layer``, ``check_vjp``, ``check_grad``,
        ``check_loss``, ``check_module``, ``check_jvp``, ``check_hvp`` or ``check_gradgrad``.
    *args
        Its positional arguments: the functions (or the layer) and the inputs.
    cotangents : ndarray or sequence of ndarray, optional
        The fixed cotangents, if the check was given some.
    title : str, optional
        What was checked.
    **call
        ``params_attr`` and ``grads_attr`` of ``check_module``, if not the defaults; ``vjp`` of
        ``check_jvp``, if it was given.

    Returns
    -------
    Path

    Examples
    --------
    See :meth:`Bundle.load` and :func:`replay`.
    """
    if not isinstance(result, CheckResult):
        raise BundleError(
            f"Expected a gradcheck.CheckResult for result, but got {type(result).__name__}"
        )
    name = getattr(check, "__name__", None)
    if name not in _BY_FUNCTION or getattr(check, "__module__", "") != "gradcheck._api":
        raise BundleError(
            "Expected the check function that ran (gradcheck.check_layer, check_vjp, "
            f"check_grad, check_loss, check_module, check_jvp, check_hvp or check_gradgrad) for "
            f"check, got {check!r}"
        )
    allowed = {"params_attr", "grads_attr", *FUNCTION_KEYWORDS.get(_BY_FUNCTION[name], ())}
    unknown = set(call) - allowed
    if unknown:
        raise BundleError(f"unknown arguments {sorted(unknown)}")
    options = dict(call, cotangents=cotangents)
    return bundle_from_call(name, args, options, result, title=title).save(path)


# --------------------------------------------------------------------------------------------
# replaying


def resolve(ref: Mapping[str, Any], role: str) -> Any:
    """Import the function a bundle refers to (by module name, else from its file)."""
    module_name, qualname, file = ref.get("module"), ref.get("qualname"), ref.get("file")
    module = sys.modules.get(str(module_name))
    if module is None and file:
        folder = str(Path(file).resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
    if module is None:
        try:
            module = importlib.import_module(str(module_name))
        except ImportError:
            module = None
    if module is None and file and Path(file).is_file():
        spec = importlib.util.spec_from_file_location(str(module_name), file)
        if spec is not None and spec.loader is not None:
            module = importlib.util.module_from_spec(spec)
            sys.modules[str(module_name)] = module
            spec.loader.exec_module(module)
    obj = None if module is None else _lookup(module, str(qualname))
    if obj is None:
        raise BundleError(
            f"cannot find the bundle's {role} ({module_name}:{qualname}, defined in {file}); "
            f"give it to gradcheck.replay(bundle, ...) instead"
        )
    return obj


def roles_of(bundle: Bundle) -> tuple[str, ...]:
    """The function arguments of a bundle's check: its positional ones, then the optional ones
    it was called with (``vjp`` of a ``check_jvp``)."""
    _, roles, _ = KINDS[bundle.kind]
    extra = tuple(r for r in FUNCTION_KEYWORDS.get(bundle.kind, ()) if r in bundle.functions)
    return roles + extra


def _functions(bundle: Bundle, given: Sequence[Any]) -> list[Any]:
    roles = roles_of(bundle)
    if given:
        if len(given) != len(roles):
            raise BundleError(
                f"a {bundle.kind!r} bundle replays with {len(roles)} function argument(s) "
                f"({', '.join(roles)}), got {len(given)}"
            )
        return list(given)
    out = []
    for role in roles:
        ref = bundle.functions.get(role)
        if ref is None:
            raise BundleError(
                f"the bundle does not say where its {role} is defined (a lambda, a closure or "
                f"an object); give it again: gradcheck.replay(bundle, {', '.join(roles)})"
            )
        out.append(resolve(ref, role))
    return out


def run_bundle(bundle: Bundle, functions: Sequence[Any], **overrides: Any) -> CheckResult:
    """Run the bundle's check with ``functions``; ``overrides`` adds options (progress...)."""
    from . import _api

    name, roles, _ = KINDS[bundle.kind]
    check = getattr(_api, name)
    options = {**bundle.options, **overrides}
    if bundle.cotangents is not None:
        options["cotangents"] = list(bundle.cotangents)
    if bundle.kind != "module":
        keywords = dict(zip(roles_of(bundle)[len(roles) :], functions[len(roles) :], strict=True))
        return check(  # type: ignore[no-any-return]
            *functions[: len(roles)], dict(bundle.inputs), **keywords, **options
        )
    (layer,) = functions
    extra = bundle.extra
    params_attr = extra.get("params_attr", "params")
    params = getattr(layer, params_attr, None)
    if not isinstance(params, dict):
        raise BundleError(f"the layer has no dict attribute {params_attr!r} of parameters")
    input_names = list(extra.get("input_names", []))
    inputs = {n: bundle.inputs[n] for n in input_names}
    saved = {n: v for n, v in bundle.inputs.items() if n not in input_names}
    if set(saved) != set(params):
        raise BundleError(
            f"the layer's parameters {sorted(params)} are not the bundle's {sorted(saved)}"
        )
    originals = dict(params)
    params.update(saved)
    try:
        return check(  # type: ignore[no-any-return]
            layer,
            inputs,
            params_attr=params_attr,
            grads_attr=extra.get("grads_attr", "grads"),
            **options,
        )
    finally:
        params.clear()
        params.update(originals)


def compare(bundle: Bundle, result: CheckResult) -> tuple[str, ...]:
    """How ``result`` differs from what ``bundle`` recorded (empty when nothing does)."""
    out: list[str] = []
    rec = bundle.recorded
    if rec.get("passed") != result.passed:
        was = "passed" if rec.get("passed") else "failed"
        verdict = "passes" if result.passed else "fails"
        out.append(f"the check {was} when recorded and {verdict} now")
    for key in ("mode_used", "calls"):
        if rec.get(key) != getattr(result, key):
            out.append(f"{key}: {rec.get(key)!r} recorded, {getattr(result, key)!r} now")
    if list(bundle.arrays) != list(result.inputs):
        out.append(f"checked inputs: {list(bundle.arrays)} recorded, {list(result.inputs)} now")
    now = result.to_dict()
    if rec.get("screens") != _jsonable(now["screens"]):
        out.append("the joint directional screens give other numbers")
    entries = {e["name"]: e for e in now["inputs"]}
    for name, per in bundle.arrays.items():
        r = result.inputs.get(name)
        if r is None:
            continue
        for key in _RECORDED:
            old, new = per[key], np.asarray(getattr(r, key))
            if old.shape != new.shape:
                out.append(f"{name}.{key}: shape {old.shape} recorded, {new.shape} now")
                continue
            equal = old == new
            if key != "status":
                equal |= np.isnan(old) & np.isnan(new)
            if not np.all(equal):
                out.append(f"{name}: {key} differs at {int(np.sum(~equal))} of {old.size} elements")
        recorded_dirs = rec.get("inputs", {}).get(name, {}).get("directions")
        if recorded_dirs is not None and recorded_dirs != _jsonable(entries[name]["directions"]):
            out.append(f"{name}: the directional checks give other numbers")
    findings = [f"{f.input}: {f.summary}" for f in result.findings]
    if rec.get("findings") is not None and rec["findings"] != findings:
        out.append("the likely causes differ")
    return tuple(out)


def replay(bundle: str | os.PathLike[str] | Bundle, *functions: Any, **options: Any) -> Replay:
    """Run a saved check again and compare its verdict and numbers with the recorded ones.

    Parameters
    ----------
    bundle : str, os.PathLike or Bundle
        A bundle written by :func:`save_bundle`, ``gradcheck check/lstm --save-bundle`` or the
        pytest plugin's ``--gradcheck-bundles``.
    *functions
        The check's functions, in the order of its call (``forward, backward`` for a layer,
        ``fn, grad``, ``loss_fn``, or the layer object of ``check_module``). Without them, the
        functions are imported from where the bundle says they are defined.
    **options
        Options that do not change the numbers: ``progress``, ``executor``.

    Returns
    -------
    Replay
        ``.result`` (a :class:`CheckResult`), ``.reproduced`` and ``.differences``.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> import gradcheck
    >>> def fn(x):
    ...     return float(np.sum(x**3))
    >>> def grad(x):
    ...     return (3 * x**2 + 0.1,)  # wrong by 0.1
    >>> inputs = {"x": np.linspace(-1, 1, 5)}
    >>> result = gradcheck.check_grad(fn, grad, inputs, seed=3)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = gradcheck.save_bundle(pathlib.Path(tmp) / "failure.npz", result,
    ...                                  gradcheck.check_grad, fn, grad, inputs)
    ...     again = gradcheck.replay(path, fn, grad)
    >>> again.reproduced, again.result.passed
    (True, False)
    """
    unknown = set(options) - {"progress", "executor"}
    if unknown:
        raise BundleError(
            f"replay takes only the options progress and executor (the others are the "
            f"bundle's), got {sorted(unknown)}"
        )
    if not isinstance(bundle, Bundle):
        if not isinstance(bundle, str | os.PathLike):
            raise BundleError(
                f"Expected a bundle path or a gradcheck.Bundle for bundle, got "
                f"{type(bundle).__name__}"
            )
        bundle = Bundle.load(bundle)
    result = run_bundle(bundle, _functions(bundle, functions), **options)
    return Replay(result, bundle, compare(bundle, result))
