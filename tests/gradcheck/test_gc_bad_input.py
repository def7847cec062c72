"""Every failure a user can cause raises a typed error naming the argument and what was expected."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import gc_functions as F
import numpy as np
import pytest

import gradcheck as gc
from gradcheck import (
    ComplexStepError,
    GradcheckError,
    InputMutationError,
    InvalidArgumentError,
    InvalidGradientError,
    InvalidOutputError,
    NondeterminismError,
    NonFiniteError,
    UserCodeError,
)

X = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
W = np.linspace(0.5, 1.5, 12).reshape(3, 4)


def sq_fn(x):
    return float(np.sum(x**2))


def sq_grad(x):
    return (2 * x,)


def layer(**inputs):
    return lambda **opts: gc.check_layer(F.tanh_forward, F.tanh_backward, inputs, **opts)


def grad_check(x, **opts):
    return gc.check_grad(sq_fn, sq_grad, {"x": x}, **opts)


def with_backward(backward, inputs=None):
    inputs = inputs or {"x": X, "w": W}
    return gc.check_layer(lambda x, w: (x @ w, (x, w)), backward, inputs)


def loss_with_grads(grads_fn):
    def loss_fn(p):
        return float(np.sum(p["a"] * p["b"])), grads_fn(p)

    return gc.check_loss(loss_fn, {"a": X.copy(), "b": X.copy() + 1})


def _counter_nondet():
    state = {"n": 0}

    def fn(x):
        state["n"] += 1
        return float(np.sum(x**2)) + 1e-9 * state["n"]

    return fn


def _mutating_forward(x):
    x *= 1.0000001
    return np.tanh(x), np.tanh(x)


def _raising_forward(x):
    raise RuntimeError("boom")


def _keyword_progress(*, done, total):
    pass


def _broken_progress(done, total):
    return done + str(total)  # TypeError when called


def _abs_loss(x):
    return np.sum(x * np.conj(x))


def _float_cast(x):
    return float(np.sum(np.asarray(x, dtype=np.float64) ** 2))


CASES = [
    # --- input arrays
    ("int-input", lambda: grad_check(np.arange(6)), InvalidArgumentError, "dtype int64.*wrt"),
    ("bool-input", lambda: grad_check(X > 0), InvalidArgumentError, "dtype bool"),
    ("object-input", lambda: grad_check(X.astype(object)), InvalidArgumentError, "dtype object"),
    (
        "complex-step-in-float16",
        lambda: grad_check(X.astype(np.float16), method="complex"),
        gc.ComplexStepError,
        "complex64 at least",
    ),
    (
        "complex-input-complex-step",
        lambda: grad_check(X + 0j, method="complex"),
        ComplexStepError,
        r"complex inputs \(\['x'\]\)",
    ),
    (
        "complex-input-real-gradient",
        lambda: gc.check_grad(
            lambda z: float(np.sum(np.abs(z) ** 2)), lambda z: (2 * z.real,), {"z": X + 1j}
        ),
        InvalidGradientError,
        "complex input 'z' must be a complex array .* dtype complex128 .*PyTorch",
    ),
    ("list-input", lambda: grad_check([1.0, 2.0]), InvalidArgumentError, "numpy array.*'x'"),
    ("nan-input", lambda: grad_check(np.array([1.0, np.nan])), NonFiniteError, r"'x'.*\[1\]"),
    ("inf-input", lambda: grad_check(np.array([np.inf, 1.0])), NonFiniteError, r"inf.*\[0\]"),
    ("empty-input", lambda: grad_check(np.zeros(0)), InvalidArgumentError, "no elements"),
    (
        "zero-size-axis",
        lambda: grad_check(np.zeros((3, 0))),
        InvalidArgumentError,
        r"shape \(3, 0\)",
    ),
    ("inputs-not-dict", lambda: gc.check_grad(sq_fn, sq_grad, [X]), InvalidArgumentError, "dict"),
    ("inputs-empty", lambda: gc.check_grad(sq_fn, sq_grad, {}), InvalidArgumentError, "empty"),
    (
        "input-name-not-str",
        lambda: gc.check_grad(sq_fn, sq_grad, {0: X}),
        InvalidArgumentError,
        "string name",
    ),
    # --- outputs
    (
        "nan-output",
        lambda: gc.check_layer(lambda x: (x * np.nan, None), F.tanh_backward, {"x": X}),
        NonFiniteError,
        "output 0 of forward",
    ),
    (
        "forward-forgot-cache",
        lambda: gc.check_layer(np.tanh, F.tanh_backward, {"x": X}),
        InvalidOutputError,
        "forget to return the cache",
    ),
    (
        "output-not-array",
        lambda: gc.check_layer(lambda x: ([1.0], None), F.tanh_backward, {"x": X}),
        InvalidOutputError,
        "output 0 of forward must be a numpy array",
    ),
    (
        "integer-output",
        lambda: gc.check_layer(lambda x: (np.ones(3, int), None), F.tanh_backward, {"x": X}),
        InvalidOutputError,
        "dtype int64",
    ),
    (
        "loss-not-a-pair",
        lambda: gc.check_loss(lambda p: 1.0, {"a": X}),
        InvalidOutputError,
        r"pair \(loss, grads\)",
    ),
    (
        "loss-not-scalar",
        lambda: gc.check_loss(lambda p: (p["a"], {"a": p["a"]}), {"a": X}),
        InvalidOutputError,
        "scalar",
    ),
    (
        "fn-returns-huge-int",
        lambda: gc.check_grad(lambda x: 10**400, sq_grad, {"x": X}),
        NonFiniteError,
        "fn returned 1000.*, an integer too large for a float",
    ),
    (
        "fn-returns-int-too-long-to-print",
        lambda: gc.check_grad(lambda x: -(10**5000), sq_grad, {"x": X}),
        NonFiniteError,
        "fn returned <an int of 16610 bits>",
    ),
    (
        "loss-returns-huge-int",
        lambda: gc.check_loss(lambda p: (10**400, {"a": p["a"]}), {"a": X}),
        NonFiniteError,
        "loss_fn returned 1000.*, an integer too large",
    ),
    (
        "fn-returns-timedelta",
        lambda: gc.check_grad(
            lambda x: np.timedelta64(int(x.sum() * 1e6), "ns"), sq_grad, {"x": X}
        ),
        InvalidOutputError,
        "fn must return a scalar number, got timedelta64",
    ),
    (
        "nan-cotangents",
        lambda: gc.check_vjp(
            np.sin, lambda d, x: d * np.cos(x), {"x": X}, cotangents=np.where(X > 0, np.nan, 1.0)
        ),
        NonFiniteError,
        r"cotangents\[0\] contains nan at index \[1, 0\]",
    ),
    (
        "inf-cotangents-layer",
        lambda: gc.check_layer(
            F.tanh_forward, F.tanh_backward, {"x": X}, cotangents=[np.full(X.shape, -np.inf)]
        ),
        NonFiniteError,
        r"cotangents\[0\] contains -inf at index \[0, 0\]",
    ),
    # --- gradients
    (
        "nan-gradient",
        lambda: gc.check_grad(sq_fn, lambda x: (x * np.nan,), {"x": X}),
        NonFiniteError,
        "gradient for 'x' contains nan",
    ),
    (
        "gradient-shape",
        lambda: gc.check_grad(sq_fn, lambda x: (x[:1],), {"x": X}),
        InvalidGradientError,
        r"shape \(1, 3\) but 'x' has shape \(2, 3\)",
    ),
    (
        "gradient-transposed",
        lambda: gc.check_grad(sq_fn, lambda x: (x.T,), {"x": X}),
        InvalidGradientError,
        "transposed",
    ),
    (
        "gradient-dtype",
        lambda: gc.check_grad(
            sq_fn, lambda x: ((2 * x).astype(np.float64),), {"x": X.astype(np.float32)}
        ),
        InvalidGradientError,
        "dtype float64 but 'x' has dtype float32",
    ),
    (
        "gradient-not-array",
        lambda: gc.check_grad(sq_fn, lambda x: ([0.0] * 6,), {"x": X}),
        InvalidGradientError,
        "must be a numpy array",
    ),
    (
        "backward-wrong-count",
        lambda: with_backward(lambda d, c: (d @ c[1].T,)),
        InvalidGradientError,
        r"returned 1 gradient\(s\) but there are 2 inputs",
    ),
    (
        "grads-missing-name",
        lambda: loss_with_grads(lambda p: {"a": p["b"]}),
        InvalidGradientError,
        r"missing \['b'\]",
    ),
    (
        "grads-extra-name",
        lambda: loss_with_grads(lambda p: {"a": p["b"], "b": p["a"], "c": p["a"]}),
        InvalidGradientError,
        r"unexpected \['c'\]",
    ),
    (
        "grads-not-dict",
        lambda: loss_with_grads(lambda p: [p["b"], p["a"]]),
        InvalidGradientError,
        "dict keyed like params",
    ),
    # --- options
    ("bad-method", lambda: grad_check(X, method="forward"), InvalidArgumentError, "method must"),
    ("bad-mode", lambda: grad_check(X, mode="fast"), InvalidArgumentError, "mode must be one"),
    ("bad-kinks", lambda: grad_check(X, kinks="ignore"), InvalidArgumentError, "kinks must"),
    (
        "unknown-option",
        lambda: grad_check(X, tol=1e-3),
        InvalidArgumentError,
        "unknown option 'tol'; did you mean",
    ),
    ("negative-seed", lambda: grad_check(X, seed=-1), InvalidArgumentError, "seed=-1"),
    ("bool-seed", lambda: grad_check(X, seed=True), InvalidArgumentError, "seed=True"),
    ("zero-samples", lambda: grad_check(X, samples=0), InvalidArgumentError, "samples"),
    ("negative-rtol", lambda: grad_check(X, rtol=-1.0), InvalidArgumentError, "rtol=-1.0"),
    ("nan-atol", lambda: grad_check(X, atol=float("nan")), InvalidArgumentError, "atol=nan"),
    ("zero-safety", lambda: grad_check(X, safety=0), InvalidArgumentError, "safety"),
    ("wrt-unknown", lambda: grad_check(X, wrt=["y"]), InvalidArgumentError, "'y'.*not an input"),
    ("wrt-string", lambda: grad_check(X, wrt="x"), InvalidArgumentError, "list of input names"),
    ("wrt-empty", lambda: grad_check(X, wrt=[]), InvalidArgumentError, "wrt is empty"),
    (
        "executor-not-executor",
        lambda: grad_check(X, executor=4),
        InvalidArgumentError,
        "concurrent.futures.Executor",
    ),
    (
        "executor-unpicklable",
        lambda: gc.check_grad(
            lambda x: float(np.sum(x)), sq_grad, {"x": X}, executor=ThreadPoolExecutor(1)
        ),
        InvalidArgumentError,
        "picklable",
    ),
    (
        "annotation-axes",
        lambda: grad_check(X, annotations={"x": {"axes": ["a"]}}),
        InvalidArgumentError,
        "1 entries but input 'x' has 2 axes",
    ),
    (
        "annotation-blocks",
        lambda: grad_check(X, annotations={"x": {"axes": [None, ("gate", "ab")]}}),
        InvalidArgumentError,
        "multiple of the number of labels",
    ),
    # huge and array-valued options: a typed error, never OverflowError or "truth value of an
    # array is ambiguous"
    ("huge-rtol", lambda: grad_check(X, rtol=10**400), InvalidArgumentError, "rtol=1000.*int"),
    (
        "rtol-too-long-to-print",
        lambda: grad_check(X, rtol=10**5000),
        InvalidArgumentError,
        "rtol=<an int of 16610 bits>",
    ),
    ("huge-safety", lambda: grad_check(X, safety=10**400), InvalidArgumentError, "safety=1000"),
    (
        "huge-nondet-tol",
        lambda: grad_check(X, nondet_tol=10**400),
        InvalidArgumentError,
        "nondet_tol=1000",
    ),
    ("huge-budget", lambda: grad_check(X, budget=10**400), InvalidArgumentError, "budget=1000"),
    (
        "array-rtol",
        lambda: grad_check(X, rtol=np.array([1e-3])),
        InvalidArgumentError,
        r"finite number >= 0 for rtol.*ndarray",
    ),
    (
        "array-seed",
        lambda: grad_check(X, seed=np.array(3)),
        InvalidArgumentError,
        r"integer >= 0 for seed.*ndarray",
    ),
    (
        "array-method",
        lambda: grad_check(X, method=np.array(["central", "richardson"])),
        InvalidArgumentError,
        r"method must be one of.*ndarray",
    ),
    (
        "array-mode-0d",
        lambda: grad_check(X, mode=np.array("full")),
        InvalidArgumentError,
        r"mode must be one of.*ndarray",
    ),
    (
        "annotation-labels-not-iterable",
        lambda: grad_check(X, annotations={"x": {"axes": [None, ("gate", 3)]}}),
        InvalidArgumentError,
        r"\['axes'\]\[1\] has labels 3 \(type=int\)",
    ),
    (
        "progress-one-argument",
        lambda: grad_check(X, progress=lambda done: None),
        InvalidArgumentError,
        r"progress must accept two positional arguments.*signature \(done\)",
    ),
    (
        "progress-keyword-only",
        lambda: grad_check(X, progress=_keyword_progress),
        InvalidArgumentError,
        "progress must accept two positional arguments",
    ),
    (
        "progress-raises-type-error",
        lambda: grad_check(X, progress=_broken_progress),
        UserCodeError,
        r"progress callback progress\(\d+, \d+\) raised TypeError.*two positional",
    ),
    ("fn-not-callable", lambda: gc.check_grad(1, sq_grad, {"x": X}), InvalidArgumentError, "fn"),
    (
        "module-params-attr-not-str",
        lambda: gc.check_module(object(), {"x": X}, params_attr=3),
        InvalidArgumentError,
        "name of an attribute of the layer for params_attr",
    ),
    (
        "module-grads-attr-array",
        lambda: gc.check_module(object(), {"x": X}, grads_attr=np.array("grads")),
        InvalidArgumentError,
        r"grads_attr=array\('grads'",
    ),
    (
        "module-without-params",
        lambda: gc.check_module(object(), {"x": X}),
        InvalidArgumentError,
        "layer.forward",
    ),
    # --- behaviour of the user's code
    (
        "forward-raises",
        lambda: gc.check_layer(_raising_forward, F.tanh_backward, {"x": X}),
        UserCodeError,
        "forward at the unperturbed inputs raised RuntimeError: boom",
    ),
    (
        "nondeterministic",
        lambda: gc.check_grad(_counter_nondet(), sq_grad, {"x": X}),
        NondeterminismError,
        "not deterministic.*difference 1e-09",
    ),
    (
        "mutates-input",
        lambda: gc.check_layer(_mutating_forward, F.tanh_backward, {"x": X}),
        InputMutationError,
        r"forward changed its input\(s\) \['x'\]",
    ),
    (
        "complex-rejected",
        lambda: gc.check_grad(_float_cast, sq_grad, {"x": X}, method="complex"),
        ComplexStepError,
        "discards the imaginary part",
    ),
    (
        "complex-not-holomorphic",
        lambda: gc.check_grad(_abs_loss, sq_grad, {"x": X}, method="complex"),
        ComplexStepError,
        "not complex-step safe",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "match"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_raises_typed_error(call, error, match):
    with pytest.raises(error, match=match) as info:
        call()
    assert isinstance(info.value, GradcheckError)


def test_table_covers_at_least_fifteen_kinds():
    assert len(CASES) >= 15
    assert len({c[0] for c in CASES}) == len(CASES)


def test_argument_errors_are_value_errors():
    with pytest.raises(ValueError, match="mode must"):
        grad_check(X, mode="fast")


def test_user_code_error_chains_the_original():
    with pytest.raises(UserCodeError) as info:
        gc.check_layer(_raising_forward, F.tanh_backward, {"x": X})
    assert isinstance(info.value.__cause__, RuntimeError)
    assert info.value.during.startswith("forward")
