"""gradcheck against the gradient checkers users would otherwise pick, side by side in one run.

Run from the repository root (torch, jax and dask are extras of the benchmark only)::

    pip install -e . -r bench/requirements.txt
    python bench/compare.py            # the tables of docs/benchmarks.md (50 min on 2 cores)
    python bench/compare.py --quick    # smoke test, under a minute
    python bench/compare.py --light    # no full-Jacobian check at the medium shape
    python bench/compare.py --heavy    # every full-Jacobian check at the medium shape too

Every tool checks the same function: the whole-model loss of ``lstm_ref`` (2 LSTM layers, a
fully connected head on the last step, softmax loss) as a function of all its parameters, with
its analytic gradient from ``lstm_ref.loss`` (for a planted bug, from ``mutant.loss``). Each
evaluation runs the numpy forward and backward pass, for every tool:

``torch slow`` / ``torch fast``
    a ``torch.autograd.Function`` whose forward calls the numpy loss on copies of the inputs
    and whose backward returns ``grads * grad_output``, checked by
    ``torch.autograd.gradcheck(fn, inputs, fast_mode=False / True, raise_exception=False)``
    with its default tolerances.
``jax``
    a ``jax.custom_vjp`` function (forward and backward through ``jax.pure_callback``, x64
    enabled) checked by ``jax.test_util.check_grads(f, args, order=1, modes=["rev"])`` with its
    defaults.
``gc <mode> <method>``
    ``gradcheck.check_loss(model, params, mode=..., method=...)`` with its defaults, for the
    modes auto, full, directional and the methods central, richardson, complex.

Parts (``--parts``, default all): ``wall`` (wall time on correct code, median of up to 5 runs,
a single run when one takes more than 2 s), ``detect`` (the planted bugs of
``lstm_ref.mutants``), ``false`` (false failures on correct code, 10 seeds, float64 and
float32), ``floor`` (the smallest planted single-element relative error each tool catches) and
``overhead`` (``bench/overhead.py``: gradcheck's full mode against its floor of 2 calls per
element). The parts other than ``wall`` and ``overhead`` measure no time and run on ``--jobs``
worker processes (default: the number of cores).

A full-Jacobian check (torch's slow mode, gradcheck's full mode) at the medium shape takes one
to several minutes. By default the medium shape gets them for the wall time (one run each) and
for the planted bugs caught and the detection floors of torch's slow mode and gradcheck's full
central mode; ``--heavy`` adds the rest (false failures over all seeds, full Richardson and
complex step on every planted bug and their floors), ``--light`` drops them all.

BLAS runs on one thread per process unless
``OPENBLAS_NUM_THREADS`` is set (at these sizes more threads do not help, and on a busy machine
a multi-threaded BLAS that loses a core waits for it at every call).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Iterable, Sequence  # noqa: E402
from concurrent.futures import ProcessPoolExecutor, as_completed  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as common  # noqa: E402
from _common import SHAPES, Case, fmt_time, make_case, markdown_table  # noqa: E402

import gradcheck  # noqa: E402
import lstm_ref as lr  # noqa: E402
from lstm_ref.mutants import MUTANTS  # noqa: E402

GC_MODES = ("auto", "full", "directional")
GC_METHODS = ("central", "richardson", "complex")
TOOLS = ["torch slow", "torch fast", "jax"] + [
    f"gc {mode} {method}" for mode in GC_MODES for method in GC_METHODS
]
TOOL_LABELS = {
    "torch slow": "torch gradcheck (slow)",
    "torch fast": "torch gradcheck (fast_mode)",
    "jax": "jax check_grads (rev)",
    **{f"gc {m} {k}": f"gradcheck {m}, {k}" for m in GC_MODES for k in GC_METHODS},
}
DTYPES = ("float64", "float32")
SEEDS = 10
#: planted relative errors of the detection floor, scanned from the largest down
LEVELS = tuple(10.0**-k for k in range(1, 11))
#: the parameter whose gradient gets the planted error, and the ratio to its largest element
FLOOR_PARAM = "layer1.Wh"
FLOOR_RATIO = 50.0


def heavy(tool: str, shape: str) -> bool:
    """Whether ``tool`` evaluates every element at ``shape`` (minutes at the medium shape)."""
    if shape != "medium":
        return False
    return tool == "torch slow" or tool.startswith("gc full")


#: the full-Jacobian checks at the medium shape run by default: the planted bugs caught and the
#: detection floors of torch's slow mode and gradcheck's full mode (the references auto mode is
#: measured against)
DEFAULT_HEAVY = {
    ("detect", "torch slow"),
    ("detect", "gc full central"),
    ("floor", "torch slow"),
    ("floor", "gc full central"),
}


def included(task: Task, *, light: bool) -> bool:
    """Whether ``task`` runs without ``--heavy`` (with ``--light``: no heavy task at all)."""
    if not heavy(task.tool, task.shape):
        return True
    return not light and (task.part, task.tool) in DEFAULT_HEAVY


def mutant_head(name: str) -> str:
    """The head under which mutant ``name`` is visible (both shapes have N, T, H, L > 1)."""
    return "every" if "head=every" in MUTANTS[name].reveals else "last"


# ------------------------------------------------------------------------------------------
# the tools, each on the same numpy model


def _torch_check(case: Case, fast: bool) -> bool:
    import torch

    model, names = case.model, list(case.params)

    class NumpyLoss(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, *tensors: torch.Tensor) -> torch.Tensor:
            params = {n: t.detach().numpy().copy() for n, t in zip(names, tensors, strict=True)}
            value, grads = model(params)
            ctx.grads = [torch.from_numpy(np.ascontiguousarray(grads[n])) for n in names]
            return torch.as_tensor(np.asarray(value))

        @staticmethod
        def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return tuple(grad_output * g for g in ctx.grads)

    inputs = tuple(torch.from_numpy(p.copy()).requires_grad_(True) for p in case.params.values())
    return bool(
        torch.autograd.gradcheck(NumpyLoss.apply, inputs, fast_mode=fast, raise_exception=False)
    )


def _jax_check(case: Case) -> bool:
    import jax
    from jax.test_util import check_grads

    jax.config.update("jax_enable_x64", True)
    model, params = case.model, case.params
    dtype = next(iter(params.values())).dtype
    value_spec = jax.ShapeDtypeStruct((), dtype)
    grads_spec = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in params.items()}

    def value_cb(p: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(model({k: np.asarray(v) for k, v in p.items()})[0], dtype=dtype)

    def full_cb(p: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        value, grads = model({k: np.asarray(v) for k, v in p.items()})
        return np.asarray(value, dtype=dtype), {k: np.asarray(grads[k]) for k in params}

    @jax.custom_vjp
    def f(p: dict[str, Any]) -> Any:
        return jax.pure_callback(value_cb, value_spec, p)

    def f_fwd(p: dict[str, Any]) -> Any:
        return jax.pure_callback(full_cb, (value_spec, grads_spec), p)

    def f_bwd(grads: dict[str, Any], ct: Any) -> tuple[dict[str, Any]]:
        return ({k: ct * g for k, g in grads.items()},)

    f.defvjp(f_fwd, f_bwd)
    try:
        check_grads(f, (params,), order=1, modes=["rev"])
    except AssertionError:
        return False
    return True


#: checks of the last task that failed with no mismatch, every failure an unverified element
UNVERIFIED_ONLY = [0]


def _gradcheck_check(case: Case, mode: str, method: str) -> bool:
    result = gradcheck.check_loss(case.model, case.params, mode=mode, method=method)  # type: ignore[arg-type]
    if common.unverified_only(result):
        UNVERIFIED_ONLY[0] += 1
    return result.passed


def check(tool: str, case: Case) -> bool:
    """Run ``tool`` on ``case``; True when it reports that the gradients are right."""
    with warnings.catch_warnings():
        # torch warns that float32 inputs are not double precision; measure what it does
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            if tool == "torch slow":
                return _torch_check(case, fast=False)
            if tool == "torch fast":
                return _torch_check(case, fast=True)
            if tool == "jax":
                return _jax_check(case)
            _, mode, method = tool.split()
            return _gradcheck_check(case, mode, method)


# ------------------------------------------------------------------------------------------
# tasks: picklable descriptions, run in this process or in workers


@dataclass(frozen=True)
class Task:
    """One check: a tool on a case (shape, dtype, seed, planted bug)."""

    part: str
    tool: str
    shape: str
    dtype: str = "float64"
    seed: int = 0
    mutant: str | None = None
    levels: tuple[float, ...] = ()


@dataclass
class Outcome:
    """What a task found. ``passed`` per level for a floor scan; ``error`` if the tool raised."""

    task: Task
    passed: list[bool]
    error: str | None
    seconds: float
    calls: int
    #: checks that failed on unverified elements only (no mismatch claimed)
    unverified: int = 0


def floor_index(shape: tuple[int, int, int, int, int], seed: int) -> tuple[int, ...]:
    """The element of ``FLOOR_PARAM`` whose float64 gradient is nearest max / FLOOR_RATIO."""
    case = make_case(shape, seed)
    g = np.abs(lr.loss(case.params, case.model.x, case.model.y)[1][FLOOR_PARAM])
    flat = int(np.argmin(np.abs(g - g.max() / FLOOR_RATIO)))
    return tuple(int(i) for i in np.unravel_index(flat, g.shape))


def floor_element(shape: tuple[int, int, int, int, int], seed: int = 0) -> str:
    """Where the floor's error is planted, with its gradient and the tensor's largest."""
    index = floor_index(shape, seed)
    case = make_case(shape, seed)
    g = lr.loss(case.params, case.model.x, case.model.y)[1][FLOOR_PARAM]
    return (
        f"`{FLOOR_PARAM}{list(index)}`, gradient {g[index]:.3g} (largest in the tensor "
        f"{np.max(np.abs(g)):.3g}, median {np.median(np.abs(g)):.3g}; loss "
        f"{float(lr.loss(case.params, case.model.x, case.model.y)[0]):.3g})"
    )


def run_task(task: Task) -> Outcome:
    """Run one task (a floor task scans its levels from the largest, up to the first miss)."""
    shape = SHAPES[task.shape]
    calls0 = common.CALLS[0]
    UNVERIFIED_ONLY[0] = 0
    t0 = time.perf_counter()
    passed: list[bool] = []
    error = None
    try:
        if task.part == "floor":
            # correct code first (a tool that fails there has no floor), then the levels
            index = floor_index(shape, task.seed)
            for n, rel in enumerate((0.0, *task.levels)):
                plant = (FLOOR_PARAM, index, rel) if rel else None
                case = make_case(shape, task.seed, task.dtype, plant=plant)
                passed.append(check(task.tool, case))
                if passed[-1] != (n == 0):
                    break
        else:
            head = "last" if task.mutant is None else mutant_head(task.mutant)
            case = make_case(shape, task.seed, task.dtype, head=head, mutant=task.mutant)
            passed.append(check(task.tool, case))
    except Exception as exc:  # a tool that raises has not given a verdict: report it
        error = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
    return Outcome(
        task,
        passed,
        error,
        time.perf_counter() - t0,
        common.CALLS[0] - calls0,
        UNVERIFIED_ONLY[0],
    )


def _terminate_workers(signum: int, frame: object) -> None:
    for child in multiprocessing.active_children():
        child.terminate()
    raise SystemExit(128 + signum)


def _worker_init() -> None:
    _torch_threads()


def _torch_threads() -> None:
    """Torch on as many threads as numpy's BLAS."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(common.blas_threads() or 1)


def run_tasks(tasks: Sequence[Task], jobs: int, log: Callable[[str], None]) -> list[Outcome]:
    """Run ``tasks``, the longest first, on ``jobs`` processes (one BLAS thread each)."""
    order = sorted(tasks, key=lambda t: (not heavy(t.tool, t.shape), t.shape != "medium"))
    done: list[Outcome] = []
    t0 = time.perf_counter()

    def report(out: Outcome) -> None:
        done.append(out)
        t = out.task
        what = t.mutant or (f"seed {t.seed}" if t.part == "false" else "")
        verdict = out.error or ("pass" if out.passed and out.passed[-1] else "FAIL")
        if t.part == "floor":
            verdict = out.error or f"caught down to {_floor_of(out)}"
        log(
            f"[{len(done)}/{len(tasks)} {time.perf_counter() - t0:6.0f}s] {t.part} {t.shape} "
            f"{t.dtype} {t.tool} {what}: {verdict} ({out.seconds:.1f} s)"
        )

    if jobs <= 1:
        for task in order:
            report(run_task(task))
        return done
    # a terminated run takes its workers with it (they would finish their tasks otherwise)
    signal.signal(signal.SIGTERM, _terminate_workers)
    # spawned workers: fresh interpreters (jax and torch dislike fork), same BLAS settings
    with ProcessPoolExecutor(
        jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init
    ) as pool:
        futures = [pool.submit(run_task, task) for task in order]
        for fut in as_completed(futures):
            report(fut.result())
    return done


def _floor_of(out: Outcome) -> str:
    """The smallest level caught with every larger one caught, from a floor scan."""
    if out.error:
        return "error"
    if not out.passed or not out.passed[0]:
        return "fails without a bug"
    caught = [rel for rel, ok in zip(out.task.levels, out.passed[1:], strict=False) if not ok]
    if not caught:
        return f"none (misses {out.task.levels[0]:.0e})"
    return f"{caught[-1]:.0e}"


# ------------------------------------------------------------------------------------------
# the parts


@dataclass
class WallTime:
    tool: str
    shape: str
    seconds: list[float]
    calls: int
    passed: bool

    @property
    def median(self) -> float:
        return float(np.median(self.seconds))


def part_wall(
    tools: Sequence[str], shapes: Sequence[str], skip_heavy: bool, quick: bool, log: Any
) -> tuple[list[WallTime], dict[str, float]]:
    """Wall time of each tool on correct code (float64, seed 0), and of one loss call."""
    results = []
    one_call = {}
    for shape in shapes:
        case = make_case(SHAPES[shape])
        one_call[shape] = common.median_call_time(
            functools.partial(case.model, case.params), calls=50 if quick else 300
        )
        log(f"wall {shape}: one loss call {fmt_time(one_call[shape])}")
        for tool in tools:
            if skip_heavy and heavy(tool, shape):
                continue
            # imports, jax's compilation and first-call costs outside the timing: a warm-up
            # run on a tiny model, and on this one unless a run takes minutes
            check(tool, make_case((2, 2, 2, 2, 2)))
            if not heavy(tool, shape):
                check(tool, case)
            verdicts: list[bool] = []
            calls0 = common.CALLS[0]

            def run(tool: str = tool, case: Case = case, verdicts: list[bool] = verdicts) -> None:
                verdicts.append(check(tool, case))

            seconds = common.time_call(run, repeat=2 if quick else 5, budget=2.0)
            calls = (common.CALLS[0] - calls0) // len(seconds)
            results.append(WallTime(tool, shape, seconds, calls, all(verdicts)))
            log(
                f"wall {shape} {tool}: {fmt_time(float(np.median(seconds)))} "
                f"({len(seconds)} runs, {calls} calls{'' if all(verdicts) else ', FAILED'})"
            )
    return results, one_call


def detect_tasks(tools: Sequence[str], shapes: Sequence[str], mutants: Sequence[str]) -> list[Task]:
    return [Task("detect", t, s, mutant=m) for s in shapes for m in mutants for t in tools]


def false_tasks(
    tools: Sequence[str], shapes: Sequence[str], dtypes: Sequence[str], seeds: int
) -> list[Task]:
    return [
        Task("false", t, s, dtype=d, seed=seed)
        for s in shapes
        for d in dtypes
        for seed in range(seeds)
        for t in tools
    ]


def floor_tasks(
    tools: Sequence[str], shapes: Sequence[str], dtypes: Sequence[str], levels: Sequence[float]
) -> list[Task]:
    return [
        Task("floor", t, s, dtype=d, levels=tuple(levels))
        for s in shapes
        for d in dtypes
        for t in tools
    ]


# ------------------------------------------------------------------------------------------
# tables


def _tools_in(outs: Iterable[Outcome]) -> list[str]:
    present = {o.task.tool for o in outs}
    return [t for t in TOOLS if t in present]


def _cell(outs: Iterable[Outcome]) -> dict[tuple[str, str, str], list[Outcome]]:
    cells: dict[tuple[str, str, str], list[Outcome]] = {}
    for out in outs:
        t = out.task
        cells.setdefault((t.tool, t.shape, t.dtype), []).append(out)
    return cells


def wall_table(
    results: Sequence[WallTime], one_call: dict[str, float], shapes: Sequence[str]
) -> str:
    by = {(r.tool, r.shape): r for r in results}
    tools = [t for t in TOOLS if any(r.tool == t for r in results)]
    header = ["tool"]
    for s in shapes:
        header += [f"{s}: time", f"{s}: calls"]
    rows: list[list[object]] = []
    for tool in tools:
        row: list[object] = [TOOL_LABELS[tool]]
        for s in shapes:
            r = by.get((tool, s))
            if r is None:
                row += ["not run", ""]
                continue
            note = "" if len(r.seconds) > 1 else " ¹"
            note += "" if r.passed else " (failed!)"
            row += [fmt_time(r.median) + note, r.calls]
        rows.append(row)
    rows.append(
        ["one call of the loss (forward + backward)"]
        + [v for s in shapes for v in (fmt_time(one_call[s]), 1)]
    )
    return markdown_table(header, rows)


def detect_table(outs: Sequence[Outcome], shapes: Sequence[str], mutants: Sequence[str]) -> str:
    by = {(o.task.tool, o.task.shape, o.task.mutant): o for o in outs}
    tools = _tools_in(outs)
    header = ["tool"] + [f"{s}: caught" for s in shapes] + [f"missed ({' / '.join(shapes)})"]
    rows: list[list[object]] = []
    for tool in tools:
        row: list[object] = [TOOL_LABELS[tool]]
        missed_by_shape = []
        for s in shapes:
            cells = [by.get((tool, s, m)) for m in mutants]
            if all(c is None for c in cells):
                row.append("not run")
                missed_by_shape.append("—")
                continue
            got = [c for c in cells if c is not None]
            caught = sum(1 for c in got if c.error is None and not c.passed[-1])
            errors = sum(1 for c in got if c.error is not None)
            row.append(f"{caught}/{len(got)}" + (f" ({errors} errors)" if errors else ""))
            missed = [
                c.task.mutant or ""
                for c in got
                if c.error is not None or (c.passed and c.passed[-1])
            ]
            missed_by_shape.append(", ".join(missed) or "none")
        rows.append(row + [" / ".join(missed_by_shape)])
    return markdown_table(header, rows)


def detect_grid(outs: Sequence[Outcome], shapes: Sequence[str], mutants: Sequence[str]) -> str:
    """Mutant by tool: one mark per shape (x caught, . missed, E error, - not run)."""
    by = {(o.task.tool, o.task.shape, o.task.mutant): o for o in outs}
    tools = _tools_in(outs)
    header = ["mutant (reveals)"] + [t.replace("gc ", "").replace(" ", "<br>") for t in tools]
    rows = []
    for m in mutants:
        row: list[object] = [f"{m} ({MUTANTS[m].reveals})"]
        for tool in tools:
            marks = ""
            for s in shapes:
                o = by.get((tool, s, m))
                if o is None:
                    marks += "-"
                elif o.error is not None:
                    marks += "E"
                else:
                    marks += "." if o.passed[-1] else "x"
            row.append(marks)
        rows.append(row)
    return markdown_table(header, rows)


def _grid(
    outs: Sequence[Outcome],
    shapes: Sequence[str],
    dtypes: Sequence[str],
    cell: Callable[[list[Outcome]], str],
) -> str:
    """A table of tools by (shape, dtype); ``cell`` renders the outcomes of one cell."""
    cells = _cell(outs)
    header = ["tool"] + [f"{s} {d}" for s in shapes for d in dtypes]
    rows: list[list[object]] = []
    for tool in _tools_in(outs):
        row: list[object] = [TOOL_LABELS[tool]]
        for s in shapes:
            for d in dtypes:
                got = cells.get((tool, s, d), [])
                row.append(cell(got) if got else "not run")
        rows.append(row)
    return markdown_table(header, rows)


def _false_cell(got: list[Outcome]) -> str:
    failed = sum(1 for o in got if o.error is None and not o.passed[-1])
    errors = sum(1 for o in got if o.error is not None)
    unverified = sum(o.unverified for o in got if o.error is None and not o.passed[-1])
    return (
        f"{failed}/{len(got)}"
        + (f" ({unverified} unverified, no mismatch)" if unverified else "")
        + (f" ({errors} errors)" if errors else "")
    )


def false_table(outs: Sequence[Outcome], shapes: Sequence[str], dtypes: Sequence[str]) -> str:
    return _grid(outs, shapes, dtypes, _false_cell)


def floor_table(outs: Sequence[Outcome], shapes: Sequence[str], dtypes: Sequence[str]) -> str:
    return _grid(outs, shapes, dtypes, lambda got: _floor_of(got[0]))


NOT_RUN = (
    "`not run`: a full-Jacobian check at the medium shape (minutes per check) that only "
    "`--heavy` runs."
)


def _floor_value(text: str) -> float:
    """A floor cell as a number for comparisons (no floor: infinity)."""
    try:
        return float(text)
    except ValueError:
        return math.inf


def print_errors(outs: Sequence[Outcome]) -> None:
    """List the distinct errors the tools raised (they count as neither caught nor passed)."""
    seen: dict[tuple[str, str], list[Outcome]] = {}
    for o in outs:
        if o.error:
            seen.setdefault((o.task.tool, o.error), []).append(o)
    for (tool, error), got in seen.items():
        where = ", ".join(
            sorted(
                {
                    f"{o.task.shape} {o.task.dtype}"
                    + (f" {o.task.mutant}" if o.task.mutant else "")
                    for o in got
                }
            )
        )
        print(f"- {TOOL_LABELS[tool]} raised ({len(got)}x; {where}): `{error}`")
    if seen:
        print()


def targets(
    wall: Sequence[WallTime],
    detect: Sequence[Outcome],
    false: Sequence[Outcome],
    floor: Sequence[Outcome],
) -> list[str]:
    """The targets for gradcheck's auto mode (central differences, default options), met or not."""
    lines = []
    by_wall = {(r.tool, r.shape): r for r in wall}
    auto, fast = by_wall.get(("gc auto central", "medium")), by_wall.get(("torch fast", "medium"))
    if auto and fast:
        ratio = auto.median / fast.median
        lines.append(
            f"- auto mode on correct code at the medium shape: {fmt_time(auto.median)} against "
            f"torch fast mode's {fmt_time(fast.median)}: {ratio:.2f}x its time (target: within "
            "5x): " + ("met" if ratio <= 5 else "MISSED")
        )
    goals = {("small", "float64"): 1e-7, ("small", "float32"): 1e-3, ("medium", "float64"): 1e-4}
    for (s, d), goal in goals.items():
        got = [
            o
            for o in floor
            if o.task.tool == "gc auto central" and o.task.shape == s and o.task.dtype == d
        ]
        if got:
            value = _floor_value(_floor_of(got[0]))
            lines.append(
                f"- detection floor of auto at the {s} shape in {d}: {_floor_of(got[0])} "
                f"(target {goal:.0e} or lower): " + ("met" if value <= goal else "MISSED")
            )
    caught: dict[tuple[str, str], set[str]] = {}
    for o in detect:
        if o.error is None and not o.passed[-1]:
            caught.setdefault((o.task.tool, o.task.shape), set()).add(o.task.mutant or "")
    for s in SHAPES:
        if not any(o.task.shape == s for o in detect):
            continue
        slow, ours = caught.get(("torch slow", s)), caught.get(("gc auto central", s), set())
        if slow is None:
            continue
        missing = sorted(slow - ours)
        extra = sorted(ours - slow)
        total = len({o.task.mutant for o in detect if o.task.shape == s})
        lines.append(
            f"- {s}: auto catches {len(ours)} of {total} planted bugs, torch slow mode "
            f"{len(slow)}; caught by torch but missed by auto: {', '.join(missing) or 'none'} ("
            + ("met" if not missing else "MISSED")
            + f"); caught only by auto: {', '.join(extra) or 'none'}"
            + ("" if extra or len(slow) < total else " (torch's slow mode leaves none to catch)")
        )
        floors = {
            o.task.tool: _floor_of(o)
            for o in floor
            if o.task.shape == s and o.task.dtype == "float64"
        }
        if "gc auto central" in floors and "torch slow" in floors:
            ours_f, slow_f = (
                _floor_value(floors["gc auto central"]),
                _floor_value(floors["torch slow"]),
            )
            lines.append(
                f"- {s}, smaller planted errors (float64): auto catches down to "
                f"{floors['gc auto central']}, torch slow mode down to {floors['torch slow']}: "
                + ("auto catches more" if ours_f < slow_f else "auto does NOT catch more")
            )
    for tool in (t for t in TOOLS if t.startswith("gc ")):
        got = [o for o in false if o.task.tool == tool]
        if not got:
            continue
        failed = sum(1 for o in got if o.error is None and not o.passed[-1])
        errors = sum(1 for o in got if o.error is not None)
        if failed or errors or tool == "gc auto central":
            lines.append(
                f"- false failures of {TOOL_LABELS[tool]}: {failed} of {len(got)} runs"
                + (f", {errors} errors" if errors else "")
                + (": met" if not failed and not errors else ": MISSED")
            )
    return lines


# ------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--parts",
        default="wall,detect,false,floor,overhead",
        help="comma-separated parts: wall, detect, false, floor, overhead (default: all)",
    )
    parser.add_argument("--tools", help=f"comma-separated tools (default all): {', '.join(TOOLS)}")
    parser.add_argument("--shapes", default="small,medium", help="small, medium or both")
    parser.add_argument("--mutants", help="comma-separated mutant names (default: all 20)")
    parser.add_argument("--seeds", type=int, default=SEEDS, help="seeds of the false-failure runs")
    tier = parser.add_mutually_exclusive_group()
    tier.add_argument(
        "--heavy",
        action="store_true",
        help="also run every full-Jacobian check at the medium shape (false failures, floor, "
        "detection by gradcheck's full richardson and complex): many hours on 2 cores",
    )
    tier.add_argument(
        "--light",
        action="store_true",
        help="run no full-Jacobian check at the medium shape (not even for the wall time)",
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="worker processes of untimed parts"
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: small shape, a sample")
    parser.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    args = parser.parse_args(argv)

    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    tools = args.tools.split(",") if args.tools else list(TOOLS)
    shapes = [s.strip() for s in args.shapes.split(",")]
    mutants = args.mutants.split(",") if args.mutants else list(MUTANTS)
    seeds, levels = args.seeds, LEVELS
    for name, values, known in (
        ("--parts", parts, ("wall", "detect", "false", "floor", "overhead")),
        ("--tools", tools, TOOLS),
        ("--shapes", shapes, tuple(SHAPES)),
        ("--mutants", mutants, tuple(MUTANTS)),
    ):
        bad = [v for v in values if v not in known]
        if bad:
            parser.error(f"{name}: unknown {bad}; choose from {', '.join(known)}")
    if args.quick:
        shapes = ["small"]
        mutants = mutants[:: max(1, len(mutants) // 3)][:3]
        seeds = min(seeds, 2)
        levels = LEVELS[:7:3]

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if any(t.startswith("torch") for t in tools):
        _torch_threads()
    print("## gradcheck against torch and jax\n")
    print(f"Command: `{common.command_line()}`\n")
    print("Machine: " + "; ".join(common.machine()) + "\n")
    print(
        "Model: lstm_ref, L=2 layers, FC head on the last step, softmax loss; shapes (N, T, D, H, "
        "C): "
        + ", ".join(f"{s} {SHAPES[s]} ({common.size(SHAPES[s])} parameters)" for s in shapes)
        + ". Every evaluation runs the numpy forward and backward pass.\n"
    )
    results: dict[str, Any] = {"machine": common.machine(), "command": common.command_line()}
    t_start = time.perf_counter()
    wall: list[WallTime] = []
    detect: list[Outcome] = []
    false: list[Outcome] = []
    floor: list[Outcome] = []

    if "wall" in parts:
        wall, one_call = part_wall(tools, shapes, args.light, args.quick, log)
        print("### Wall time on correct code (float64, seed 0)\n")
        print(wall_table(wall, one_call, shapes))
        print(
            "\nMedian of up to 5 runs; ¹ a single run (one run took more than 2 s). `calls`: "
            "evaluations of the numpy loss per check.\n"
        )
        results["wall"] = [asdict(r) for r in wall]
        results["one_call"] = one_call

    untimed: list[Task] = []
    if "detect" in parts:
        untimed += detect_tasks(tools, shapes, mutants)
    if "false" in parts:
        untimed += false_tasks(tools, shapes, DTYPES, seeds)
    if "floor" in parts:
        untimed += floor_tasks(tools, shapes, DTYPES, levels)
    if not args.heavy:
        untimed = [t for t in untimed if included(t, light=args.light)]
    outs = run_tasks(untimed, args.jobs, log) if untimed else []
    results["tasks"] = [asdict(o) for o in outs]

    if "detect" in parts:
        detect = [o for o in outs if o.task.part == "detect"]
        print(f"### Planted bugs caught ({len(mutants)} mutants of lstm_ref.mutants, float64)\n")
        print(detect_table(detect, shapes, mutants))
        print(
            "\nEvery mutant is visible at both shapes (N, T, H, L > 1) with the last-step head, "
            "except every_head_last_only (reveals `T>1 and head=every`), which runs with "
            "head='every' (labels per step). " + NOT_RUN + "\n"
        )
        print(
            "Per mutant (one mark per shape, " + ", ".join(shapes) + "; x caught, . missed, "
            "E the tool raised, - not run):\n"
        )
        print(detect_grid(detect, shapes, mutants) + "\n")
        print_errors(detect)
    if "false" in parts:
        false = [o for o in outs if o.task.part == "false"]
        print(f"### False failures on correct code ({seeds} seeds)\n")
        print(false_table(false, shapes, DTYPES))
        print(
            f"\nFailed runs out of runs (seeds 0..{seeds - 1} of the parameters and data). "
            + NOT_RUN
            + "\n"
        )
        print_errors(false)
    if "floor" in parts:
        floor = [o for o in outs if o.task.part == "floor"]
        print("### Detection floor: smallest single-element relative error caught\n")
        print(floor_table(floor, shapes, DTYPES))
        print(
            f"\nOne element of `{FLOOR_PARAM}`'s gradient, the one whose float64 gradient is "
            f"nearest 1/{FLOOR_RATIO:g} of the tensor's largest, multiplied by 1 + e for e = "
            f"{', '.join(f'{v:.0e}' for v in levels)} (seed 0), scanned from the largest e down "
            "to the first one the tool misses. In float32 e < 6e-8 does not change the "
            "gradient. `fails without a bug`: the tool already fails on the correct gradient "
            "(seed 0), so it has no floor. " + NOT_RUN + " The element:\n"
        )
        for s in shapes:
            print(f"- {s}: {floor_element(SHAPES[s])}")
        print()
        print_errors(floor)
    if "overhead" in parts:
        import overhead

        print("### gradcheck's full mode against its floor of 2 calls per element\n")
        print(overhead.report(quick=args.quick, log=log))
        print()
    if wall or detect or false:
        lines = targets(wall, detect, false, floor)
        if lines:
            print("### Targets\n")
            print("\n".join(lines) + "\n")
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(
        f"Total time of this run: {fmt_time(time.perf_counter() - t_start)}; load average at "
        f"the end {load}."
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
