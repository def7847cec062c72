"""float16 and bfloat16: checked in their own precision, with what that precision allows."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck as gc

ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 comes from ml_dtypes")

DTYPES = {"float16": np.dtype(np.float16), "bfloat16": np.dtype(ml_dtypes.bfloat16)}


def dense_forward(x, w):
    y = np.tanh(x @ w)
    return y, (x, w, y)


def dense_backward(dout, cache, factor=1.0):
    x, w, y = cache
    da = dout * (1 - y * y)
    return (da @ w.T).astype(x.dtype), (factor * (x.T @ da)).astype(w.dtype)


def _inputs(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((4, 5)).astype(dtype),
        "w": rng.standard_normal((5, 3)).astype(dtype),
    }


@pytest.mark.parametrize("name", DTYPES)
def test_the_function_sees_its_own_dtype(name):
    seen = set()

    def forward(x, w):
        seen.update({x.dtype, w.dtype})
        return dense_forward(x, w)

    gc.check_layer(forward, dense_backward, _inputs(DTYPES[name]))
    assert seen == {DTYPES[name]}


@pytest.mark.parametrize("seed", range(5))
def test_float16_correct_code_passes(seed):
    result = gc.check_layer(dense_forward, dense_backward, _inputs(np.float16, seed))
    assert result.passed, result
    assert all(r.detection_bound < 0.5 for r in result.inputs.values())


@pytest.mark.parametrize("name", DTYPES)
@pytest.mark.parametrize("seed", range(5))
def test_no_mismatch_is_claimed_on_correct_code(name, seed):
    # bfloat16 keeps 8 bits: many of its elements cannot be verified, but none is a mismatch
    result = gc.check_layer(dense_forward, dense_backward, _inputs(DTYPES[name], seed))
    assert not any(r.mismatches for r in result.inputs.values()), result


@pytest.mark.parametrize(("name", "factor"), [("float16", 1.5), ("bfloat16", 2.0)])
def test_a_coarse_bug_is_caught(name, factor):
    result = gc.check_layer(
        dense_forward,
        lambda d, c: dense_backward(d, c, factor),
        _inputs(DTYPES[name]),
    )
    assert result.inputs["w"].mismatches > 0
    assert result.inputs["x"].mismatches == 0
