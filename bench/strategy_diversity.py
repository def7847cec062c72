"""How diverse the arrays of ``gradcheck.strategies`` are, and which planted bugs they reveal.

Run: ``python bench/strategy_diversity.py`` (about a minute on one core; ``--draws`` and
``--runs`` change the sample sizes).

A property test is only as good as the arrays it draws. Arrays whose elements are mostly equal
(or all equal) make ``x.T @ dout`` symmetric and two inputs identical, so a transposed weight
gradient or a swapped pair of gradients passes the check. Over ``--draws`` examples of a
``@given`` test that records what it receives (hypothesis' generate phase, derandomized), this
prints, for ``arrays((6, 6))`` and ``cotangents((6, 6))``:

* the share of draws in which one value fills at least half of the elements,
* the share of constant draws (every element equal),
* the share of draws with any repeated value,

and, for two planted bugs checked with :func:`gradcheck.check_layer` on the drawn arrays:

* ``transposed dW``: ``forward(x, w) = x @ w`` with a square ``w`` (6, 6), whose backward
  returns ``(x.T @ dout).T`` for ``dw``;
* ``swapped da, db``: ``forward(a, b) = a * b`` with ``a, b`` (6, 6), whose backward returns
  ``(dout * a, dout * b)`` instead of ``(dout * b, dout * a)``;

the share of drawn examples on which the check fails (the bug is caught by that example), and
the share of ``--runs`` property tests of 10 examples each (hypothesis seeds 0, 1, ...) that
fail, which is what a user sees, with the number of examples each ran up to its first failure.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings

import gradcheck
from gradcheck.strategies import arrays, cotangents

Array = np.ndarray[Any, Any]


def _matmul_forward(x: Array, w: Array) -> tuple[Array, tuple[Array, Array]]:
    return x @ w, (x, w)


def _matmul_backward_transposed(dout: Array, cache: tuple[Array, Array]) -> tuple[Array, Array]:
    x, w = cache
    return dout @ w.T, (x.T @ dout).T  # bug: dw transposed


def _product_forward(a: Array, b: Array) -> tuple[Array, tuple[Array, Array]]:
    return a * b, (a, b)


def _product_backward_swapped(dout: Array, cache: tuple[Array, Array]) -> tuple[Array, Array]:
    a, b = cache
    return dout * a, dout * b  # bug: the two gradients exchanged


def caught_transposed(x: Array, w: Array, dout: Array) -> bool:
    """True when the check of the transposed-dW bug fails (the bug is seen)."""
    result = gradcheck.check_layer(
        _matmul_forward, _matmul_backward_transposed, {"x": x, "w": w}, cotangents=dout
    )
    return not result.passed


def caught_swapped(a: Array, b: Array, dout: Array) -> bool:
    """True when the check of the swapped-gradients bug fails."""
    result = gradcheck.check_layer(
        _product_forward, _product_backward_swapped, {"a": a, "b": b}, cotangents=dout
    )
    return not result.passed


def degeneracy(draws: list[Array]) -> dict[str, float]:
    """Shares of draws with half their elements equal, constant, with any repeated value."""
    most = [np.unique(x, return_counts=True)[1].max() for x in draws]
    return {
        "half equal": float(np.mean([m >= x.size / 2 for m, x in zip(most, draws, strict=True)])),
        "constant": float(np.mean([m == x.size for m, x in zip(most, draws, strict=True)])),
        "any repeat": float(np.mean([m > 1 for m in most])),
    }


def record(draws: int) -> dict[str, list[Any]]:
    """Run a derandomized ``@given`` test of ``draws`` examples and keep what it received."""
    seen: dict[str, list[Any]] = {"arrays": [], "cotangents": [], "transposed": [], "swapped": []}

    @settings(
        max_examples=draws,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        x=arrays((4, 6)),
        w=arrays((6, 6)),
        b=arrays((6, 6)),
        douts=cotangents((4, 6), (6, 6)),
    )
    def prop(x: Array, w: Array, b: Array, douts: tuple[Array, Array]) -> None:
        seen["arrays"].append(w)
        seen["cotangents"].append(douts[1])
        seen["transposed"].append(caught_transposed(x, w, douts[0]))
        seen["swapped"].append(caught_swapped(w, b, douts[1]))

    prop()
    return seen


def property_runs(runs: int) -> dict[str, tuple[float, float]]:
    """Per bug, over property tests of 10 examples (hypothesis seeds 0..runs-1): the share
    that fail, and the mean number of examples run up to the first failing one."""
    quick = settings(
        max_examples=10,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    calls = [0]  # examples run in the current property test
    first = [0]  # the example that failed first (hypothesis then replays it to report it)

    def fails(caught: bool) -> None:
        if caught and not first[0]:
            first[0] = calls[0]
        assert not caught

    @quick
    @given(x=arrays((4, 6)), w=arrays((6, 6)), douts=cotangents((4, 6)))
    def transposed(x: Array, w: Array, douts: tuple[Array]) -> None:
        calls[0] += 1
        fails(caught_transposed(x, w, douts[0]))

    @quick
    @given(a=arrays((6, 6)), b=arrays((6, 6)), douts=cotangents((6, 6)))
    def swapped(a: Array, b: Array, douts: tuple[Array]) -> None:
        calls[0] += 1
        fails(caught_swapped(a, b, douts[0]))

    shares = {}
    for name, prop in (("transposed", transposed), ("swapped", swapped)):
        until: list[int] = []
        for k in range(runs):
            calls[0] = first[0] = 0
            try:
                seed(k)(prop)()
            except AssertionError:
                until.append(first[0])
        shares[name] = (len(until) / runs, float(np.mean(until)) if until else float("nan"))
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=1000, help="examples recorded (1000)")
    parser.add_argument("--runs", type=int, default=50, help="property tests run (50)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    seen = record(args.draws)
    n = len(seen["arrays"])
    print(f"{n} draws (derandomized generate phase)\n")
    print("| strategy | one value fills half | constant | any repeated value |")
    print("|---|---|---|---|")
    for name, label in (("arrays", "arrays((6, 6))"), ("cotangents", "cotangents((6, 6))")):
        d = degeneracy(seen[name])
        print(
            f"| `{label}` | {d['half equal']:.1%} | {d['constant']:.1%} | {d['any repeat']:.1%} |"
        )
    runs = property_runs(args.runs)
    print(
        f"\n| planted bug | examples that catch it | property tests of 10 examples that fail "
        f"({args.runs} seeds) | examples run up to the first failing one (mean) |"
    )
    print("|---|---|---|---|")
    for name, label in (("transposed", "transposed dW (square w)"), ("swapped", "swapped da, db")):
        share, until = runs[name]
        print(f"| {label} | {np.mean(seen[name]):.1%} | {share:.0%} | {until:.2f} |")
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
