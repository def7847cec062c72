"""Shared helpers for the lstm_ref tests (a stand-in until gradcheck replaces them).

The numerical derivatives here perturb copies of the arrays, never the originals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from lstm_ref import init_params

# Central differences in float64 with step EPS: truncation error ~ EPS**2 * |f'''| / 6
# (1e-13) plus rounding ~ 1e-16 * |f| / EPS (1e-10 for |f| ~ 1); the tolerances below
# leave a margin of ~100 over that.
EPS = 1e-6
CD_RTOL = 1e-6
CD_ATOL = 1e-8
# Complex step: no subtraction, so the derivative is exact to rounding.
CS_STEP = 1e-30
CS_RTOL = 1e-12
CS_ATOL = 1e-14


def central_diff(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Gradient of the real scalar ``f`` at ``x`` by central differences, every element."""
    grad = np.empty(x.shape, dtype=np.float64)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += eps
        minus[index] -= eps
        grad[index] = (float(f(plus)) - float(f(minus))) / (2 * eps)
    return grad


def complex_step(
    f: Callable[[np.ndarray], complex], x: np.ndarray, h: float = CS_STEP
) -> np.ndarray:
    """Gradient of the holomorphic scalar ``f`` at real ``x`` by the complex step."""
    grad = np.empty(x.shape, dtype=np.float64)
    base = x.astype(np.complex128)
    for index in np.ndindex(x.shape):
        z = base.copy()
        z[index] += 1j * h
        grad[index] = complex(f(z)).imag / h
    return grad


def with_replaced(params: Mapping[str, np.ndarray], name: str, value: np.ndarray) -> dict:
    out = dict(params)
    out[name] = value
    return out


def model_case(
    seed: int,
    *,
    N: int = 2,
    T: int = 3,
    D: int = 3,
    H: int = 2,
    C: int = 3,
    L: int = 1,
    head: str = "last",
    objective: str = "softmax",
    dtype: type = np.float64,
) -> tuple[dict, np.ndarray, np.ndarray]:
    """Random params, input and target for ``lstm_ref.loss``."""
    rng = np.random.default_rng(seed)
    params = init_params(rng, N=N, D=D, H=H, C=C, L=L, dtype=dtype)
    x: np.ndarray = rng.normal(size=(N, T, D)).astype(dtype)
    if objective == "softmax":
        y = rng.integers(0, C, size=(N,) if head == "last" else (N, T))
    else:
        y = rng.normal(size=(N, C) if head == "last" else (N, T, C)).astype(dtype)
    return params, x, y


def layer_case(seed: int, N: int, T: int, D: int, H: int, dtype: type = np.float64) -> dict:
    """Random arguments of lstm_forward, plus upstream gradients dh and dcT."""
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(size=(N, T, D)).astype(dtype),
        "h0": rng.normal(size=(N, H)).astype(dtype),
        "c0": rng.normal(size=(N, H)).astype(dtype),
        "Wx": (rng.normal(size=(D, 4 * H)) / np.sqrt(D)).astype(dtype),
        "Wh": (rng.normal(size=(H, 4 * H)) / np.sqrt(H)).astype(dtype),
        "b": rng.normal(size=4 * H).astype(dtype),
        "dh": rng.normal(size=(N, T, H)).astype(dtype),
        "dcT": rng.normal(size=(N, H)).astype(dtype),
    }


def assert_bitwise_equal(a: np.ndarray, b: np.ndarray) -> None:
    """Same dtype, same shape, same bytes (so -0.0 differs from 0.0)."""
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def assert_close(
    actual: np.ndarray, desired: np.ndarray, rtol: float, atol: float, name: str = ""
) -> None:
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol, err_msg=name)
