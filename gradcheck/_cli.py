"""The command line: ``gradcheck lstm``, ``gradcheck check MODULE:NAME`` and ``gradcheck replay``.

Exit codes: 0 the check passed, 1 a gradient mismatch, 2 a usage error (bad option, unknown
module or name, malformed spec), 3 the user's code raised or broke the contract of the check
(its module failed to import, NAME raised, the function raised, returned gradients of the wrong
shape, non-finite values, was not deterministic or changed its inputs), or called ``sys.exit``
(whatever its code: an exit is never a verdict). An unexpected error
inside gradcheck itself (a bug) prints its traceback and exits with 4, so that it is never
mistaken for a verdict.

The library stays silent; this module does the talking: the report goes to stdout (or to
``--output FILE``), errors and the progress bar to stderr.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import inspect
import os
import re
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from . import __version__
from ._api import (
    check_grad,
    check_gradgrad,
    check_hvp,
    check_jvp,
    check_layer,
    check_loss,
    check_module,
    check_vjp,
)
from ._bundle import Bundle, Replay, bundle_from_call, replay, resolve, roles_of
from ._core import METHODS, MODES
from ._errors import GradcheckError, InvalidArgumentError, MissingDependencyError, UserCodeError
from ._format import headline
from ._progress import Hint, ProgressBar
from ._report import FORMATS, format_for, report
from ._report._deps import require
from ._result import CheckResult

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_PASSED",
    "EXIT_USAGE",
    "EXIT_USER_CODE",
    "main",
]

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_USER_CODE = 3
EXIT_INTERNAL = 4

#: seconds before the automatic progress bar appears (short checks never show it)
AUTO_DELAY = 0.5
#: seconds a check runs in a terminal without tqdm before the command says how to get the bar
HINT_DELAY = 3.0

#: values of --fd (lstm_ref.oracle.FD_MODES)
FD_CHOICES = ("auto", "all", "none")
#: defaults of ``gradcheck lstm`` without --against
LSTM_DEFAULTS = {
    "layers": 2,
    "steps": 3,
    "batch": 2,
    "input_size": 3,
    "hidden_size": 4,
    "classes": 3,
    "loss": "softmax",
    "head": "last",
    "dtype": "float64",
    "layout": "packed",
}
#: options of the reference model that --against does not take (the sizes are the LSTM's)
NOT_AGAINST = ("layers", "input_size", "hidden_size", "classes", "loss", "head", "dtype", "mutant")

#: what each kind of spec calls, its required and optional keys (besides kind, options, title)
KINDS: dict[str, tuple[Callable[..., CheckResult], tuple[str, ...], tuple[str, ...]]] = {
    "layer": (check_layer, ("forward", "backward", "inputs"), ("cotangents",)),
    "vjp": (check_vjp, ("fn", "vjp", "inputs"), ("cotangents",)),
    "grad": (check_grad, ("fn", "grad", "inputs"), ()),
    "loss": (check_loss, ("loss_fn", "params"), ()),
    "module": (check_module, ("layer",), ("inputs", "params_attr", "grads_attr", "cotangents")),
    "jvp": (check_jvp, ("fn", "jvp", "inputs"), ("vjp", "cotangents")),
    "hvp": (check_hvp, ("grad", "hvp", "inputs"), ("cotangents",)),
    "gradgrad": (check_gradgrad, ("fn", "vjp", "vjp_jvp", "inputs"), ("cotangents",)),
}


class UsageError(GradcheckError):
    """A mistake on the command line (exit code 2)."""


class UserFailure(GradcheckError):
    """The user's module or spec function raised (exit code 3); the cause is chained."""


def _what_happened(exc: BaseException) -> str:
    """``"raised ValueError: ..."``, or ``"called sys.exit(0)"`` for a SystemExit."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    return f"raised {type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------------------------
# argument parsing


def _int_at_least(minimum: int, expected: str) -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``minimum``, or an error saying ``expected``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value

    return parse


_positive = _int_at_least(1, "a positive integer")
_seed = _int_at_least(0, "an integer >= 0")


def _common(parser: argparse.ArgumentParser, seed_default: int | None) -> None:
    check = parser.add_argument_group("check options")
    spec = "" if seed_default is not None else ", or the spec's"
    check.add_argument(
        "--method",
        choices=tuple(METHODS),
        help=f"numerical method (default: central{spec})",
    )
    check.add_argument(
        "--mode",
        choices=tuple(MODES),
        help=f"which elements to check (default: auto{spec})",
    )
    seed_help = (
        f"seeds the data, the parameters and the check (default {seed_default})"
        if seed_default is not None
        else "seeds the check's cotangents, samples and directions (default: the spec's)"
    )
    check.add_argument("--seed", type=_seed, default=seed_default, help=seed_help)
    _report_options(parser, bundles=True)


def _report_options(parser: argparse.ArgumentParser, *, bundles: bool) -> None:
    out = parser.add_argument_group("report options")
    out.add_argument(
        "--format",
        choices=FORMATS,
        help="report format (default: from the --output suffix, else text)",
    )
    out.add_argument(
        "-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout"
    )
    if bundles:
        out.add_argument(
            "--save-bundle",
            metavar="FILE",
            help="when the check fails, save a replay bundle (.npz: inputs, seed, options) to "
            "FILE, to rerun it elsewhere with: gradcheck replay FILE",
        )
    out.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: on when stderr is a terminal and CI is unset; "
        'needs pip install "gradcheck[progress]")',
    )


def _mutant_epilog() -> str:
    from lstm_ref.mutants import MUTANTS

    lines = ["planted bugs for --mutant (from lstm_ref.mutants; visible when):"]
    for m in MUTANTS.values():
        lines.append(f"  {m.name:<24} [{m.reveals}] {m.description}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gradcheck`` command."""
    parser = argparse.ArgumentParser(
        prog="gradcheck",
        description="Check analytic gradients against finite differences and report where "
        "they disagree.",
        epilog="exit codes: 0 passed, 1 gradient mismatch, 2 usage error, 3 the checked code "
        "raised, exited or broke the check's contract, 4 internal error of gradcheck",
    )
    parser.add_argument("--version", action="version", version=f"gradcheck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    import lstm_ref

    lstm = sub.add_parser(
        "lstm",
        help="check the reference numpy LSTM, or your own LSTM against it (--against)",
        description="Check every parameter gradient of lstm_ref's whole model: stacked LSTM "
        "layers, a fully connected head on the last (or every) step, and a softmax or MSE "
        "loss. Plant a known bug with --mutant to see what a failing report looks like. "
        "With --against MODULE:NAME, run your own LSTM layer, stack or model (NAME returns "
        "an lstm_ref.LSTMSubject, see lstm_ref.adapters) against the reference instead: "
        "outputs, exact gradients to rounding, and where they differ (gate, step, layer).",
        epilog=_mutant_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    shape = lstm.add_argument_group(
        "model (the reference's; --batch and --steps also apply to --against)"
    )
    shape.add_argument("--layers", type=_positive, metavar="L", help="default 2")
    shape.add_argument("--steps", type=_positive, metavar="T", help="default 3 (4 with --against)")
    shape.add_argument("--batch", type=_positive, metavar="N", help="default 2 (3 with --against)")
    shape.add_argument("--input-size", type=_positive, metavar="D", help="default 3")
    shape.add_argument("--hidden-size", type=_positive, metavar="H", help="default 4")
    shape.add_argument("--classes", type=_positive, metavar="C", help="default 3")
    shape.add_argument("--loss", choices=lstm_ref.OBJECTIVES, help="default softmax")
    shape.add_argument("--head", choices=lstm_ref.HEADS, help="default last")
    shape.add_argument("--dtype", choices=("float64", "float32"), help="default float64")
    shape.add_argument(
        "--layout",
        choices=lstm_ref.LAYOUTS,
        help="the layout of the LSTM weights (default packed; with --against: your LSTM's, "
        "passed to NAME if it takes a layout argument)",
    )
    shape.add_argument("--mutant", metavar="NAME", help="plant a bug (names below)")
    mine = lstm.add_argument_group("your own LSTM")
    mine.add_argument(
        "--against",
        metavar="MODULE:NAME",
        help="run the LSTM that NAME() returns against the reference; MODULE is a dotted "
        "module or a .py file, NAME may carry keyword arguments with literal values: "
        "'model.py:lstm(bug=\"no_carry\", H=8)'",
    )
    mine.add_argument(
        "--fd",
        choices=FD_CHOICES,
        help="finite differences of your own function: auto (default: what the reference "
        "cannot cover), all, none",
    )
    _common(lstm, seed_default=0)

    check = sub.add_parser(
        "check",
        help="check a layer of your own: MODULE:NAME returns a check spec",
        description="Import MODULE (a dotted module name or a path to a .py file), call NAME() "
        "and run the check it describes. NAME returns a dict with 'kind' (layer, vjp, grad, "
        "loss, module, jvp, hvp or gradgrad), the functions and inputs that kind needs, and "
        "optionally 'options' (keyword options of the check) and 'title'. See "
        "examples/check_spec.py.",
    )
    check.add_argument("target", metavar="MODULE:NAME")
    _common(check, seed_default=None)

    again = sub.add_parser(
        "replay",
        help="rerun a check saved as a bundle (--save-bundle, or the pytest plugin's "
        "--gradcheck-bundles) and say whether it gives the same verdict and numbers",
        description="Load BUNDLE, find its functions (the command that saved it, or the "
        "module and name each was defined under), run the check again on the saved inputs "
        "with the saved options and seed, print the report, and say on stderr whether the "
        "verdict and every recorded number came out the same. The exit code is the check's.",
    )
    again.add_argument("bundle", metavar="BUNDLE")
    _report_options(again, bundles=False)
    return parser


# --------------------------------------------------------------------------------------------
# progress bar


_Progress = ProgressBar | Hint | None


def _progress(choice: bool | None, stream: IO[str]) -> _Progress:
    """The progress bar asked for: ``--progress``, ``--no-progress``, or automatic.

    Automatic: only when ``stream`` is a terminal and the ``CI`` environment variable is unset,
    and shown after half a second (long checks only). Without tqdm, a check that runs longer
    than :data:`HINT_DELAY` says once how to get the bar.
    """
    if choice is False:
        return None
    if choice is None:
        if os.environ.get("CI") or not stream.isatty():
            return None
        try:
            return ProgressBar(stream, delay=AUTO_DELAY, what="the progress bar")
        except MissingDependencyError:
            return Hint(stream, HINT_DELAY)
    return ProgressBar(stream, delay=0.0, what="the progress bar")


# --------------------------------------------------------------------------------------------
# gradcheck lstm


@dataclass
class _LstmProblem:
    inputs: dict[str, np.ndarray[Any, Any]]
    annotations: dict[str, Any]
    loss_fn: Callable[[dict[str, np.ndarray[Any, Any]]], Any]
    title: str


def _lstm_problem(args: argparse.Namespace) -> _LstmProblem:
    import lstm_ref
    from lstm_ref.mutants import MUTANTS

    if getattr(args, "fd", None) is not None:  # a replayed bundle's arguments have no --fd
        raise UsageError("--fd applies to --against only")
    for key, value in LSTM_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    n, t, d, h, c, layers = (
        args.batch,
        args.steps,
        args.input_size,
        args.hidden_size,
        args.classes,
        args.layers,
    )
    fn = lstm_ref.loss
    title = (
        f"lstm_ref: {layers} LSTM layer{'s' if layers > 1 else ''} + fc, N={n} T={t} D={d} "
        f"H={h} C={c}, {args.loss} loss on {args.head} step{'s' if args.head == 'every' else ''}"
        f", {args.dtype}, layout {args.layout}"
    )
    if args.mutant is not None:
        if args.mutant not in MUTANTS:
            import difflib

            close = difflib.get_close_matches(args.mutant, list(MUTANTS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UsageError(
                f"unknown mutant {args.mutant!r}{hint} (gradcheck lstm --help lists them)"
            )
        mutant = MUTANTS[args.mutant]
        fn = mutant.loss
        title += f", planted bug {mutant.name}"
        visible = mutant.visible(
            N=n, T=t, D=d, H=h, L=layers, C=c, head=args.head, objective=args.loss
        )
        if not visible:
            print(
                f"gradcheck: note: mutant {mutant.name} only shows when {mutant.reveals}; at "
                "this shape its gradients equal the reference's and the check should pass",
                file=sys.stderr,
            )

    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(args.seed)
    params = lstm_ref.init_params(rng, N=n, D=d, H=h, C=c, L=layers, dtype=dtype)
    x = rng.standard_normal((n, t, d)).astype(dtype)
    out_shape = (n, c) if args.head == "last" else (n, t, c)
    if args.loss == "softmax":
        y: np.ndarray[Any, Any] = rng.integers(0, c, size=out_shape[:-1])
    else:
        y = rng.standard_normal(out_shape).astype(dtype)
    layout = lstm_ref.get_layout(args.layout)
    inputs = layout.unpack(params)
    notes = lstm_ref.annotations(inputs, layout.name)
    layout_loss = layout.wrap(fn)
    head, objective = args.head, args.loss

    def loss_fn(p: dict[str, np.ndarray[Any, Any]]) -> tuple[Any, dict[str, Any]]:
        dt = p["fc.W"].dtype  # complex under method="complex": data follows the params
        xx = x.astype(dt, copy=False)
        yy = y if args.loss == "softmax" else y.astype(dt, copy=False)
        return layout_loss(p, xx, yy, head=head, objective=objective)

    return _LstmProblem(inputs, notes, loss_fn, title)


def _check_options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    for key in ("method", "mode", "seed"):
        value = getattr(args, key)
        if value is not None:
            opts[key] = value
    return opts


#: the options of ``gradcheck lstm`` that make its problem, kept in a replay bundle
LSTM_ARGS = (
    "layers",
    "steps",
    "batch",
    "input_size",
    "hidden_size",
    "classes",
    "loss",
    "head",
    "dtype",
    "layout",
    "mutant",
    "seed",
)


@dataclass
class _Run:
    """A check the command ran: its result, and the call and command that made it."""

    result: CheckResult
    title: str
    call: tuple[str, list[Any], dict[str, Any]] | None = None
    target: dict[str, Any] | None = None
    replayed: Replay | None = None


def _run_lstm(args: argparse.Namespace, progress: _Progress) -> _Run:
    if args.against is not None:
        return _Run(*_run_against(args, progress))
    problem = _lstm_problem(args)
    opts = _check_options(args)
    opts["annotations"] = problem.annotations
    if progress is not None:
        opts["progress"] = progress
    result = check_loss(problem.loss_fn, problem.inputs, **opts)
    target = {"command": "lstm", "args": {key: getattr(args, key) for key in LSTM_ARGS}}
    return _Run(
        result, problem.title, ("check_loss", [problem.loss_fn, problem.inputs], opts), target
    )


_TARGET = re.compile(r"(?s)(?P<module>.+):(?P<name>[A-Za-z_]\w*)(?P<call>\(.*\))?")


def _call_arguments(text: str, target: str) -> dict[str, Any]:
    """``(a=1, b="x")`` -> keyword arguments with literal values, or a UsageError."""
    try:
        call = ast.parse("f" + text, mode="eval").body
    except SyntaxError:
        call = None
    if not isinstance(call, ast.Call) or call.args:
        raise UsageError(
            f"cannot read the arguments of {target!r}: write NAME(key=value, ...) with "
            "keyword arguments and literal values (strings quoted)"
        )
    kwargs: dict[str, Any] = {}
    for keyword in call.keywords:
        try:
            value = ast.literal_eval(keyword.value)
        except ValueError:
            raise UsageError(
                f"the argument {keyword.arg}= of {target!r} is not a literal (a number, a "
                "quoted string, True, False, None, or a list or tuple of them)"
            ) from None
        kwargs[str(keyword.arg)] = value
    return kwargs


def _run_against(args: argparse.Namespace, progress: _Progress) -> tuple[CheckResult, str]:
    """``gradcheck lstm --against MODULE:NAME``: the user's LSTM against lstm_ref."""
    given = [f"--{key.replace('_', '-')}" for key in NOT_AGAINST if getattr(args, key) is not None]
    if given:
        raise UsageError(
            f"{', '.join(given)} cannot be used with --against: the sizes, dtype, head and loss "
            "are your LSTM's (--batch, --steps, --layout, --fd and the check options apply)"
        )
    from lstm_ref import LSTMSubject
    from lstm_ref.oracle import check_against

    match = _TARGET.fullmatch(args.against)
    if match is None:
        raise UsageError(
            f"expected MODULE:NAME (a module or .py file, a colon, a function name), got "
            f"{args.against!r}"
        )
    kwargs = _call_arguments(match["call"], args.against) if match["call"] else {}
    fn = _import_target(f"{match['module']}:{match['name']}")
    try:
        takes_layout = "layout" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        takes_layout = False
    if args.layout is not None and takes_layout:
        kwargs.setdefault("layout", args.layout)
    try:
        subject = fn(**kwargs)
    except Exception as exc:
        raise UserFailure(f"{args.against} raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(subject, LSTMSubject):
        raise UsageError(
            f"{args.against} returned {type(subject).__name__}, expected an "
            "lstm_ref.LSTMSubject (build it with lstm_ref.adapters: stepwise, sequence or model)"
        )
    if args.layout is not None and subject.layout != args.layout:
        raise UsageError(
            f"--layout {args.layout} but {args.against} is an LSTM in the {subject.layout} layout"
        )
    opts = _check_options(args)
    seed = opts.pop("seed", 0)
    if progress is not None:
        opts["progress"] = progress
    sizes = {k: v for k, v in (("N", args.batch), ("T", args.steps)) if v is not None}
    result = check_against(subject, seed=seed, fd=args.fd or "auto", **sizes, **opts)
    title = f"{subject.label} against lstm_ref ({subject.layout} layout)"
    return result, title


# --------------------------------------------------------------------------------------------
# gradcheck check MODULE:NAME


def _import_target(target: str) -> Callable[[], object]:
    module_part, sep, name = target.rpartition(":")
    if not sep or not module_part or not name:
        raise UsageError(
            f"expected MODULE:NAME (a module or .py file, a colon, a function name), got {target!r}"
        )
    is_path = module_part.endswith(".py") or "/" in module_part or os.sep in module_part
    if is_path:
        path = Path(module_part)
        if not path.is_file():
            raise UsageError(f"no such file: {module_part!r}")
        mod_name = f"gradcheck_user_{path.stem}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"cannot import {module_part!r} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:
            sys.modules.pop(mod_name, None)
            raise UserFailure(f"importing {module_part} {_what_happened(exc)}") from exc
    else:
        try:
            module = importlib.import_module(module_part)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_part.startswith(exc.name):
                raise UsageError(
                    f"no module named {module_part!r} (is it on the path? a file path must "
                    "end in .py)"
                ) from None
            raise UserFailure(f"importing {module_part} {_what_happened(exc)}") from exc
        except (Exception, SystemExit) as exc:
            raise UserFailure(f"importing {module_part} {_what_happened(exc)}") from exc
    obj = getattr(module, name, None)
    if obj is None:
        public = sorted(
            n for n in vars(module) if not n.startswith("_") and callable(vars(module)[n])
        )
        raise UsageError(
            f"{module_part} has no attribute {name!r}; its functions are {public[:20]}"
        )
    if not callable(obj):
        raise UsageError(
            f"{target} is a {type(obj).__name__}, expected a function returning a check spec"
        )
    fn: Callable[[], object] = obj
    return fn


def _spec_error(target: str, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"the spec returned by {target}: {message}")


def run_spec(
    spec: object, target: str, overrides: Mapping[str, Any]
) -> tuple[CheckResult, str | None]:
    """Validate a check spec and run the check it describes."""
    if not isinstance(spec, Mapping):
        raise _spec_error(
            target, f"expected a dict with a 'kind' key, got {type(spec).__name__} {spec!r}"[:300]
        )
    kind = spec.get("kind")
    if kind not in KINDS:
        raise _spec_error(
            target, f"'kind' must be one of {', '.join(map(repr, KINDS))}, got {kind!r}"
        )
    function, required, optional = KINDS[kind]
    known = {"kind", "options", "title", *required, *optional}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise _spec_error(
            target, f"unknown keys {unknown} for kind {kind!r}; expected {sorted(known)}"
        )
    missing = [key for key in required if key not in spec]
    if missing:
        raise _spec_error(target, f"kind {kind!r} needs the keys {missing}")
    options = spec.get("options") or {}
    if not isinstance(options, Mapping):
        raise _spec_error(target, f"'options' must be a dict, got {options!r}")
    title = spec.get("title")
    if title is not None and not isinstance(title, str):
        raise _spec_error(target, f"'title' must be a string, got {title!r}")
    args = [spec[key] for key in required]
    kwargs = {key: spec[key] for key in optional if key in spec}
    if kind == "module" and "inputs" not in kwargs:
        kwargs["inputs"] = {}
    merged = {**options, **overrides}
    return function(*args, **kwargs, **merged), title


def _spec_call(
    spec: Mapping[str, Any], overrides: Mapping[str, Any]
) -> tuple[str, list[Any], dict[str, Any]]:
    """The check a (validated) spec ran, as (function name, positional arguments, keywords)."""
    function, required, optional = KINDS[spec["kind"]]
    args = [spec[key] for key in required]
    keywords = {key: spec[key] for key in optional if key in spec}
    if spec["kind"] == "module":
        args.append(keywords.pop("inputs", {}))
    keywords.update({**(spec.get("options") or {}), **overrides})
    return function.__name__, args, keywords


def _call_spec(target: str) -> object:
    fn = _import_target(target)
    try:
        return fn()
    except (Exception, SystemExit) as exc:
        raise UserFailure(f"{target}() {_what_happened(exc)}") from exc


def _run_check(args: argparse.Namespace, progress: _Progress) -> _Run:
    spec = _call_spec(args.target)
    overrides = _check_options(args)
    if progress is not None:
        overrides["progress"] = progress
    result, title = run_spec(spec, args.target, overrides)
    assert isinstance(spec, Mapping)  # run_spec checked it
    target = {
        "command": "check",
        "spec": args.target,
        "spec_path": _absolute_spec(args.target),
    }
    return _Run(result, title or args.target, _spec_call(spec, overrides), target)


def _absolute_spec(target: str) -> str:
    """``target`` with its module path made absolute, when it is a file path."""
    module_part, _, name = target.rpartition(":")
    if module_part.endswith(".py") and Path(module_part).is_file():
        return f"{Path(module_part).resolve()}:{name}"
    return target


# --------------------------------------------------------------------------------------------
# gradcheck replay BUNDLE


def _replay_functions(bundle: Bundle) -> list[Any]:
    """The functions of a bundle: from the command that saved it, or by name."""
    target = bundle.target or {}
    if target.get("command") == "lstm":
        problem = _lstm_problem(argparse.Namespace(**target["args"]))
        return [problem.loss_fn]
    if target.get("command") == "check":
        spec_target = str(target.get("spec"))
        module_part = spec_target.rpartition(":")[0]
        if module_part.endswith(".py") and not Path(module_part).is_file():
            spec_target = str(target.get("spec_path", spec_target))
        spec = _call_spec(spec_target)
        if not isinstance(spec, Mapping) or spec.get("kind") != bundle.kind:
            raise UsageError(
                f"{spec_target} no longer returns a {bundle.kind!r} check spec; it cannot "
                "replay this bundle"
            )
        return [spec[role] for role in roles_of(bundle)]
    functions = []
    for role, ref in bundle.functions.items():
        if ref is None:
            raise UsageError(
                f"the bundle does not say where its {role} is defined (a lambda, a closure or "
                "an object); replay it from Python: gradcheck.replay(bundle, ...)"
            )
        try:
            functions.append(resolve(ref, role))
        except GradcheckError:
            raise
        except Exception as exc:
            raise UserFailure(
                f"importing {ref.get('module')} for the bundle's {role} raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    return functions


def _run_replay(args: argparse.Namespace, progress: _Progress) -> _Run:
    bundle = Bundle.load(args.bundle)
    functions = _replay_functions(bundle)
    options = {} if progress is None else {"progress": progress}
    replayed = replay(bundle, *functions, **options)
    title = f"replay of {args.bundle}" + (f": {bundle.title}" if bundle.title else "")
    return _Run(replayed.result, title, replayed=replayed)


def _save_bundle(run: _Run, path: str) -> None:
    if run.call is None:
        return
    name, call_args, keywords = run.call
    keywords = {k: v for k, v in keywords.items() if k != "progress"}
    bundle = bundle_from_call(
        name, call_args, keywords, run.result, title=run.title, target=run.target
    )
    saved = bundle.save(path)
    print(
        f"gradcheck: replay bundle written to {saved} (rerun: gradcheck replay {saved})",
        file=sys.stderr,
    )


# --------------------------------------------------------------------------------------------
# main


def _error(message: str, cause: BaseException | None = None) -> None:
    if cause is not None:
        traceback.print_exception(cause, file=sys.stderr)
    print(f"gradcheck: error: {message}", file=sys.stderr)


def _internal(exc: Exception) -> int:
    _error(f"internal error in gradcheck {__version__} (a bug, please report it): {exc!r}", exc)
    return EXIT_INTERNAL


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gradcheck`` command; returns the exit code (see the module docstring)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        fmt = args.format or (format_for(args.output, option="--format") if args.output else "text")
        if fmt == "html":
            require("jinja2", "the HTML report")
            require("matplotlib", "the HTML report")
        progress = _progress(args.progress, sys.stderr)
    except GradcheckError as exc:
        _error(str(exc))
        return EXIT_USAGE
    try:
        runner = {"lstm": _run_lstm, "check": _run_check, "replay": _run_replay}[args.command]
        run = runner(args, progress)
        result, title = run.result, run.title
        if getattr(args, "save_bundle", None) and not result.passed:
            _save_bundle(run, args.save_bundle)
    except OSError as exc:
        _error(f"cannot write the bundle to {args.save_bundle}: {exc}")
        return EXIT_USAGE
    except (UsageError, InvalidArgumentError, MissingDependencyError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except UserFailure as exc:
        _error(str(exc), exc.__cause__)
        return EXIT_USER_CODE
    except UserCodeError as exc:
        _error(str(exc), exc.__cause__)
        return EXIT_USER_CODE
    except GradcheckError as exc:  # the checked code broke the contract (shapes, NaN...)
        _error(f"{type(exc).__name__}: {exc}")
        return EXIT_USER_CODE
    except SystemExit as exc:  # not a verdict: sys.exit(0) must not read as "passed"
        _error(
            f"the checked code {_what_happened(exc)} during the check; a function under a "
            "gradient check must return a value, not exit",
            exc,
        )
        return EXIT_USER_CODE
    except Exception as exc:
        return _internal(exc)
    finally:
        if progress is not None:
            progress.close()
    try:
        text = report(result, fmt, title=title)
        if args.output:
            path = Path(args.output)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"{headline(result)}; {fmt} report written to {path}")
        else:
            sys.stdout.write(text)
    except OSError as exc:
        _error(f"cannot write the report to {args.output}: {exc}")
        return EXIT_USAGE
    except Exception as exc:
        return _internal(exc)
    if run.replayed is not None:
        print(f"gradcheck: {run.replayed.summary()}", file=sys.stderr)
    return EXIT_PASSED if result.passed else EXIT_FAILED
