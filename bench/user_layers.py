"""gradcheck on layers written the way users write them: false alarms, bugs, and honest bounds.

Run from the repository root::

    python bench/user_layers.py               # every layer, 5 seeds (about 10 minutes)
    python bench/user_layers.py --quick       # 2 seeds, ordinary layers only
    python bench/user_layers.py --layers layernorm gru5 --seeds 20
    python bench/user_layers.py --layers linear0_layernorm --methods richardson --seeds 20

The layers (``bench/_user_layers.py``) are hand-written numpy in course style, written against
gradcheck's public API only and verified with long-double central differences: layer norm,
an embedding with repeated ids, masked attention (``-1e9`` and ``-inf`` fills, a fully padded
row), a 1-D convolution, a GRU and a vanilla RNN unrolled step by step, softmax cross-entropy
with label smoothing, dropout with a fixed mask, max pooling (kinks), GELU, a zero-initialised
dense layer before a layer norm, and harder regimes and larger shapes of these (an offset of 50,
all-zero padding rows, a confident classifier, saturated gates, a vocabulary of 500). Each has
one realistic bug (a term left out, a fancy assignment instead of ``np.add.at``, a mask
forgotten, an off-by-one, a transposed square weight, one element off by 1%).

For each layer, dtype (float64, float32) and method (central; complex step in float64 where
the layer allows it), over ``--seeds`` seeds with data drawn as users draw it (weights scaled by
``1/sqrt(fan_in)``, zero biases, the library's cotangents on even seeds and the user's own on
odd ones), it counts:

- ``false``: checks of the correct code that claim a mismatch (the worst outcome);
- ``unver``: checks of the correct code that fail with unverified elements only;
- ``bug``: checks of the buggy code that claim a mismatch;
- ``planted``: one element's gradient multiplied by ``1 + f * bound`` (``f`` of 1.5 and 3, at
  the element whose detection bound is the input's largest among elements of at least 1/8 of its
  largest gradient, and at a random one of those), where ``bound`` is what the check of the
  correct code reported there; ``kept`` counts the checks that did not pass. A pass is a broken
  promise: the correct code's result said an error that large would be caught.

Max pooling on ReLU outputs (ties shared by two overlapping windows, where the first-argmax
gradient lies outside the one-sided slopes along the element's axis) is left out: gradcheck
calls those elements mismatches, and whether that is right is a matter of convention.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _user_layers as U  # noqa: E402

import gradcheck  # noqa: E402

DTYPES = {"float64": np.float64, "float32": np.float32}
FACTORS = (1.5, 3.0)


def _check(spec: Any, inputs: dict, method: str, seed: int, backward: Any, plant=None):  # type: ignore[no-untyped-def, type-arg]
    names = list(inputs)
    wrt = spec.wrt or names

    def fix(got: Sequence[Any]) -> tuple[Any, ...]:
        out = [
            None if v is None else np.asarray(v).astype(inputs[n].dtype)
            for v, n in zip(got, names, strict=False)
        ]
        if plant is not None:
            k, idx, factor = plant
            g = out[k].copy()
            g[idx] = g[idx] * factor
            out[k] = g
        return tuple(out)

    if spec.kind == "grad":
        return gradcheck.check_grad(
            spec.fn, lambda *a: fix(backward(*a)), inputs, method=method, wrt=wrt
        )
    dtype = next(v.dtype for v in inputs.values() if v.dtype.kind == "f")
    cot = spec.cot(seed, dtype, inputs) if spec.cot else None
    kw = {} if cot is None else {"cotangents": cot}
    return gradcheck.check_layer(
        spec.forward, lambda d, c: fix(backward(d, c)), inputs, method=method, wrt=wrt, **kw
    )


def _targets(result: Any, names: list[str], wrt: list[str], rng: np.random.Generator):  # type: ignore[no-untyped-def]
    """(input position, element, bound) of the planted errors: per checked input, the element
    with the largest bound and a random one, among elements of at least 1/8 of its largest."""
    out = []
    for k, n in enumerate(names):
        if n not in wrt:
            continue
        r = result.inputs[n]
        g = np.abs(np.asarray(r.analytic, dtype=np.float64))
        if r.bounds is None or g.max() == 0:
            continue
        b = np.asarray(r.bounds, dtype=np.float64)
        cand = np.argwhere((g >= g.max() / 8) & np.isfinite(b))
        if not len(cand):
            continue
        worst = tuple(int(i) for i in cand[np.argmax(b[tuple(cand.T)])])
        other = tuple(int(i) for i in cand[rng.integers(len(cand))])
        for idx in dict.fromkeys([worst, other]):
            out.append((k, idx, float(b[idx])))
    return out


def run(spec: Any, dtype: str, method: str, seeds: int, plant_seeds: int) -> dict[str, int]:
    row = dict.fromkeys(("checks", "false", "unver", "bugs", "bug", "planted", "kept"), 0)
    for seed in range(seeds):
        inputs = spec.make(seed, DTYPES[dtype])
        names = list(inputs)
        wrt = spec.wrt or names
        backward = spec.grad if spec.kind == "grad" else spec.backward
        bug = spec.bug
        r0 = _check(spec, inputs, method, seed, backward)
        row["checks"] += 1
        mismatch = any(r.mismatches for r in r0.inputs.values())
        row["false"] += mismatch
        row["unver"] += (not r0.passed) and not mismatch
        if bug is not None:
            rb = _check(spec, inputs, method, seed, bug)
            row["bugs"] += 1
            row["bug"] += any(r.mismatches for r in rb.inputs.values())
        if seed >= plant_seeds or not r0.passed:
            continue
        rng = np.random.default_rng(seed)
        eps = float(np.finfo(DTYPES[dtype]).eps)
        for k, idx, bound in _targets(r0, names, wrt, rng):
            for f in FACTORS:
                e = f * bound
                if not 8 * eps < e < 0.5:
                    continue
                rp = _check(spec, inputs, method, seed, backward, plant=(k, idx, 1 + e))
                row["planted"] += 1
                row["kept"] += not rp.passed
    return row


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", nargs="*", help="layer names (default: all)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds of correct and buggy code")
    parser.add_argument("--plant-seeds", type=int, default=2, help="seeds with planted errors")
    parser.add_argument(
        "--methods",
        default="central,complex",
        help="comma-separated methods (complex: float64 only, where the layer allows it)",
    )
    parser.add_argument("--quick", action="store_true", help="2 seeds, ordinary layers only")
    args = parser.parse_args(argv)
    specs = U.ORDINARY if args.quick else U.ALL
    if args.layers:
        specs = [U.BY_NAME[n] for n in args.layers]
    specs = [s for s in specs if "ties" not in s.name]
    seeds = 2 if args.quick else args.seeds
    plant_seeds = min(seeds, 1 if args.quick else args.plant_seeds)
    t0 = time.perf_counter()
    header = "| layer | dtype | method | false alarms | unverified | bugs caught | planted kept |"
    print(header)
    print("|" + "---|" * 7)
    total = dict.fromkeys(("checks", "false", "unver", "bugs", "bug", "planted", "kept"), 0)
    for spec in specs:
        for dtype in DTYPES:
            for method in args.methods.split(","):
                if method == "complex" and (dtype != "float64" or not spec.complex_ok):
                    continue
                row = run(spec, dtype, method, seeds, plant_seeds)
                for key in total:
                    total[key] += row[key]
                bugs = f"{row['bug']}/{row['bugs']}" if row["bugs"] else "-"
                print(
                    f"| {spec.name} | {dtype} | {method} | {row['false']}/{row['checks']} | "
                    f"{row['unver']}/{row['checks']} | {bugs} | {row['kept']}/{row['planted']} |",
                    flush=True,
                )
    print(
        f"\nin all: {total['false']} false alarms and {total['unver']} unverified in "
        f"{total['checks']} checks of correct code; {total['bug']} of {total['bugs']} bugs "
        f"caught; {total['kept']} of {total['planted']} planted errors of 1.5 and 3 times the "
        f"stated bound caught ({time.perf_counter() - t0:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
