"""False alarms and detection on saturated layers, with data drawn the way users draw it.

Run from the repository root::

    python bench/saturation.py [--seeds 200]

A trained classifier is confident: its loss rounds towards 0, the probabilities of the wrong
classes fall below the rounding of 1, and both finite differences (the value moves in whole ulps
of 1, not of itself) and the complex step (imaginary parts absorbed into larger ones) lose
precision that their error models do not see. The layers, written as users write them:

- ``softmax_temperature``: softmax cross-entropy of ``(x W + b) * t`` with ``x`` (2, 4) standard
  normal, ``W`` (4, 3) of scale 3, ``b`` (3,), a temperature ``t`` in [1, 4] (a one-element
  input), labels the argmax of the scores (a confident, correct classifier);
- ``logistic_margin``: the logistic loss ``log(1 + exp(-y z))`` of ``z = x w`` with ``x`` (8, 5)
  and ``w`` (5,) of scale 4, labels the sign of ``z``;
- ``lstm_saturated``: lstm_ref's model with saturated gates and one-element states (N = T = D =
  H = 1, 3 layers), as the property tests draw it;
- ``attention_saturated``: scaled dot-product attention ``sum(softmax(Q K^T / sqrt(3)) V * dout)``
  with ``Q``, ``K`` (4, 3) of scale 10 (every softmax row saturated), ``V`` and ``dout``
  standard normal.

For each method (central, richardson, complex) and each seed of correct code: the checks that
pass, those that claim a mismatch (false alarms) and those that leave elements unverified (no
claim either way). Then a planted bug on every seed: the element of ``W`` (``w``, ``fc.W``,
``Q``) whose gradient is largest at the drawn point, times ``1 + 1e-3`` wherever it is evaluated;
the checks that catch it; those that pass it where the element's stated detection bound
(``InputResult.bounds``) is above 1e-3 (the check said it could not see so small an error there:
a gradient of 1e-13 under a loss of 1e-13 resolves to a few percent at best); and those that
pass it within the bound (a wrong pass: the worst outcome). The rest leave it unverified.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from _common import claims_failure, unverified_only

import gradcheck
import lstm_ref as lr
from lstm_ref.strategies import Config, Problem

Array = np.ndarray
#: a check, the input with the planted bug and the bug's flat index (None without a bug)
Run = tuple[gradcheck.CheckResult, str, int | None]
MethodName = Literal["central", "richardson", "complex"]
METHODS: tuple[MethodName, ...] = ("central", "richardson", "complex")
BUG = 1e-3


def _planted(grads: dict[str, Array], name: str, index: int) -> dict[str, Array]:
    g = grads[name].copy()
    g.reshape(-1)[index] *= 1 + BUG
    return {**grads, name: g}


def _largest(g: Array) -> int:
    """The flat index of the largest element of ``g``: the bug's place, chosen once at the drawn
    point (a bug is a fixed function of the inputs)."""
    return int(np.argmax(np.abs(g)))


def softmax_temperature(seed: int, method: MethodName, bug: bool) -> Run:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 4))
    params = {
        "W": 3 * rng.standard_normal((4, 3)),
        "b": rng.standard_normal(3),
        "t": np.array(rng.uniform(1, 4)),
    }
    y = np.argmax(x @ params["W"] + params["b"], axis=1)
    rows = np.arange(len(y))

    def loss(p: dict[str, Array], where: int | None = None) -> tuple[Any, dict[str, Array]]:
        z = x @ p["W"] + p["b"]
        s = z * p["t"]
        shifted = s - s.real.max(axis=1, keepdims=True)
        value = np.sum(np.log(np.exp(shifted).sum(axis=1)) - shifted[rows, y])
        prob = np.exp(shifted.real)
        prob /= prob.sum(axis=1, keepdims=True)
        prob[rows, y] -= 1
        t = p["t"].real
        grads = {"W": t * x.T @ prob, "b": t * prob.sum(0), "t": np.array(np.sum(prob * z.real))}
        return value, grads if where is None else _planted(grads, "W", where)

    place = _largest(loss(params)[1]["W"]) if bug else None
    result = gradcheck.check_loss(lambda p: loss(p, place), params, method=method, seed=seed)
    return result, "W", place


def logistic_margin(seed: int, method: MethodName, bug: bool) -> Run:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((8, 5))
    w = 4 * rng.standard_normal(5)
    y = np.sign(x @ w)

    def loss(p: dict[str, Array], where: int | None = None) -> tuple[Any, dict[str, Array]]:
        m = y * (x @ p["w"])
        value = np.sum(np.log(1 + np.exp(-m)))
        e = np.exp(-m.real)
        grads = {"w": x.T @ (-y * e / (1 + e))}
        return value, grads if where is None else _planted(grads, "w", where)

    place = _largest(loss({"w": w})[1]["w"]) if bug else None
    result = gradcheck.check_loss(lambda p: loss(p, place), {"w": w}, method=method, seed=seed)
    return result, "w", place


def lstm_saturated(seed: int, method: MethodName, bug: bool) -> Run:
    problem = Problem.build(Config(N=1, T=1, D=1, H=1, L=3, C=2, regime="saturated"), seed)
    cfg = problem.config

    def loss(p: dict[str, Array], where: int | None = None) -> tuple[Any, dict[str, Array]]:
        dtype = p["fc.W"].dtype
        value, grads = lr.loss(p, problem.x.astype(dtype), problem.y, head=cfg.head)
        return value, grads if where is None else _planted(grads, "fc.W", where)

    place = _largest(loss(problem.params)[1]["fc.W"]) if bug else None
    result = gradcheck.check_loss(
        lambda p: loss(p, place), problem.params, method=method, seed=seed
    )
    return result, "fc.W", place


def attention_saturated(seed: int, method: MethodName, bug: bool) -> Run:
    rng = np.random.default_rng(seed)
    d = 3
    params = {
        "Q": 10 * rng.standard_normal((4, d)),
        "K": 10 * rng.standard_normal((4, d)),
        "V": rng.standard_normal((4, d)),
    }
    dout = rng.standard_normal((4, d))

    def softmax(s: Array) -> Array:
        e = np.exp(s - s.real.max(axis=-1, keepdims=True))
        out: Array = e / e.sum(axis=-1, keepdims=True)
        return out

    def loss(p: dict[str, Array], where: int | None = None) -> tuple[Any, dict[str, Array]]:
        value = np.sum(softmax(p["Q"] @ p["K"].T / np.sqrt(d)) @ p["V"] * dout)
        Q, K, V = p["Q"].real, p["K"].real, p["V"].real
        A = softmax(Q @ K.T / np.sqrt(d))
        dA = dout @ V.T
        dS = A * (dA - (dA * A).sum(-1, keepdims=True)) / np.sqrt(d)
        grads = {"Q": dS @ K, "K": dS.T @ Q, "V": A.T @ dout}
        return value, grads if where is None else _planted(grads, "Q", where)

    place = _largest(loss(params)[1]["Q"]) if bug else None
    result = gradcheck.check_loss(lambda p: loss(p, place), params, method=method, seed=seed)
    return result, "Q", place


LAYERS: dict[str, Callable[[int, MethodName, bool], Run]] = {
    "softmax_temperature": softmax_temperature,
    "logistic_margin": logistic_margin,
    "lstm_saturated": lstm_saturated,
    "attention_saturated": attention_saturated,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200, help="seeds per layer and method")
    args = parser.parse_args(argv)
    print(f"gradcheck {gradcheck.__version__}, numpy {np.__version__}, {args.seeds} seeds")
    print(
        "| layer | method | passed | false alarms | unverified only | bug caught "
        "| bug passed, below its bound | bug passed within its bound |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    alarms = wrong = 0
    start = time.perf_counter()
    for name, layer in LAYERS.items():
        for method in METHODS:
            passed = false = unverified = caught = below = missed = 0
            for seed in range(args.seeds):
                r = layer(seed, method, False)[0]
                passed += r.passed
                false += claims_failure(r)
                unverified += unverified_only(r)
                buggy, name_, place = layer(seed, method, True)
                caught += claims_failure(buggy)
                bounds = buggy.inputs[name_].bounds
                bound = np.inf if bounds is None else float(np.asarray(bounds).reshape(-1)[place])
                below += buggy.passed and bound > BUG
                missed += buggy.passed and bound <= BUG
            alarms += false
            wrong += missed
            print(
                f"| {name} | {method} | {passed} | {false} | {unverified} "
                f"| {caught}/{args.seeds} | {below} | {missed} |",
                flush=True,
            )
    seconds = time.perf_counter() - start
    print(f"false alarms in all: {alarms}; wrong passes: {wrong}; {seconds:.0f} s")
    return 1 if alarms or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
