"""The command line: ``gradcheck lstm`` and ``gradcheck check MODULE:NAME``.

Exit codes: 0 the check passed, 1 a gradient mismatch, 2 a usage error (bad option, unknown
module or name, malformed spec), 3 the user's code raised or broke the contract of the check
(its module failed to import, NAME raised, the function raised, returned gradients of the wrong
shape, non-finite values, was not deterministic or changed its inputs). An unexpected error
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
from ._api import check_grad, check_layer, check_loss, check_module, check_vjp
from ._errors import GradcheckError, InvalidArgumentError, MissingDependencyError, UserCodeError
from ._format import headline
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
}


class UsageError(GradcheckError):
    """A mistake on the command line (exit code 2)."""


class UserFailure(GradcheckError):
    """The user's module or spec function raised (exit code 3); the cause is chained."""


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
        choices=("central", "richardson", "complex"),
        help=f"numerical method (default: central{spec})",
    )
    check.add_argument(
        "--mode",
        choices=("auto", "full", "sample", "directional"),
        help=f"which elements to check (default: auto{spec})",
    )
    seed_help = (
        f"seeds the data, the parameters and the check (default {seed_default})"
        if seed_default is not None
        else "seeds the check's cotangents, samples and directions (default: the spec's)"
    )
    check.add_argument("--seed", type=_seed, default=seed_default, help=seed_help)
    out = parser.add_argument_group("report options")
    out.add_argument(
        "--format",
        choices=FORMATS,
        help="report format (default: from the --output suffix, else text)",
    )
    out.add_argument(
        "-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout"
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
        "raised or broke the check's contract, 4 internal error of gradcheck",
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
        "loss or module), the functions and inputs that kind needs, and optionally 'options' "
        "(keyword options of the check) and 'title'. See examples/check_spec.py.",
    )
    check.add_argument("target", metavar="MODULE:NAME")
    _common(check, seed_default=None)
    return parser


# --------------------------------------------------------------------------------------------
# progress bar


class _Bar:
    """A tqdm progress bar fed by the checker's ``progress(done, total)`` callback."""

    def __init__(self, stream: IO[str], delay: float) -> None:
        tqdm = require("tqdm", "the progress bar")
        self.bar = tqdm.tqdm(
            total=0, unit="call", file=stream, delay=delay, leave=False, dynamic_ncols=True
        )

    def __call__(self, done: int, total: int) -> None:
        if total != self.bar.total:
            self.bar.total = total
            self.bar.refresh()
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def _progress(choice: bool | None, stream: IO[str]) -> _Bar | None:
    """The progress bar asked for: ``--progress``, ``--no-progress``, or automatic.

    Automatic: only when ``stream`` is a terminal and the ``CI`` environment variable is unset,
    only when tqdm is installed, and shown after half a second (long checks only).
    """
    if choice is False:
        return None
    if choice is None:
        if os.environ.get("CI") or not stream.isatty():
            return None
        try:
            return _Bar(stream, delay=AUTO_DELAY)
        except MissingDependencyError:
            return None
    return _Bar(stream, delay=0.0)


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

    if args.fd is not None:
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


def _run_lstm(args: argparse.Namespace, progress: _Bar | None) -> tuple[CheckResult, str]:
    if args.against is not None:
        return _run_against(args, progress)
    problem = _lstm_problem(args)
    opts = _check_options(args)
    opts["annotations"] = problem.annotations
    if progress is not None:
        opts["progress"] = progress
    return check_loss(problem.loss_fn, problem.inputs, **opts), problem.title


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


def _run_against(args: argparse.Namespace, progress: _Bar | None) -> tuple[CheckResult, str]:
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
        except Exception as exc:
            sys.modules.pop(mod_name, None)
            raise UserFailure(
                f"importing {module_part} raised {type(exc).__name__}: {exc}"
            ) from exc
    else:
        try:
            module = importlib.import_module(module_part)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_part.startswith(exc.name):
                raise UsageError(
                    f"no module named {module_part!r} (is it on the path? a file path must "
                    "end in .py)"
                ) from None
            raise UserFailure(
                f"importing {module_part} raised {type(exc).__name__}: {exc}"
            ) from exc
        except Exception as exc:
            raise UserFailure(
                f"importing {module_part} raised {type(exc).__name__}: {exc}"
            ) from exc
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


def _run_check(args: argparse.Namespace, progress: _Bar | None) -> tuple[CheckResult, str]:
    fn = _import_target(args.target)
    try:
        spec = fn()
    except Exception as exc:
        raise UserFailure(f"{args.target}() raised {type(exc).__name__}: {exc}") from exc
    overrides = _check_options(args)
    if progress is not None:
        overrides["progress"] = progress
    result, title = run_spec(spec, args.target, overrides)
    return result, title or args.target


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
        fmt = args.format or (format_for(args.output) if args.output else "text")
        if fmt == "html":
            require("jinja2", "the HTML report")
            require("matplotlib", "the HTML report")
        progress = _progress(args.progress, sys.stderr)
    except GradcheckError as exc:
        _error(str(exc))
        return EXIT_USAGE
    try:
        if args.command == "lstm":
            result, title = _run_lstm(args, progress)
        else:
            result, title = _run_check(args, progress)
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
    return EXIT_PASSED if result.passed else EXIT_FAILED
