"""What limits the detection floor at the benchmark's floor element, per dtype.

Run from the repository root::

    python bench/floor_element.py             # the small shape, float64 and float32 (seconds)

The floor of ``bench/compare.py`` plants a relative error at one element of ``layer1.Wh`` whose
gradient is 1/50 of its tensor's largest. This script takes that element (no error planted) and
prints, per dtype:

- gradcheck's full check there (central differences and Richardson extrapolation): the measured
  noise of one evaluation, the error of its numerical derivative against the float64 gradient at
  the same point, its error estimate, its threshold and its detection bound;
- a sweep of steps ``h = |x| * 2**-k`` in hindsight: the error of a central difference and of a
  Richardson pair at each, against the same float64 gradient, and the best of them;
- what a floor of ``r`` asks: a planted error ``r * |g|`` must exceed the threshold, and a
  threshold without false alarms holds several times the error it estimates; the line
  ``needed`` gives ``r * |g|`` for ``r = 1e-3``.

It measures; it decides nothing. ``docs/benchmarks.md`` quotes its output.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import SHAPES, make_case  # noqa: E402
from compare import FLOOR_PARAM, floor_index  # noqa: E402

import gradcheck  # noqa: E402
import lstm_ref as lr  # noqa: E402


def _loss_along(case: object, index: tuple[int, ...], dtype: str):  # type: ignore[no-untyped-def]
    params = {k: v.copy() for k, v in case.params.items()}  # type: ignore[attr-defined]
    x_in = case.model.x.astype(dtype)  # type: ignore[attr-defined]
    y = case.model.y  # type: ignore[attr-defined]

    def at(value: float) -> float:
        p = dict(params)
        w = p[FLOOR_PARAM].copy()
        w[index] = value
        p[FLOOR_PARAM] = w
        return float(lr.loss(p, x_in, y)[0])

    return at


def report(shape_name: str, dtype: str) -> list[str]:
    shape = SHAPES[shape_name]
    index = floor_index(shape, 0)
    case = make_case(shape, 0, dtype)
    # the reference: the float64 gradient at the same (rounded) point
    p64 = {k: v.astype(np.float64) for k, v in case.params.items()}
    g_true = float(
        lr.loss(p64, case.model.x.astype(np.float64), case.model.y)[1][FLOOR_PARAM][index]
    )
    x0 = float(case.params[FLOOR_PARAM][index])
    out = [f"{shape_name} {dtype}: {FLOOR_PARAM}{list(index)} = {x0:.6g}, gradient {g_true:.4g}"]
    flat = int(np.ravel_multi_index(index, case.params[FLOOR_PARAM].shape))
    for method in ("central", "richardson"):
        r = gradcheck.check_loss(case.model, case.params, mode="full", method=method)
        res = r.inputs[FLOOR_PARAM]

        def at(field: str, res: object = res) -> float:
            return float(np.asarray(getattr(res, field)).reshape(-1)[flat])

        num = at("numeric")
        out.append(
            f"  gradcheck full {method}: noise {r.noise:.2g}; numeric error "
            f"{abs(num - g_true):.2g} ({abs(num - g_true) / abs(g_true):.1e} relative), estimate "
            f"{at('error_estimate'):.2g}, threshold {at('threshold'):.2g} "
            f"({at('threshold') / abs(g_true):.1e} relative), bound {at('bounds'):.1e}"
        )
    f = _loss_along(case, index, dtype)
    rows = []
    for k in range(1, 24):
        h = abs(x0) * 2.0**-k
        xp, xm = np.array([x0 + h, x0 - h], dtype=dtype).astype(np.float64)
        c1 = (f(xp) - f(xm)) / (xp - xm)
        xp2, xm2 = np.array([x0 + 2 * h, x0 - 2 * h], dtype=dtype).astype(np.float64)
        c2 = (f(xp2) - f(xm2)) / (xp2 - xm2)
        rich = (4 * c1 - c2) / 3
        rows.append((k, h, abs(c1 - g_true) / abs(g_true), abs(rich - g_true) / abs(g_true)))
    best_c = min(rows, key=lambda r: r[2])
    best_r = min(rows, key=lambda r: r[3])
    out.append(
        "  steps in hindsight (h = |x| 2**-k): "
        + ", ".join(f"k={k} {c:.1e}/{r:.1e}" for k, _, c, r in rows[::3])
        + " (central/Richardson relative error)"
    )
    out.append(
        f"  best central: {best_c[2]:.1e} relative at h = {best_c[1]:.2g}; best Richardson: "
        f"{best_r[3]:.1e} at h = {best_r[1]:.2g}"
    )
    out.append(f"  needed for a floor of 1e-3: threshold below {1e-3 * abs(g_true):.2g}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", default="small", choices=sorted(SHAPES))
    args = parser.parse_args(argv)
    for dtype in ("float64", "float32"):
        for line in report(args.shape, dtype):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
