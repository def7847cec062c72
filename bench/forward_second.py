"""Forward mode, second order and complex functions: false alarms, detection floors, cost.

Run: ``python bench/forward_second.py`` (a few minutes on one core; ``--seeds 3`` for a quick
run). On the functions of ``bench/_forward_zoo.py`` (a tanh layer, a softmax, a layer norm, an
LSTM over a sequence from ``lstm_ref``, complex functions; HVPs of a log-sum-exp, of a softmax
cross-entropy and of a complex quartic; the second-order terms of the VJPs of the tanh layer,
the softmax and the LSTM), with every check's default options, it prints:

* **false alarms**: failed checks of the correct derivatives, over ``--seeds`` seeds, in
  float64 and float32 (the seed draws the inputs and seeds the check);
* **detection floors**: for each kind of planted bug, the smallest weight ``e`` of the bug
  (``1e-1``, ``1e-2``, ...) caught at every seed, with every larger one: a JVP off by the
  factor ``1 + e`` along the tangent of one element (at each seed, the element whose
  contracted JVP is nearest 1/50 of its input's largest), a VJP off by ``1 + e`` in one element
  (chosen the same way among the VJP's values), an HVP blended
  with its transpose by ``e``, a gradient or VJP blended with its conjugate by ``e`` (``e = 1``:
  the conjugation slip), a JVP applied to a tangent blended with its conjugate, a second-order
  term of a VJP off by ``1 + e`` along one tangent element. Each floor says which part of the
  check caught the bug: the finite differences (the inputs by their names) or the exact identity
  (``(adjoint)``, ``(symmetry)``);
* **cost**: per check, the elements checked, the evaluations of the function (or gradient, or
  VJP) and the calls of the JVP, HVP or VJP derivatives, medians over the seeds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _forward_zoo as Z  # noqa: E402

import gradcheck  # noqa: E402

DTYPES = {"float64": np.float64, "float32": np.float32}
#: the bug weights tried, largest first
WEIGHTS = {"float64": [10.0**-k for k in range(1, 15)], "float32": [10.0**-k for k in range(1, 9)]}
IDENTITIES = (" (adjoint)", " (symmetry)")


def _fd_failed(r: gradcheck.CheckResult) -> bool:
    return any(not ir.passed for n, ir in r.inputs.items() if not n.endswith(IDENTITIES)) or any(
        not s.passed for s in r.screens
    )


def _identity_failed(r: gradcheck.CheckResult) -> bool:
    return any(not ir.passed for n, ir in r.inputs.items() if n.endswith(IDENTITIES))


# ---- the checks of the correct functions --------------------------------------------------------


def _quartic_loss(z: Any, c: Any) -> float:
    return float(np.sum(np.abs(z) ** 4) / 4 + np.sum(np.real(c * z * z)))


def correct_checks() -> list[tuple[str, Callable[[np.random.Generator, Any, int], Any]]]:
    """(name, run(rng, dtype, seed) -> CheckResult) of every correct check."""
    out: list[tuple[str, Callable[[np.random.Generator, Any, int], Any]]] = []
    for c in Z.JVP_CASES:
        out.append((f"check_jvp {c.name}", _jvp_runner(c, with_vjp=True)))
    for h in Z.HVP_CASES:
        out.append((f"check_hvp {h.name}", _hvp_runner(h)))
    for g in Z.GRADGRAD_CASES:
        out.append((f"check_gradgrad {g.name}", _gradgrad_runner(g)))
    out.append(("check_grad complex_quartic", _quartic_grad_runner(None)))
    out.append(("check_vjp complex_square", _square_vjp_runner(None)))
    return out


def _jvp_runner(c: Z.JvpCase, with_vjp: bool, jvp: Any = None, vjp: Any = None) -> Any:
    def run(rng: np.random.Generator, dtype: Any, seed: int) -> gradcheck.CheckResult:
        extra = {"vjp": vjp or c.vjp} if with_vjp else {}
        inputs = c.inputs(rng, dtype)
        return gradcheck.check_jvp(c.fn, jvp or c.jvp, inputs, seed=seed, **extra)

    return run


def _hvp_runner(h: Z.HvpCase, hvp: Any = None) -> Any:
    def run(rng: np.random.Generator, dtype: Any, seed: int) -> gradcheck.CheckResult:
        inputs = h.inputs(rng, dtype)
        return gradcheck.check_hvp(h.grad, hvp or h.hvp, inputs, seed=seed, wrt=Z.HVP_WRT[h.name])

    return run


def _gradgrad_runner(g: Z.GradgradCase, vjp_jvp: Any = None) -> Any:
    def run(rng: np.random.Generator, dtype: Any, seed: int) -> gradcheck.CheckResult:
        inputs = g.inputs(rng, dtype)
        return gradcheck.check_gradgrad(g.fn, g.vjp, vjp_jvp or g.vjp_jvp, inputs, seed=seed)

    return run


def _quartic_grad_runner(e: float | None) -> Any:
    def grad(z: Any, c: Any) -> tuple[Any, None]:
        return Z.quartic_grad(z, c)

    g = grad if e is None else Z.Conjugated(grad, 0, e)

    def run(rng: np.random.Generator, dtype: Any, seed: int) -> gradcheck.CheckResult:
        inputs = Z.quartic_inputs(rng, dtype)
        return gradcheck.check_grad(_quartic_loss, g, inputs, seed=seed, wrt=["z"])

    return run


def _square_vjp_runner(e: float | None) -> Any:
    vjp = Z.square_vjp if e is None else Z.Conjugated(Z.square_vjp, 0, e)

    def run(rng: np.random.Generator, dtype: Any, seed: int) -> gradcheck.CheckResult:
        inputs = Z.square_inputs(rng, dtype)
        return gradcheck.check_vjp(Z.square_fn, vjp, inputs, seed=seed)

    return run


# ---- planted bugs ---------------------------------------------------------------------------


class ScaledElement:
    """A VJP off by ``1 + e`` in element ``j`` (flat) of its output ``i``."""

    def __init__(self, f: Callable[..., Any], i: int, j: int, e: float) -> None:
        self.f, self.i, self.j, self.e = f, i, j, e

    def __call__(self, *args: Any) -> Any:
        out = list(self.f(*args))
        o = out[self.i].copy()
        o.reshape(-1)[self.j] *= 1 + self.e
        out[self.i] = o
        return tuple(out)


#: (label, seed, dtype) -> the element a bug is planted at
_ELEMENTS: dict[tuple[str, int, str], int] = {}


def at_element(
    label: str, correct: Any, name: str, build: Callable[[int], Any], side: str = "analytic"
) -> Any:
    """A runner whose bug sits, at each seed and dtype, at the element of input ``name``
    whose correct value (``side``: the contracted derivative, or the transposed operator's
    ``numeric`` value of an identity) is nearest 1/50 of the largest; ``build(j)`` makes the
    runner of the bug planted at ``j``."""

    def run(rng: np.random.Generator, dtype: Any, seed: int) -> gradcheck.CheckResult:
        key = (label, seed, np.dtype(dtype).name)
        if key not in _ELEMENTS:
            r = correct(np.random.default_rng(seed), dtype, seed)
            _ELEMENTS[key] = Z.nearest_to_fiftieth(getattr(r.inputs[name], side))
        result: gradcheck.CheckResult = build(_ELEMENTS[key])(rng, dtype, seed)
        return result

    return run


def experiments() -> list[tuple[str, str, Callable[[float], Any], str]]:
    """(bug, check, make(e) -> runner, which part must catch it: "fd" or "identity")."""
    out: list[tuple[str, str, Callable[[float], Any], str]] = []
    for c in Z.JVP_CASES[:5]:
        first = next(iter(c.inputs(np.random.default_rng(0), np.float64)))
        name = f"{first}.real" if c.complex else first
        correct = _jvp_runner(c, with_vjp=True)

        def jvp_bug(e: float, c: Z.JvpCase = c, name: str = name, correct: Any = correct) -> Any:
            return at_element(
                f"jvp {c.name}",
                correct,
                name,
                lambda j: _jvp_runner(c, with_vjp=False, jvp=Z.ScaledColumn(c.jvp, 0, j, e)),
            )

        def jvp_bug_adjoint(
            e: float, c: Z.JvpCase = c, name: str = name, correct: Any = correct
        ) -> Any:
            return at_element(
                f"jvp {c.name}",
                correct,
                name,
                lambda j: _jvp_runner(c, with_vjp=True, jvp=Z.ScaledColumn(c.jvp, 0, j, e)),
            )

        def vjp_bug(e: float, c: Z.JvpCase = c, name: str = name, correct: Any = correct) -> Any:
            return at_element(
                f"vjp {c.name}",
                correct,
                f"{name} (adjoint)",
                lambda j: _jvp_runner(c, with_vjp=True, vjp=ScaledElement(_tupled(c.vjp), 0, j, e)),
                side="numeric",
            )

        bug = "JVP off by 1+e along one tangent element"
        out.append((bug, f"check_jvp {c.name}", jvp_bug, "fd"))
        out.append((bug, f"check_jvp {c.name} + vjp", jvp_bug_adjoint, "identity"))
        out.append(
            ("VJP off by 1+e in one element", f"check_jvp {c.name} + vjp", vjp_bug, "identity")
        )
    ce = Z.HVP_CASES[1]
    for part in ("fd", "identity"):

        def transposed(e: float, ce: Z.HvpCase = ce) -> Any:
            return _hvp_runner(ce, hvp=Z.Transposed(ce.hvp, 0, e))

        out.append(
            ("HVP blended with its transpose by e", f"check_hvp {ce.name}", transposed, part)
        )
    lse = Z.HVP_CASES[0]
    for part in ("fd", "identity"):

        def hvp_col(e: float, lse: Z.HvpCase = lse) -> Any:
            return at_element(
                "hvp", _hvp_runner(lse), "x",
                lambda j: _hvp_runner(lse, hvp=Z.ScaledColumn(lse.hvp, 0, j, e)),
            )  # fmt: skip

        out.append(
            ("HVP off by 1+e along one tangent element", f"check_hvp {lse.name}", hvp_col, part)
        )
    out.append(
        (
            "gradient blended with its conjugate by e",
            "check_grad complex_quartic",
            _quartic_grad_runner,
            "fd",
        )
    )
    out.append(
        (
            "VJP blended with its conjugate by e",
            "check_vjp complex_square",
            _square_vjp_runner,
            "fd",
        )
    )
    sq = Z.JVP_CASES[4]

    def conj_tangent(e: float) -> Any:
        return _jvp_runner(sq, with_vjp=False, jvp=Z.ConjugatedTangent(sq.jvp, 0, e))

    out.append(
        ("JVP of the conjugated tangent, by e", "check_jvp complex_square", conj_tangent, "fd")
    )
    for g in (Z.GRADGRAD_CASES[0], Z.GRADGRAD_CASES[2]):
        first = next(iter(g.inputs(np.random.default_rng(0), np.float64)))
        for part in ("fd", "identity"):

            def gg(e: float, g: Z.GradgradCase = g, first: str = first) -> Any:
                return at_element(
                    f"gradgrad {g.name}", _gradgrad_runner(g), first,
                    lambda j: _gradgrad_runner(g, vjp_jvp=Z.ScaledColumn(g.vjp_jvp, 0, j, e)),
                )  # fmt: skip

            out.append(
                (
                    "second-order term off by 1+e along one tangent element",
                    f"check_gradgrad {g.name}",
                    gg,
                    part,
                )
            )
    return out


def _tupled(f: Callable[..., Any]) -> Callable[..., Any]:
    def g(*args: Any) -> Any:
        out = f(*args)
        return out if isinstance(out, tuple) else (out,)

    return g


def floor(make: Callable[[float], Any], part: str, dtype: str, seeds: Sequence[int]) -> str:
    """The smallest weight caught at every seed, with every larger one (by ``part``)."""
    caught_down_to = None
    for e in WEIGHTS[dtype]:
        run = make(e)
        for seed in seeds:
            r = run(np.random.default_rng(seed), DTYPES[dtype], seed)
            hit = _fd_failed(r) if part == "fd" else _identity_failed(r)
            if not hit:
                break
        else:
            caught_down_to = e
            continue
        break
    if caught_down_to is None:
        return f"none (misses {WEIGHTS[dtype][0]:.0e})"
    return f"{caught_down_to:.0e}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per check (default 10)")
    args = parser.parse_args(argv)
    seeds = list(range(args.seeds))
    t0 = time.perf_counter()

    print(f"## False alarms on correct derivatives ({len(seeds)} seeds)\n")
    print("| check | float64 | float32 | elements | calls | derivative calls |")
    print("|---|---:|---:|---:|---:|---:|")
    total = {"float64": 0, "float32": 0}
    for name, run in correct_checks():
        fails = {}
        calls: list[int] = []
        back: list[int] = []
        elements = 0
        for dtype in DTYPES:
            fails[dtype] = 0
            for seed in seeds:
                r = run(np.random.default_rng(seed), DTYPES[dtype], seed)
                fails[dtype] += not r.passed
                if dtype == "float64":
                    calls.append(r.calls)
                    back.append(r.backward_calls)
                    elements = sum(
                        ir.size for n, ir in r.inputs.items() if not n.endswith(IDENTITIES)
                    )
            total[dtype] += fails[dtype]
        print(
            f"| {name} | {fails['float64']}/{len(seeds)} | {fails['float32']}/{len(seeds)} | "
            f"{elements} | {statistics.median(calls):g} | {statistics.median(back):g} |"
        )
    print(f"\nfalse alarms in all: float64 {total['float64']}, float32 {total['float32']}\n")

    print(f"## Detection floors (caught at all {len(seeds)} seeds)\n")
    print("| planted bug | check | caught by | float64 | float32 |")
    print("|---|---|---|---:|---:|")
    for bug, check, make, part in experiments():
        by = "finite differences" if part == "fd" else "exact identity"
        f64 = floor(make, part, "float64", seeds)
        f32 = floor(make, part, "float32", seeds)
        print(f"| {bug} | {check} | {by} | {f64} | {f32} |")
    print(f"\nthe run took {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
