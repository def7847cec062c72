"""Shared helpers of the benchmark scripts: the model under test, shapes, timing, the machine.

Every tool checks the same function: the whole-model loss of :mod:`lstm_ref` (two LSTM layers,
a fully connected head on the last step, softmax loss) as a function of all its parameters
(``layer{k}.Wx/Wh/b/h0/c0``, ``fc.W``, ``fc.b``), with ``x`` and ``y`` fixed. :class:`Model` is
that function, cs231n style (``params -> (loss, grads)``), optionally with a planted bug: one
of :data:`lstm_ref.mutants.MUTANTS`, or a relative error on one element of one gradient.
"""

from __future__ import annotations

import ctypes
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

import gradcheck
import lstm_ref as lr
from lstm_ref.mutants import MUTANTS

Array = NDArray[Any]

#: (N, T, D, H, C) of the shapes compared; every model has L = 2 layers.
SHAPES: dict[str, tuple[int, int, int, int, int]] = {
    "small": (2, 3, 3, 4, 3),
    "medium": (8, 16, 16, 32, 10),
}
LAYERS = 2

#: Evaluations of the numpy loss in this process (forward and backward each time).
CALLS = [0]


class Model:
    """The loss ``params -> (loss, grads)`` of lstm_ref's model on fixed ``x`` and ``y``.

    ``mutant`` names a planted bug of :mod:`lstm_ref.mutants`; ``plant`` is ``(name, index,
    rel)``: the gradient of parameter ``name`` at ``index`` is multiplied by ``1 + rel``.
    Complex parameters (complex-step differentiation) get ``x`` cast to their dtype, since
    lstm_ref refuses mixed dtypes. Picklable, so it can be shipped to worker processes.
    """

    def __init__(
        self,
        x: Array,
        y: Array,
        *,
        head: str = "last",
        mutant: str | None = None,
        plant: tuple[str, tuple[int, ...], float] | None = None,
    ) -> None:
        self.x = x
        self.y = y
        self.head = head
        self.mutant = mutant
        self.plant = plant
        self._x_as: dict[np.dtype[Any], Array] = {x.dtype: x}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_x_as"] = {self.x.dtype: self.x}
        return state

    def __call__(self, params: Mapping[str, Array]) -> tuple[Any, dict[str, Array]]:
        CALLS[0] += 1
        dtype = next(iter(params.values())).dtype
        x = self._x_as.get(dtype)
        if x is None:
            x = self._x_as[dtype] = self.x.astype(dtype)
        loss = lr.loss if self.mutant is None else MUTANTS[self.mutant].loss
        value, grads = loss(params, x, self.y, head=self.head)
        if self.plant is not None:
            name, index, rel = self.plant
            g = grads[name].copy()
            g[index] = g[index] * (1 + rel)
            grads[name] = g
        return value, grads


@dataclass
class Case:
    """Parameters and the model to check at one shape, seed and dtype."""

    params: dict[str, Array]
    model: Model
    shape: tuple[int, int, int, int, int]


def make_case(
    shape: tuple[int, int, int, int, int],
    seed: int = 0,
    dtype: str = "float64",
    *,
    head: str = "last",
    mutant: str | None = None,
    plant: tuple[str, tuple[int, ...], float] | None = None,
) -> Case:
    """Random parameters (``lstm_ref.init_params``), inputs and labels from ``seed``."""
    N, T, D, H, C = shape
    rng = np.random.default_rng(seed)
    params = lr.init_params(rng, N=N, D=D, H=H, C=C, L=LAYERS, dtype=np.dtype(dtype))
    x = rng.standard_normal((N, T, D)).astype(dtype)
    y = rng.integers(0, C, size=(N,) if head == "last" else (N, T))
    return Case(params, Model(x, y, head=head, mutant=mutant, plant=plant), shape)


def size(shape: tuple[int, int, int, int, int]) -> int:
    """Number of parameter elements of the model at ``shape``."""
    N, T, D, H, C = shape
    per_layer = [(d + H + 1) * 4 * H + 2 * N * H for d in [D] + [H] * (LAYERS - 1)]
    return sum(per_layer) + H * C + C


# ------------------------------------------------------------------------------------------
# timing


def time_call(fn: Callable[[], object], *, repeat: int = 5, budget: float = 10.0) -> list[float]:
    """Wall times of ``fn()``: ``repeat`` runs, fewer when one run exceeds ``budget / repeat``."""
    times: list[float] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if sum(times) > budget:
            break
    return times


def median_call_time(fn: Callable[[], object], *, calls: int = 200, warmup: int = 10) -> float:
    """Median wall time of one ``fn()`` over ``calls`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bare_calls(model: Model, params: Mapping[str, Array], n: int) -> float:
    """Wall time of ``n`` calls of ``model(params)`` (run in executor workers by overhead.py)."""
    t0 = time.perf_counter()
    for _ in range(n):
        model(params)
    return time.perf_counter() - t0


def fmt_time(seconds: float) -> str:
    """``1.23 ms``, ``45.6 ms``, ``7.89 s``."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    if seconds < 600:
        return f"{seconds:.3g} s"
    return f"{seconds / 60:.0f} min"


# ------------------------------------------------------------------------------------------
# the machine


def blas_threads() -> int | None:
    """Threads of the OpenBLAS numpy uses, read from the loaded library (None if unknown)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in (
            "scipy_openblas_get_num_threads64_",
            "openblas_get_num_threads64_",
            "openblas_get_num_threads",
        ):
            if hasattr(lib, symbol):
                return int(getattr(lib, symbol)())
    return None


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, ``platform.processor()`` otherwise)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str | None:
    try:
        mod = __import__(module)
    except ImportError:
        return None
    return str(getattr(mod, "__version__", "?"))


def source_version() -> str | None:
    """The repository's commit, marked ``+changes`` when gradcheck/ or lstm_ref/ differ from it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(
            ["git", "-C", root, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--", "gradcheck", "lstm_ref"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + (" +changes" if dirty else "")


def machine(extra: Sequence[str] = ()) -> list[str]:
    """Lines describing the machine and the versions of everything measured."""
    config: Any = np.show_config(mode="dicts")
    blas = config["Build Dependencies"]["blas"]
    lines = [
        f"CPU: {cpu_model()}, {os.cpu_count()} logical cores ({platform.system()} "
        f"{platform.release()})",
        f"Python {platform.python_version()}, numpy {np.__version__} "
        f"({blas.get('name', '?')} {blas.get('version', '')}, "
        f"{blas_threads() or '?'} BLAS threads)",
    ]
    versions = [f"{m} {v}" for m in ("torch", "jax", "dask") if (v := _version(m)) is not None]
    import gradcheck

    source = source_version()
    versions.insert(0, f"gradcheck {gradcheck.__version__}" + (f" ({source})" if source else ""))
    lines.append(", ".join(versions))
    if hasattr(os, "getloadavg"):
        lines.append("load average " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    lines.extend(extra)
    return lines


def command_line() -> str:
    """The command that is running, as typed (relative to the repository root)."""
    return " ".join(["python", *sys.argv])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table; the first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    out = []
    for n, row in enumerate(cells):
        padded = [c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)]
        out.append("| " + " | ".join(padded) + " |")
        if n == 0:
            out.append(
                "| "
                + " | ".join(
                    ("-" * widths[i]) if i == 0 else ("-" * (widths[i] - 1) + ":")
                    for i in range(len(header))
                )
                + " |"
            )
    return "\n".join(out)


def claims_failure(result: gradcheck.CheckResult) -> bool:
    """True when a check claims something wrong: a mismatch (of an element or a block direction),
    a kink counted as a failure, or a violated contract of a front end."""
    return any(
        r.mismatches
        or (r.kink_policy == "fail" and r.kinks)
        or any(d.status == gradcheck.Status.MISMATCH for d in r.directions)
        for r in result.inputs.values()
    ) or any(f.kind == "contract" for f in result.findings)


def unverified_only(result: gradcheck.CheckResult) -> bool:
    """True when a check failed without claiming anything wrong: every failure is an element or
    a direction that finite differences could not resolve (neither a catch nor a false alarm)."""
    return not result.passed and not claims_failure(result)
