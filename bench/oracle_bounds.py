"""The rounding factor of ``lstm_ref.oracle``, measured on correct implementations.

``check_against`` passes an element when ``|value - reference| <= K * eps * m``, with ``m``
the magnitude of the terms the element is made of (``lstm_ref._rounding``). This script
measures how large ``|value - reference| / (eps * m)`` gets on code that is right: the six
hand-written LSTMs of ``examples/lstm_*.py`` (correct versions, at every scope they have),
each also with its sigmoid computed as ``0.5 + 0.5 * tanh(z / 2)`` instead of
``1 / (1 + exp(-z))``, and lstm_ref itself, in float64 and float32, in several regimes:

``ordinary``   the implementations' own initial weights, N=3, T=4
``saturated``  every weight times 4 (gates near 0 and 1, where 1 - s cancels)
``small``      every weight times 0.05 (near-linear, tiny gradients)
``long``       T=40 steps
``wide``       N=8, T=12, D=16, H=32, C=10 (and lstm_ref itself at this shape, L=2)

It prints, per dtype, the largest ratio and its quantiles over all compared elements, and
where the largest was seen. ``lstm_ref.oracle.ROUNDING`` is that largest ratio times a
margin, rounded up. Run::

    python bench/oracle_bounds.py                 # seeds 0-4, about a minute
    python bench/oracle_bounds.py --seeds 0 1 2 3 4 5 6 7 8 9
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

import lstm_ref as lr
from lstm_ref import LSTMSubject, Run
from lstm_ref.oracle import ROUNDING, check_against

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("lstm_doc000", "lstm_doc001", "lstm_doc002", "lstm_doc003", "lstm_doc004", "lstm_torch")
#: regime: (weight scale, T, N, sizes given to the examples' subject functions)
REGIMES: dict[str, tuple[float, int, int, dict[str, int]]] = {
    "ordinary": (1.0, 4, 3, {}),
    "saturated": (4.0, 4, 3, {}),
    "small": (0.05, 4, 3, {}),
    "long": (1.0, 40, 3, {}),
    "wide": (1.0, 12, 8, {"D": 16, "H": 32, "C": 10}),
}


def _example(name: str, tanh_sigmoid: bool = False) -> Any:
    """An example module; with ``tanh_sigmoid`` its sigmoid is ``0.5 + 0.5 * tanh(z / 2)``."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if tanh_sigmoid:
        module.sigmoid = lambda z: 0.5 + 0.5 * np.tanh(0.5 * z)
    return module


def reference_stack(params: dict[str, np.ndarray], L: int) -> LSTMSubject:
    """lstm_ref's own stacked LSTM as the implementation under test (packed layout)."""

    def run(p: Any, x: np.ndarray, dh: np.ndarray) -> Run:
        full = dict(p)
        for k in range(L):
            full[f"layer{k}.h0"] = np.zeros((x.shape[0], p["layer0.Wh"].shape[0]), x.dtype)
            full[f"layer{k}.c0"] = full[f"layer{k}.h0"].copy()
        h, cache = lr.stacked_lstm_forward(x, full)
        dx, grads = lr.stacked_lstm_backward(dh, cache)
        outputs: dict[str, Any] = {"h": h}
        for k, layer in enumerate(cache.layers):
            outputs[f"layer{k}.hT"], outputs[f"layer{k}.cT"] = layer.hT, layer.cT
        return Run(outputs, {**{n: grads[n] for n in p}, "x": dx})

    return LSTMSubject(run, params, "packed", label="lstm_ref")


def reference_model(params: dict[str, np.ndarray], L: int) -> LSTMSubject:
    """lstm_ref's model (loss on the last step) as the implementation under test."""

    def run(p: Any, x: np.ndarray, y: np.ndarray) -> Run:
        full = dict(p)
        for k in range(L):
            full[f"layer{k}.h0"] = np.zeros((x.shape[0], p["layer0.Wh"].shape[0]), x.dtype)
            full[f"layer{k}.c0"] = full[f"layer{k}.h0"].copy()
        value, grads = lr.loss(full, x, y)
        return Run({"loss": value}, {n: grads[n] for n in p})

    return LSTMSubject(run, params, "packed", head="last", label="lstm_ref model")


def subjects(seed: int) -> Iterator[tuple[str, str, LSTMSubject, int, int]]:
    """(implementation, regime, subject, T) in float64 and float32."""
    for name, tanh_sigmoid in [(n, t) for n in EXAMPLES for t in (False, True)]:
        module = _example(name, tanh_sigmoid)
        if tanh_sigmoid:
            name += "+tanh-sigmoid"
        makers: list[Callable[..., LSTMSubject]] = [getattr(module, f) for f in module.SUBJECTS]
        for make in makers:
            for regime, (scale, T, N, sizes) in REGIMES.items():
                for dtype in (np.float64, np.float32):
                    if make.__name__ != "model":
                        sizes = {k: v for k, v in sizes.items() if k != "C"}
                    s = make(**sizes)
                    params = {k: (v * scale).astype(dtype) for k, v in s.params.items()}
                    yield (
                        f"{name}.{make.__name__}",
                        regime,
                        dataclasses.replace(s, params=params),
                        T,
                        N,
                    )
    rng = np.random.default_rng(seed)
    for dtype in (np.float64, np.float32):
        p = lr.init_params(rng, N=8, D=16, H=32, C=5, L=2, dtype=dtype)
        stack = {k: v for k, v in p.items() if k.startswith("layer") and k[-2:] not in ("h0", "c0")}
        yield "lstm_ref.stack", "wide", reference_stack(stack, 2), 12, 8
        model = {k: v for k, v in p.items() if k[-2:] not in ("h0", "c0")}
        yield "lstm_ref.model", "wide", reference_model(model, 2), 12, 8


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args(argv)
    start = time.perf_counter()
    ratios: dict[str, list[np.ndarray]] = {"float64": [], "float32": []}
    worst: dict[str, tuple[float, str]] = {"float64": (0.0, ""), "float32": (0.0, "")}
    failed_runs = {"float64": 0, "float32": 0}
    runs = {"float64": 0, "float32": 0}
    for seed in args.seeds:
        for impl, regime, subject, T, N in subjects(seed):
            result = check_against(subject, N=N, T=T, seed=seed, fd="none")
            dtype = next(iter(subject.params.values())).dtype.name
            runs[dtype] += 1
            failed_runs[dtype] += not result.passed
            for r in result.inputs.values():
                err = np.abs(r.analytic - r.numeric)
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = np.where(r.error_estimate > 0, err / r.error_estimate, 0.0)
                ratio = np.where(err > 0, ratio, 0.0)
                ratios[dtype].append(ratio.ravel())
                top = float(ratio.max())
                if top > worst[dtype][0]:
                    worst[dtype] = (top, f"{impl} {regime} seed {seed}: {r.name}")
    elapsed = time.perf_counter() - start
    print(f"python bench/oracle_bounds.py --seeds {' '.join(map(str, args.seeds))}")
    print(f"{sys.version.split()[0]}, numpy {np.__version__}, {elapsed:.0f} s\n")
    print("| dtype | checks | elements | median | 99.9% | largest | where | K in use | fails |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|")
    for dtype, chunks in ratios.items():
        all_ratios = np.concatenate(chunks)
        q50, q999 = np.quantile(all_ratios, [0.5, 0.999])
        top, where = worst[dtype]
        print(
            f"| {dtype} | {runs[dtype]} | {all_ratios.size} | {q50:.3g} | {q999:.3g} | "
            f"{top:.3g} | {where} | {ROUNDING[dtype]:g} | {failed_runs[dtype]} |"
        )


if __name__ == "__main__":
    main()
