"""What gradcheck's full mode costs against its floor: 2 function calls per element.

Run from the repository root::

    python bench/overhead.py            # 5 interleaved rounds; about 2 minutes on 2 cores
    python bench/overhead.py --quick    # 1 round on the small shape

The function is lstm_ref's whole-model loss (2 layers, FC head, softmax loss) as a function of
all its parameters, at a shape where one call takes about half a millisecond. In one run it
measures, in interleaved rounds: one call's time (median over many bare calls of the same
``loss_fn`` on the same parameters), then ``check_loss(loss_fn, params, mode="full")`` in this
process, with ``executor=ProcessPoolExecutor(2)`` and with a local dask cluster
(``LocalCluster(n_workers=2, threads_per_worker=1)``, ``client.get_executor()``), and reports
the medians over the rounds of

* ``ratio = check time / (calls x one call's time)`` (1 process), and for the executors
  ``check time / (calls x one call's time / workers)``: 1.0 is the floor, 1.05 is 5% overhead;
* the same against a bare loop of as many calls back to back (the mean call, where the median
  leaves the slow calls out);
* the check's time outside the loss function (the engine's own work, 1 process);
* the speedup of each executor over the 1-process check, and what the machine allowed: bare
  calls split over the executor's workers against one process (2.00x when each worker gets a
  core; less when other processes, or other login sessions under the kernel's autogroup
  scheduling, take the cores).

The executors' workers are started (and warmed up) before the first round. BLAS runs on one
thread per process unless ``OPENBLAS_NUM_THREADS`` is set.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import multiprocessing  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from concurrent.futures import Executor, ProcessPoolExecutor  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as common  # noqa: E402
from _common import fmt_time, make_case, markdown_table  # noqa: E402

import gradcheck  # noqa: E402

#: (N, T, D, H, C): one call of the loss takes about 0.4 ms on the reference machine
SHAPE = (4, 8, 8, 16, 5)
WORKERS = 2


@contextlib.contextmanager
def dask_executor(log: Callable[[str], None]) -> Iterator[Executor | None]:
    """``client.get_executor()`` of a local dask cluster, or None when dask is missing."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        log("dask.distributed is not installed: skipping the dask cluster")
        yield None
        return
    import cloudpickle

    # the workers are fresh interpreters: ship the model's class by value, not by module name
    cloudpickle.register_pickle_by_value(common)
    with (
        LocalCluster(
            n_workers=WORKERS,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client.get_executor()


class TimedModel(common.Model):
    """The model, accumulating the wall time spent inside it (the engine's own time is the
    rest of a check's time)."""

    def __init__(self, model: common.Model) -> None:
        super().__init__(model.x, model.y, head=model.head)
        self.inside = 0.0

    def __call__(self, params: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return super().__call__(params)
        finally:
            self.inside += time.perf_counter() - t0


def measure(shape: tuple[int, int, int, int, int], rounds: int, bare_calls: int, log: Any) -> str:
    """Run the interleaved rounds and return the markdown table."""
    case = make_case(shape)
    model, params = case.model, case.params
    timed = TimedModel(model)
    n = common.size(shape)
    log(f"overhead: shape {shape}, {n} elements, {rounds} rounds")

    def full(executor: Executor | None = None) -> dict[str, float]:
        kw: dict[str, Any] = {} if executor is None else {"executor": executor}
        fn = timed if executor is None else model
        timed.inside = 0.0
        w0 = time.perf_counter()
        r = gradcheck.check_loss(fn, params, mode="full", method="central", **kw)
        wall = time.perf_counter() - w0
        if not r.passed:
            raise RuntimeError(f"the full check failed on correct code:\n{r}")
        return {"wall": wall, "calls": r.calls, "own": wall - timed.inside}

    def capacity(executor: Executor | None, t_call: float) -> float:
        """Bare calls split over the workers: their speedup over one process (ideal: workers).

        Below the number of workers, the machine did not give each worker a core (another
        process, or another session's processes, took them).
        """
        if executor is None:
            return 1.0
        n = 400
        t0 = time.perf_counter()
        futures = [executor.submit(common.bare_calls, model, params, n) for _ in range(WORKERS)]
        for fut in futures:
            fut.result()
        return WORKERS * n * t_call / (time.perf_counter() - t0)

    runs: dict[str, list[dict[str, float]]] = {}
    spawn = multiprocessing.get_context("spawn")  # fork is unsafe once jax or torch is loaded
    with (
        ProcessPoolExecutor(WORKERS, mp_context=spawn) as pool,
        dask_executor(log) as dask,
    ):
        executors: dict[str, Executor | None] = {"1 process": None}
        executors[f"ProcessPoolExecutor({WORKERS})"] = pool
        if dask is not None:
            executors[f"dask LocalCluster({WORKERS} workers x 1 thread)"] = dask
        for name, ex in executors.items():  # start the workers, fill caches
            calls = int(full(ex)["calls"])
            capacity(ex, 1.0)
            log(f"overhead: warmed up {name}")
        for k in range(rounds):
            t_wall = common.median_call_time(lambda: timed(params), calls=bare_calls)
            t_loop = common.bare_calls(timed, params, calls)
            for name, ex in executors.items():
                cap = capacity(ex, t_wall)
                run = full(ex)
                workers = 1 if ex is None else WORKERS
                run.update(t_wall=t_wall, workers=workers, capacity=cap)
                run["ratio"] = run["wall"] / (run["calls"] * t_wall / workers)
                run["ratio_loop"] = run["wall"] / (t_loop / workers)
                runs.setdefault(name, []).append(run)
                log(
                    f"overhead round {k + 1}: {name}: {fmt_time(run['wall'])}, "
                    f"{run['calls']:.0f} calls of {fmt_time(t_wall)}: ratio {run['ratio']:.3f}, "
                    f"to a bare loop {run['ratio_loop']:.3f}"
                    + ("" if ex is None else f", bare-call speedup {cap:.2f}")
                )

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    base = med("1 process", "wall")
    table = []
    for name, rs in runs.items():
        one = name == "1 process"
        calls = int(rs[0]["calls"])
        table.append(
            [
                name,
                fmt_time(med(name, "t_wall")),
                f"{calls} = 2 x {n} + {calls - 2 * n}",
                fmt_time(med(name, "wall")),
                f"{med(name, 'ratio'):.3f}",
                f"{med(name, 'ratio_loop'):.3f}",
                f"{fmt_time(med(name, 'own'))} ({med(name, 'own') / med(name, 'wall'):.1%})"
                if one
                else "",
                f"{base / med(name, 'wall'):.2f}x",
                f"{med(name, 'capacity'):.2f}x",
            ]
        )
    header = [
        "full mode, central",
        "one call",
        "calls",
        "check time",
        "check / (calls x call / workers)",
        "check / (bare loop / workers)",
        "outside the loss",
        "speedup",
        "bare calls' speedup",
    ]
    notes = (
        f"\n\nlstm_ref model at (N, T, D, H, C) = {shape}, L=2 ({n} parameters), float64; "
        f"medians over {rounds} interleaved rounds (each: {bare_calls} bare calls of the loss, "
        "a bare loop, then one check per configuration). `one call`: median wall time of a bare "
        "call. A ratio "
        "of 1.05 is 5% above the floor of the bare calls; `bare loop`: the same number of calls "
        "back to back, without the checker (its mean call, where the median leaves out the "
        "slow calls); `outside the loss`: the check's wall time minus the time spent inside the "
        "loss function (the engine's own work); `speedup` is against the 1-process check; `bare "
        "calls' "
        f"speedup`: {WORKERS} x 400 bare calls split over the workers against one process, what "
        f"the machine allowed (ideal {WORKERS}.00x; less when other work takes the cores)."
    )
    return markdown_table(header, table) + notes


def report(*, quick: bool = False, log: Any = None) -> str:
    """The overhead table (``quick``: 1 round at compare.py's small shape)."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if quick:
        return measure(common.SHAPES["small"], rounds=1, bare_calls=200, log=log)
    return measure(SHAPE, rounds=5, bare_calls=2000, log=log)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round at the small shape")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--shape",
        default=",".join(map(str, SHAPE)),
        help="N,T,D,H,C (default %(default)s)",
    )
    args = parser.parse_args()
    print("## gradcheck full mode against its floor\n")
    print(f"Command: `{common.command_line()}`\n")
    print("Machine: " + "; ".join(common.machine()) + "\n")
    if args.quick:
        print(report(quick=True))
    else:
        N, T, D, H, C = (int(v) for v in args.shape.split(","))

        def log(msg: str) -> None:
            print(msg, file=sys.stderr, flush=True)

        print(measure((N, T, D, H, C), rounds=args.rounds, bare_calls=2000, log=log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
