"""gradcheck's torch and jax front ends beside torch.autograd.gradcheck and jax's check_grads.

Every tool checks the same custom rules, written as users write them: a ``torch.autograd.Function``
(``ctx.save_for_backward``, a hand-written ``backward``) and a ``jax.custom_vjp`` function (a
``fwd`` returning residuals, a ``bwd`` rule, jitted), built from one definition of the forward
pass and of the backward pass per function, so that both frameworks run the same formulas:

    gelu          the tanh approximation of GELU, fused
    softmax       softmax over the last axis
    log_softmax   log-softmax over the last axis
    layer_norm    layer norm with a gain and a bias
    linear_tanh   a fused tanh(x @ W + b)
    attention     softmax(Q K^T / sqrt(d)) V, one head
    cumsum        a cumulative sum over the last axis

each right and with planted bugs of five kinds (a wrong factor, a transposed or reversed
gradient, a missing term, a wrong sign in one branch, a single wrong element), in float64,
float32, float16 and bfloat16. Measured: the planted bugs each tool catches (seed 0), the false
alarms on the right functions over 10 seeds, and the wall time of one check.

    python bench/frontends.py            # the tables of the README (a few minutes on 2 cores)
    python bench/frontends.py --quick    # 2 seeds, a smoke test

Tools, each with its defaults: ``torch.autograd.gradcheck`` (slow mode and ``fast_mode=True``),
``jax.test_util.check_grads(f, args, order=1, modes=["rev"])``, ``gradcheck.torch.check_function``
and ``gradcheck.jax.check_function``. A check "fails" when it returns False or raises (torch's
gradcheck raises on some low-precision inputs); a gradcheck check that fails on unverified
elements only (finite differences could not resolve them and no mismatch is claimed, as happens
in bfloat16) is counted apart as "unverified", neither a catch nor a false alarm; a gradcheck
check the core refuses would be reported "not supported yet".
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # float64 for the float64 columns

import jax.numpy as jnp  # noqa: E402
import jax.test_util  # noqa: E402
import ml_dtypes  # noqa: E402
import torch  # noqa: E402
from _common import unverified_only  # noqa: E402

import gradcheck  # noqa: E402
import gradcheck.jax  # noqa: E402
import gradcheck.torch  # noqa: E402

DTYPES = ("float64", "float32", "float16", "bfloat16")
TOOLS = ("torch slow", "torch fast", "gradcheck.torch", "jax check_grads", "gradcheck.jax")
NOT_SUPPORTED = "not supported yet"
UNVERIFIED = "unverified"

# ---- one set of array operations per framework ---------------------------------------------------


class TorchOps:
    @staticmethod
    def sum(x, axis=None, keepdims=False):
        return x.sum() if axis is None else torch.sum(x, dim=axis, keepdim=keepdims)

    @staticmethod
    def amax(x, axis, keepdims=False):
        return torch.amax(x, dim=axis, keepdim=keepdims)

    exp = staticmethod(torch.exp)
    log = staticmethod(torch.log)
    tanh = staticmethod(torch.tanh)
    sqrt = staticmethod(torch.sqrt)
    where = staticmethod(torch.where)

    @staticmethod
    def cumsum(x, axis):
        return torch.cumsum(x, dim=axis)

    @staticmethod
    def flip(x, axis):
        return torch.flip(x, dims=(axis,))

    @staticmethod
    def const(values, like):
        return torch.as_tensor(values, dtype=like.dtype, device=like.device)


class JaxOps:
    @staticmethod
    def sum(x, axis=None, keepdims=False):
        return jnp.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def amax(x, axis, keepdims=False):
        return jnp.max(x, axis=axis, keepdims=keepdims)

    exp = staticmethod(jnp.exp)
    log = staticmethod(jnp.log)
    tanh = staticmethod(jnp.tanh)
    sqrt = staticmethod(jnp.sqrt)
    where = staticmethod(jnp.where)

    @staticmethod
    def cumsum(x, axis):
        return jnp.cumsum(x, axis=axis)

    @staticmethod
    def flip(x, axis):
        return jnp.flip(x, axis=axis)

    @staticmethod
    def const(values, like):
        return jnp.asarray(values, dtype=like.dtype)


def one_element(xp, g, index, factor=1.01):
    """``g`` with one element multiplied by ``factor``."""
    mask = np.ones(tuple(g.shape))
    mask[index] = factor
    return g * xp.const(mask, g)


# ---- the functions: forward(xp, *inputs) -> (out, saved); backward(xp, saved, g, bug) -> grads ---

K = math.sqrt(2 / math.pi)
C = 0.044715


def gelu_forward(xp, x):
    return 0.5 * x * (1 + xp.tanh(K * (x + C * x**3))), (x,)


def gelu_backward(xp, saved, g, bug):
    (x,) = saved
    t = xp.tanh(K * (x + C * x**3))
    inner = 1 + (2 if bug == "factor" else 3) * C * x * x
    d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K * (1 if bug == "missing" else inner)
    if bug == "sign":
        d = xp.where(x < -1, -d, d)
    dx = g * d
    return (one_element(xp, dx, (1, 2)) if bug == "element" else dx,)


def softmax_forward(xp, x):
    e = xp.exp(x - xp.amax(x, -1, keepdims=True))
    y = e / xp.sum(e, -1, keepdims=True)
    return y, (y,)


def softmax_backward(xp, saved, g, bug):
    (y,) = saved
    if bug == "missing":
        return (y * g,)
    if bug == "transposed":  # the sum over the wrong axis
        return (y * (g - xp.sum(g * y, 0, keepdims=True)),)
    s = xp.sum(g * y, -1, keepdims=True)
    dx = y * (g - (2 * s if bug == "factor" else s))
    return (one_element(xp, dx, (2, 1)) if bug == "element" else dx,)


def log_softmax_forward(xp, x):
    z = x - xp.amax(x, -1, keepdims=True)
    y = z - xp.log(xp.sum(xp.exp(z), -1, keepdims=True))
    return y, (y,)


def log_softmax_backward(xp, saved, g, bug):
    (y,) = saved
    s = xp.sum(g, -1, keepdims=True)
    if bug == "missing":
        return (g,)
    if bug == "sign":
        return (g + xp.exp(y) * s,)
    if bug == "transposed":
        return (g - xp.exp(y) * xp.sum(g, 0, keepdims=True),)
    dx = g - xp.exp(y) * s
    return (one_element(xp, dx, (0, 3)) if bug == "element" else dx,)


def layer_norm_forward(xp, x, gamma, beta):
    d = x.shape[-1]
    xc = x - xp.sum(x, -1, keepdims=True) / d
    r = 1 / xp.sqrt(xp.sum(xc * xc, -1, keepdims=True) / d + 1e-5)
    xhat = xc * r
    return xhat * gamma + beta, (xhat, r, gamma)


def layer_norm_backward(xp, saved, g, bug):
    xhat, r, gamma = saved
    d = xhat.shape[-1]
    n = d - 1 if bug == "factor" else d  # the unbiased variance's D - 1 in the backward pass
    dxhat = g * gamma
    mean_term = 0 if bug == "missing" else xp.sum(dxhat, -1, keepdims=True) / n
    dx = r * (dxhat - mean_term - xhat * xp.sum(dxhat * xhat, -1, keepdims=True) / n)
    dgamma = xp.sum(g * xhat, 0)
    dbeta = xp.sum(g, 0)
    if bug == "sign":
        dbeta = -dbeta
    if bug == "element":
        dgamma = one_element(xp, dgamma, (4,))
    return dx, dgamma, dbeta


def linear_tanh_forward(xp, x, w, b):
    y = xp.tanh(x @ w + b)
    return y, (x, w, y)


def linear_tanh_backward(xp, saved, g, bug):
    x, w, y = saved
    da = g if bug == "missing" else g * (1 - y * y)
    dx = da @ w.T
    dw = (x.T @ da).T if bug == "transposed" else x.T @ da
    db = xp.sum(da, 0) / (da.shape[0] if bug == "factor" else 1)  # a mean where a sum belongs
    if bug == "element":
        dw = one_element(xp, dw, (3, 0))
    return dx, dw, db


def attention_forward(xp, q, k, v):
    scale = 1 / math.sqrt(q.shape[-1])
    s = (q @ k.T) * scale
    e = xp.exp(s - xp.amax(s, -1, keepdims=True))
    p = e / xp.sum(e, -1, keepdims=True)
    return p @ v, (q, k, v, p)


def attention_backward(xp, saved, g, bug):
    q, k, v, p = saved
    scale = 1 / math.sqrt(q.shape[-1])
    dv = p.T @ g
    dp = g @ v.T
    ds = p * (dp - xp.sum(dp * p, -1, keepdims=True))
    if bug == "missing":
        ds = p * dp
    dq = ds @ k * (1 if bug == "factor" else scale)
    dk = (ds.T @ q) * scale
    if bug == "transposed":  # the keys' gradients stored in reverse order
        dk = xp.flip(dk, 0)
    if bug == "sign":
        dv = xp.where(dv < 0, dv, -dv)
    return dq, dk, dv


def cumsum_forward(xp, x):
    return xp.cumsum(x, -1), ()


def cumsum_backward(xp, saved, g, bug):
    if bug == "transposed":  # the forward cumsum of g instead of the reversed one
        return (xp.cumsum(g, -1),)
    dx = xp.flip(xp.cumsum(xp.flip(g, -1), -1), -1)
    if bug == "missing":  # an exclusive reversed cumsum: each element's own term left out
        dx = dx - g
    if bug == "element":
        dx = one_element(xp, dx, (2, 5))
    return (dx,)


@dataclass(frozen=True, eq=False)  # hashed by identity: the functions are cached per spec
class Spec:
    name: str
    shapes: dict[str, tuple[int, ...]]
    forward: Callable[..., Any]
    backward: Callable[..., Any]
    #: bug id -> what it is (the kind of mistake, and the line it stands for)
    bugs: dict[str, str] = field(default_factory=dict)


SPECS = [
    Spec(
        "gelu",
        {"x": (4, 6)},
        gelu_forward,
        gelu_backward,
        {
            "factor": "wrong factor: 2 C x^2 for 3 C x^2",
            "missing": "missing term: d/dx of C x^3 left out",
            "sign": "wrong sign in one branch: x < -1",
            "element": "single wrong element: dx[1, 2] x 1.01",
        },
    ),
    Spec(
        "softmax",
        {"x": (4, 5)},
        softmax_forward,
        softmax_backward,
        {
            "factor": "wrong factor: 2 sum(g y)",
            "missing": "missing term: y g alone",
            "transposed": "transposed: the sum over the batch axis",
            "element": "single wrong element: dx[2, 1] x 1.01",
        },
    ),
    Spec(
        "log_softmax",
        {"x": (4, 5)},
        log_softmax_forward,
        log_softmax_backward,
        {
            "missing": "missing term: g alone",
            "sign": "wrong sign: g + softmax sum(g)",
            "transposed": "transposed: the sum over the batch axis",
            "element": "single wrong element: dx[0, 3] x 1.01",
        },
    ),
    Spec(
        "layer_norm",
        {"x": (4, 6), "gamma": (6,), "beta": (6,)},
        layer_norm_forward,
        layer_norm_backward,
        {
            "factor": "wrong factor: 1/(D-1) for 1/D",
            "missing": "missing term: the mean of dxhat left out",
            "sign": "wrong sign: dbeta negated",
            "element": "single wrong element: dgamma[4] x 1.01",
        },
    ),
    Spec(
        "linear_tanh",
        {"x": (5, 4), "w": (4, 4), "b": (4,)},
        linear_tanh_forward,
        linear_tanh_backward,
        {
            "factor": "wrong factor: db a mean over the batch",
            "missing": "missing term: the tanh derivative left out",
            "transposed": "transposed: dW transposed",
            "element": "single wrong element: dW[3, 0] x 1.01",
        },
    ),
    Spec(
        "attention",
        {"q": (3, 4), "k": (5, 4), "v": (5, 4)},
        attention_forward,
        attention_backward,
        {
            "factor": "wrong factor: dQ without the 1/sqrt(d) scale",
            "missing": "missing term: the softmax Jacobian's sum term",
            "transposed": "reversed: dK's rows in reverse order",
            "sign": "wrong sign in one branch: dV negated where positive",
        },
    ),
    Spec(
        "cumsum",
        {"x": (4, 6)},
        cumsum_forward,
        cumsum_backward,
        {
            "transposed": "reversed: the forward cumsum of g",
            "missing": "missing term: an exclusive reversed cumsum",
            "element": "single wrong element: dx[2, 5] x 1.01",
        },
    ),
]


# ---- the two frameworks' versions of one function ---------------------------------------------


@functools.cache
def torch_function(spec: Spec, bug: str | None) -> type:
    class Custom(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *inputs):
            out, saved = spec.forward(TorchOps, *inputs)
            ctx.save_for_backward(*saved)
            return out

        @staticmethod
        def backward(ctx, grad):
            return tuple(spec.backward(TorchOps, ctx.saved_tensors, grad, bug))

    Custom.__name__ = Custom.__qualname__ = f"{spec.name}_{bug or 'ok'}"
    return Custom


@functools.cache
def jax_function(spec: Spec, bug: str | None) -> Callable[..., Any]:
    @jax.custom_vjp
    def custom(*inputs):
        return spec.forward(JaxOps, *inputs)[0]

    def fwd(*inputs):
        return spec.forward(JaxOps, *inputs)

    def bwd(saved, grad):
        return tuple(spec.backward(JaxOps, saved, grad, bug))

    custom.defvjp(fwd, bwd)
    jitted = jax.jit(custom)
    jitted.__qualname__ = f"{spec.name}_{bug or 'ok'}"  # type: ignore[attr-defined]
    return jitted


def values(spec: Spec, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in spec.shapes.values()]


TORCH_DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
NP_DTYPES = {
    "float64": np.float64,
    "float32": np.float32,
    "float16": np.float16,
    "bfloat16": ml_dtypes.bfloat16,
}


def run_tool(tool: str, spec: Spec, bug: str | None, dtype: str, seed: int) -> tuple[str, float]:
    """``(outcome, seconds)``: ``pass``, ``fail``, ``unverified`` or ``not supported yet``."""
    arrays = values(spec, seed)
    if tool.startswith(("torch", "gradcheck.torch")):
        fn = torch_function(spec, bug)
        inputs = tuple(
            torch.tensor(a, dtype=TORCH_DTYPES[dtype]).requires_grad_(True) for a in arrays
        )
    else:
        fn = jax_function(spec, bug)
        inputs = tuple(jnp.asarray(a.astype(NP_DTYPES[dtype])) for a in arrays)
        fn(*inputs)  # compile the forward pass outside the timing
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if tool == "torch slow":
                ok = torch.autograd.gradcheck(fn.apply, inputs, raise_exception=False)
            elif tool == "torch fast":
                ok = torch.autograd.gradcheck(
                    fn.apply, inputs, fast_mode=True, raise_exception=False
                )
            elif tool in ("gradcheck.torch", "gradcheck.jax"):
                front = gradcheck.torch if tool == "gradcheck.torch" else gradcheck.jax
                result = front.check_function(fn, inputs)
                ok = result.passed
                if unverified_only(result):
                    return UNVERIFIED, time.perf_counter() - t0
            else:
                try:
                    jax.test_util.check_grads(fn, inputs, order=1, modes=["rev"])
                    ok = True
                except AssertionError:
                    ok = False
    except gradcheck.InvalidArgumentError as exc:
        if tool.startswith("gradcheck") and dtype in ("float16", "bfloat16") and dtype in str(exc):
            return NOT_SUPPORTED, time.perf_counter() - t0
        raise
    except Exception:  # the tool could not check it: a failed check for its user
        ok = False
    return ("pass" if ok else "fail"), time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds of the false-alarm runs")
    parser.add_argument("--quick", action="store_true", help="2 seeds: a smoke test")
    parser.add_argument("--json", type=Path, help="also write the raw outcomes here")
    args = parser.parse_args()
    seeds = 2 if args.quick else args.seeds
    torch.set_num_threads(1)
    t_start = time.perf_counter()

    records: list[dict[str, Any]] = []
    for spec in SPECS:
        for dtype in DTYPES:
            for tool in TOOLS:
                for bug in [None, *spec.bugs]:
                    for seed in range(seeds) if bug is None else [0]:
                        outcome, seconds = run_tool(tool, spec, bug, dtype, seed)
                        records.append(
                            {
                                "function": spec.name,
                                "bug": bug,
                                "dtype": dtype,
                                "tool": tool,
                                "seed": seed,
                                "outcome": outcome,
                                "seconds": seconds,
                            }
                        )
        print(f"{spec.name}: done ({time.perf_counter() - t_start:.0f} s)", file=sys.stderr)

    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
    n_bugs = sum(len(s.bugs) for s in SPECS)

    def cell(tool: str, dtype: str, select: Callable[[dict[str, Any]], bool], want: str) -> str:
        rows = [r for r in records if r["tool"] == tool and r["dtype"] == dtype and select(r)]
        if rows and all(r["outcome"] == NOT_SUPPORTED for r in rows):
            return NOT_SUPPORTED
        unverified = sum(r["outcome"] == UNVERIFIED for r in rows)
        return f"{sum(r['outcome'] == want for r in rows)}/{len(rows)}" + (
            f" ({unverified} unverified)" if unverified else ""
        )

    def table(title: str, rows: list[list[str]]) -> None:
        header = ["tool", *DTYPES]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        print(f"\n{title}\n")
        print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
        print("| " + " | ".join("-" * w for w in widths) + " |")
        for r in rows:
            print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")

    table(
        f"**Planted bugs caught** ({n_bugs} bugs in {len(SPECS)} functions, seed 0):",
        [
            [tool, *(cell(tool, d, lambda r: r["bug"] is not None, "fail") for d in DTYPES)]
            for tool in TOOLS
        ],
    )
    table(
        f"**False alarms on the right functions** ({len(SPECS)} functions x {seeds} seeds):",
        [
            [tool, *(cell(tool, d, lambda r: r["bug"] is None, "fail") for d in DTYPES)]
            for tool in TOOLS
        ],
    )

    def median_ms(tool: str, dtype: str) -> str:
        rows = [
            r for r in records if r["tool"] == tool and r["dtype"] == dtype and r["bug"] is None
        ]
        if all(r["outcome"] == NOT_SUPPORTED for r in rows):
            return NOT_SUPPORTED
        return f"{1000 * statistics.median(r['seconds'] for r in rows):.3g} ms"

    table(
        "**Wall time of one check** (median over the right functions and seeds):",
        [[tool, *(median_ms(tool, d) for d in DTYPES)] for tool in TOOLS],
    )

    # the target: every bug torch's slow mode catches in float64, gradcheck catches in float32
    def caught(tool: str, dtype: str) -> set[tuple[str, str]]:
        return {
            (r["function"], r["bug"])
            for r in records
            if r["tool"] == tool and r["dtype"] == dtype and r["bug"] and r["outcome"] == "fail"
        }

    slow64 = caught("torch slow", "float64")
    print()
    for tool in ("gradcheck.torch", "gradcheck.jax"):
        missed = sorted(slow64 - caught(tool, "float32"))
        print(
            f"- bugs torch slow mode catches in float64 that {tool} misses in float32: "
            + (", ".join(f"{f}/{b}" for f, b in missed) if missed else "none")
            + f" ({len(slow64)} caught by torch slow mode in float64)"
        )

    print("\n**Per bug** (float64 / float32; `x` caught, `.` missed):\n")
    header = ["function", "bug", *TOOLS]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] * len(header)) + "|")
    for spec in SPECS:
        for bug, what in spec.bugs.items():
            marks = []
            for tool in TOOLS:
                pair = []
                for dtype in ("float64", "float32"):
                    (r,) = [
                        r
                        for r in records
                        if (r["tool"], r["function"], r["bug"], r["dtype"])
                        == (tool, spec.name, bug, dtype)
                    ]
                    pair.append("x" if r["outcome"] == "fail" else ".")
                marks.append(" / ".join(pair))
            print(f"| {spec.name} | {what} | " + " | ".join(marks) + " |")
    print(
        f"\nthe run took {time.perf_counter() - t_start:.0f} s; torch {torch.__version__}, "
        f"jax {jax.__version__}, numpy {np.__version__}, Python {sys.version.split()[0]}",
    )


if __name__ == "__main__":
    main()
