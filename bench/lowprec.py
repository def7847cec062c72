"""Checks in float16 and bfloat16 against float32 and float64, on the same layer, in one run.

Run from the repository root (bfloat16 comes from ``ml_dtypes``, in the test extra)::

    python bench/lowprec.py

The layer is a two-layer perceptron written as users write it in numpy, in the dtype of its
inputs: ``y = tanh(x @ w1) @ w2`` with ``x`` (16, 24), ``w1`` (24, 32), ``w2`` (32, 8), its
backward pass computed in the same dtype. For each dtype: over 10 seeds of correct code, the
checks that pass, those that claim a mismatch (a false alarm) and those that leave elements
unverified (no claim either way); and the detection floor: the smallest relative error planted in
the element of ``w1``'s gradient nearest 1/50 of its largest that the check catches (1e-1, 1e-2,
... down to the first miss, seed 0), with the detection bound the check states for ``w1``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import ml_dtypes
import numpy as np
from _common import claims_failure, unverified_only

import gradcheck

DTYPES = {
    "float64": np.dtype(np.float64),
    "float32": np.dtype(np.float32),
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
}
LEVELS = tuple(10.0**-k for k in range(1, 9))


def inputs(dtype: np.dtype[Any], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((16, 24)).astype(dtype),
        "w1": (rng.standard_normal((24, 32)) / 5).astype(dtype),
        "w2": (rng.standard_normal((32, 8)) / 6).astype(dtype),
    }


def forward(x: Any, w1: Any, w2: Any) -> tuple[Any, Any]:
    h = np.tanh(x @ w1)
    return h @ w2, (x, w1, w2, h)


def backward(dout: Any, cache: Any, plant: tuple[tuple[int, int], float] | None = None) -> Any:
    x, w1, w2, h = cache
    dh = dout @ w2.T
    da = dh * (1 - h * h)
    dw1 = x.T @ da
    if plant is not None:
        dw1 = dw1.astype(np.float64)
        dw1[plant[0]] *= 1 + plant[1]
        dw1 = dw1.astype(x.dtype)
    return (da @ w1.T).astype(x.dtype), dw1.astype(x.dtype), (h.T @ dout).astype(x.dtype)


def element(dtype: np.dtype[Any]) -> tuple[int, int]:
    """The element of w1 whose float64 gradient is nearest 1/50 of its largest."""
    result = gradcheck.check_layer(forward, backward, inputs(np.dtype(np.float64), 0))
    g = np.abs(result.inputs["w1"].analytic)
    j = int(np.argmin(np.abs(g - g.max() / 50)))
    return tuple(int(i) for i in np.unravel_index(j, g.shape))  # type: ignore[return-value]


def main() -> int:
    t0 = time.perf_counter()
    index = element(np.dtype(np.float64))
    rows = []
    for name, dtype in DTYPES.items():
        passed = mismatch = unverified = 0
        for seed in range(10):
            r = gradcheck.check_layer(forward, backward, inputs(dtype, seed), seed=seed)
            passed += r.passed
            mismatch += claims_failure(r)
            unverified += unverified_only(r)
        correct = gradcheck.check_layer(forward, backward, inputs(dtype, 0))
        bound = correct.inputs["w1"].detection_bound
        floor = None
        for rel in LEVELS:
            r = gradcheck.check_layer(
                forward, lambda d, c, rel=rel: backward(d, c, (index, rel)), inputs(dtype, 0)
            )
            if not r.inputs["w1"].mismatches:
                break
            floor = rel
        rows.append(
            [
                name,
                f"{passed}/10",
                f"{mismatch}/10",
                f"{unverified}/10",
                f"{floor:.0e}" if floor is not None else "none (misses 1e-01)",
                f"{bound:.2g}",
                str(correct.calls),
            ]
        )
        print(f"  {name}: {rows[-1]}", file=sys.stderr)
    header = [
        "dtype",
        "correct code: passed",
        "false mismatch",
        "unverified only",
        "floor (w1 element at 1/50 of its largest)",
        "w1's detection bound",
        "calls",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nelement {list(index)} of w1; {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
