"""Every gradcheck error pickles with its message and attributes, so that an error raised in a
worker process (``executor=`` a process pool) reaches the caller as itself."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor

import gc_functions as F
import numpy as np
import pytest

import gradcheck as gc
from gradcheck import _cli


def _failed_result():
    return gc.check_grad(
        lambda x: float(np.sum(x**2)), lambda x: (3 * x,), {"x": np.array([0.5, -1.0, 2.0])}
    )


def _failure():
    with pytest.raises(gc.GradientCheckFailure) as info:
        _failed_result().raise_for_failure()
    return info.value


ERRORS = {
    "GradcheckError": lambda: gc.GradcheckError("base"),
    "InvalidArgumentError": lambda: gc.InvalidArgumentError("Expected a dict for inputs"),
    "InvalidOutputError": lambda: gc.InvalidOutputError("fn must return a scalar"),
    "InvalidGradientError": lambda: gc.InvalidGradientError("wrong shape"),
    "NonFiniteError": lambda: gc.NonFiniteError("input 'x' contains nan at index [1]"),
    "NondeterminismError": lambda: gc.NondeterminismError("not deterministic", difference=1e-9),
    "InputMutationError": lambda: gc.InputMutationError(
        "forward changed its input(s)", names=("x", "w"), during="forward"
    ),
    "ComplexStepError": lambda: gc.ComplexStepError("discards the imaginary part"),
    "ExecutorError": lambda: gc.ExecutorError("executor: the ProcessPoolExecutor failed"),
    "UserCodeError": lambda: gc.UserCodeError("backward raised KeyError: 'w'", during="backward"),
    "MissingDependencyError": lambda: gc.MissingDependencyError(
        'needs jinja2; pip install "gradcheck[report]"', name="jinja2"
    ),
    "GradientCheckFailure": _failure,
    "UsageError": lambda: _cli.UsageError("expected MODULE:NAME"),
    "UserFailure": lambda: _cli.UserFailure("importing spec.py raised SyntaxError"),
}


def test_the_table_covers_every_public_error():
    public = {
        name for name in gc.__all__ if isinstance(getattr(gc, name), type)
        and issubclass(getattr(gc, name), BaseException)
    }  # fmt: skip
    assert public <= set(ERRORS)


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_pickle_with_their_message_and_attributes(name):
    error = ERRORS[name]()
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert again.args == error.args
    attributes = {k: v for k, v in vars(error).items() if k != "result"}
    assert {k: v for k, v in vars(again).items() if k != "result"} == attributes
    if isinstance(error, ImportError):
        assert again.name == error.name == "jinja2"


def test_the_result_of_a_gradient_check_failure_survives_pickling():
    error = _failure()
    result = pickle.loads(pickle.dumps(error)).result
    assert isinstance(result, gc.CheckResult)
    assert not result.passed
    assert list(result.inputs) == ["x"]
    np.testing.assert_array_equal(result.inputs["x"].numeric, error.result.inputs["x"].numeric)
    assert result.to_dict() == error.result.to_dict()
    assert str(result) == str(error.result)
    assert [f.kind for f in result.findings] == [f.kind for f in error.result.findings]


def test_attributes_of_the_specific_errors_are_kept():
    again = pickle.loads(pickle.dumps(ERRORS["InputMutationError"]()))
    assert (again.names, again.during) == (("x", "w"), "forward")
    assert pickle.loads(pickle.dumps(ERRORS["NondeterminismError"]())).difference == 1e-9
    assert pickle.loads(pickle.dumps(ERRORS["UserCodeError"]())).during == "backward"


def test_a_function_raising_in_a_worker_process_gives_user_code_error():
    """Before, the error failed to unpickle in the parent and arrived as BrokenProcessPool."""
    x = np.linspace(F.FRAGILE_X0, 1.0, 12)
    with (
        ProcessPoolExecutor(max_workers=2) as pool,
        pytest.raises(gc.UserCodeError, match=r"ZeroDivisionError: x\[0\] moved") as info,
    ):
        gc.check_layer(F.first_element_fragile, F.fragile_backward, {"x": x}, executor=pool)
    assert info.value.during.startswith("perturbed evaluation at x[0]")


def test_float64_cotangents_for_a_float32_layer_are_named_as_the_cause():
    x, w = np.ones((2, 3), np.float32), np.ones((3, 2), np.float32)
    with pytest.raises(gc.InvalidGradientError, match="the cotangents passed are float64"):
        gc.check_layer(
            lambda x, w: (x @ w, (x, w)),
            lambda d, c: (d @ c[1].T, c[0].T @ d),
            {"x": x, "w": w},
            cotangents=np.ones((2, 2)),
        )


def test_a_module_without_a_params_dict_is_pointed_to_params_attr():
    class Dense:
        def __init__(self):
            self.W = np.ones((3, 2))

        def forward(self, x):
            return x @ self.W

        def backward(self, dout):
            return dout @ self.W.T

    with pytest.raises(gc.InvalidArgumentError, match="params_attr="):
        gc.check_module(Dense(), {"x": np.ones((2, 3))})
