"""The detection floor of gradcheck's auto mode against the calls it spends, in one run.

Run from the repository root::

    python bench/floor_curve.py                 # float64 and float32, three shapes (~10 min)
    python bench/floor_curve.py --quick         # a smoke test

The function is the one of ``bench/compare.py``: ``lstm_ref``'s 2-layer LSTM with a fully
connected head and softmax loss, as a function of all its parameters. The floor is the smallest
planted relative error, in the element of ``layer1.Wh`` whose float64 gradient is nearest 1/50
of the tensor's largest, that the check catches (1e-1, 1e-2, ... scanned down to the first
miss), with every larger one caught and the correct gradient passing; where the correct gradient
does not pass because some blocks stay unverified (no mismatch claimed), the floor counts the
planted errors for which a mismatch is claimed, and is marked ². The calls are those of
the check at the floor (the most any caught level took) and on the correct gradient.

At the small shape (319 parameters) a full check fits the default budget of 4000 calls: the
curve varies ``screen`` (the calls spent, after the full check, on the elements with the highest
detection bounds). At the larger shapes (8,406 and 15,946 parameters) it does not: the curve
varies ``screen`` (the calls spent screening blocks of every input; a failure is then localized
within ``budget``). Beside it, in the same run, the points of ``torch.autograd.gradcheck`` (slow
mode at the small shape only: a full Jacobian at the larger ones takes minutes per check; fast
mode) and ``jax.test_util.check_grads``, called as ``bench/compare.py`` calls them (torch and jax
from ``bench/requirements.txt``).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402

import _common as common  # noqa: E402
import numpy as np  # noqa: E402
from _common import make_case, markdown_table  # noqa: E402

import gradcheck  # noqa: E402
import lstm_ref as lr  # noqa: E402

#: (N, T, D, H, C) of the shapes, with their parameter counts
SHAPES = {
    "small": (2, 3, 3, 4, 3),
    "8k": (4, 8, 8, 24, 6),
    "medium": (8, 16, 16, 32, 10),
}
LEVELS = tuple(10.0**-k for k in range(1, 11))
PARAM = "layer1.Wh"
RATIO = 50.0
#: the spending scanned per shape: (option, values)
SPEND = {
    "small": ("screen", (16, 128, 512, 1000, 2000, 4000)),
    "8k": ("screen", (32, 128, 512, 1000, 2000, 4000)),
    "medium": ("screen", (32, 128, 512, 1000, 2000, 4000)),
}


def floor_index(shape: tuple[int, int, int, int, int]) -> tuple[int, ...]:
    case = make_case(shape, 0)
    g = np.abs(lr.loss(case.params, case.model.x, case.model.y)[1][PARAM])
    flat = int(np.argmin(np.abs(g - g.max() / RATIO)))
    return tuple(int(i) for i in np.unravel_index(flat, g.shape))


def scan(shape_name: str, dtype: str, option: str, value: int) -> dict[str, object]:
    """The floor and the calls of auto at one spending."""
    shape = SHAPES[shape_name]
    index = floor_index(shape)
    opts: dict[str, object] = {option: value}
    if option == "screen":
        opts["budget"] = max(4000, 2 * value)
    correct = make_case(shape, 0, dtype)
    result = gradcheck.check_loss(correct.model, correct.params, **opts)  # type: ignore[arg-type]
    out: dict[str, object] = {
        "passes": result.passed,
        "false mismatch": common.claims_failure(result),
        "calls correct": result.calls,
    }
    floor, calls = None, 0
    # a check left unverified on the correct gradient claims nothing: its floor is the smallest
    # planted error for which it claims a mismatch
    caught = (lambda r: not r.passed) if result.passed else common.claims_failure
    if not out["false mismatch"]:
        for rel in LEVELS:
            case = make_case(shape, 0, dtype, plant=(PARAM, index, rel))
            r = gradcheck.check_loss(case.model, case.params, **opts)  # type: ignore[arg-type]
            if not caught(r):
                break
            floor, calls = rel, max(calls, r.calls)
    out["floor"] = floor
    out["calls at floor"] = calls
    return out


def reference_point(tool: str, shape_name: str, dtype: str) -> tuple[str, int]:
    """The floor of a reference checker and the calls it makes, as ``bench/compare.py`` runs it."""
    import compare

    shape = SHAPES[shape_name]
    index = floor_index(shape)
    start = common.CALLS[0]
    if not compare.check(tool, make_case(shape, 0, dtype)):
        return "fails without a bug", common.CALLS[0] - start
    calls = common.CALLS[0] - start
    floor = None
    for rel in LEVELS:
        if compare.check(tool, make_case(shape, 0, dtype, plant=(PARAM, index, rel))):
            break
        floor = rel
    return (f"{floor:.0e}" if floor is not None else "none (misses 1e-01)"), calls


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small shape, float64, two points")
    parser.add_argument("--shapes", default="small,8k,medium")
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument(
        "--no-reference", action="store_true", help="leave out torch's and jax's points"
    )
    args = parser.parse_args(argv)
    shapes = ["small"] if args.quick else args.shapes.split(",")
    dtypes = ["float64"] if args.quick else args.dtypes.split(",")
    t0 = time.perf_counter()
    for shape_name in shapes:
        option, values = SPEND[shape_name]
        if args.quick:
            values = values[:2]
        n = common.size(SHAPES[shape_name])
        rows = []
        for value in values:
            row: list[str] = [f"{option}={value}"]
            for dtype in dtypes:
                got = scan(shape_name, dtype, option, value)
                floor = got["floor"]
                cell = f"{floor:.0e}" if floor is not None else "none (misses 1e-01)"
                if got["false mismatch"]:
                    cell = "fails without a bug"
                elif not got["passes"]:
                    cell += " ²"
                row += [cell, f"{got['calls at floor']} / {got['calls correct']}"]
                print(f"  {shape_name} {dtype} {option}={value}: {cell} {got}", file=sys.stderr)
            rows.append(row)
        if not args.quick and not args.no_reference:
            tools = ["torch slow"] if shape_name == "small" else []
            for tool in [*tools, "torch fast", "jax"]:
                row = [tool]
                for dtype in dtypes:
                    floor, calls = reference_point(tool, shape_name, dtype)
                    row += [floor, f"{calls}"]
                    print(f"  {shape_name} {dtype} {tool}: {floor} {calls}", file=sys.stderr)
                rows.append(row)
        header = ["gradcheck auto / tool"] + [
            h for d in dtypes for h in (f"{d}: floor", f"{d}: calls (at floor / correct)")
        ]
        print(f"\n### {shape_name}: {SHAPES[shape_name]} (N, T, D, H, C), {n:,} parameters\n")
        print(markdown_table(header, rows))
        if any("²" in c for r in rows for c in r):
            print(
                "\n² the correct gradient does not pass: some blocks stay unverified (no mismatch"
                " claimed); the floor is the smallest planted error for which a mismatch is claimed"
            )
    print(f"\nTotal time of this run: {time.perf_counter() - t0:.0f} s.")
    print("\n".join(common.machine()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
