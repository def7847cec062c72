"""Demo: ``python -m lstm_ref`` runs document 000's network forward and backward.

It builds the 3-layer stacked LSTM (N=32, D=2, H=30, C=2) on a short random sequence,
prints the loss, every parameter's shape and gradient norm, and a central-difference spot
check of a few elements of every parameter with their relative errors.
"""

from __future__ import annotations

import time

import numpy as np

from ._model import init_params, loss, loss_value
from ._numcheck import spot_check

N, T, D, H, C, L = 32, 5, 2, 30, 2, 3
SEED = 0
EPS = 1e-5


def main() -> None:
    """Run the demo and print its report."""
    rng = np.random.default_rng(SEED)
    params = init_params(rng, N=N, D=D, H=H, C=C, L=L)
    x = rng.normal(size=(N, T, D))
    y = rng.integers(0, C, size=N)
    start = time.perf_counter()
    value, grads = loss(params, x, y)
    elapsed = time.perf_counter() - start
    print(f"Document 000's network: {L} stacked LSTM layers + fully connected + softmax")
    print(f"N={N} sequences of T={T} steps, D={D} inputs, H={H} hidden units, C={C} classes")
    print(f"loss = {float(value):.6f}   (forward + backward in {elapsed * 1e3:.1f} ms)\n")

    checks = spot_check(lambda p: loss_value(p, x, y), params, grads, rng, count=4, eps=EPS)
    print(f"{'parameter':<11} {'shape':<10} {'|grad|':>9}   relative error of 4 elements")
    worst: tuple[float, str, tuple[int, ...], float, float] = (-1.0, "", (), 0.0, 0.0)
    for check in checks:
        errors = check.rel_errors
        for error, index, a, n in zip(
            errors, check.indices, check.analytic, check.numeric, strict=True
        ):
            if error > worst[0]:
                worst = (error, check.name, index, a, n)
        shape = "x".join(str(s) for s in params[check.name].shape)
        norm = float(np.linalg.norm(grads[check.name]))
        cells = "  ".join(f"{e:.1e}" for e in errors)
        print(f"{check.name:<11} {shape:<10} {norm:>9.3e}   {cells}")
    error, name, index, a, n = worst
    count = sum(len(c.indices) for c in checks)
    noise = abs(float(value)) * float(np.finfo(np.float64).eps) / EPS
    print(
        f"\nCentral differences, eps = {EPS:g}, at {count} random elements; relative error "
        f"|a - n| / (|a| + |n|).\nWorst {error:.1e} at {name}{list(index)}: analytic "
        f"{a:.6e}, numeric {n:.6e}.\nThe difference quotient carries about "
        f"|loss| * 2.2e-16 / eps = {noise:.0e} of rounding noise, which dominates tiny entries."
    )


if __name__ == "__main__":
    main()
