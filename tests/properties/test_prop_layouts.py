"""Properties: every layout converter moves gradients correctly.

For a layout of one layer's weights (the documents' and PyTorch's), the loss as a function
of the weights *in that layout* has the gradient ``grads_to_layout`` gives, and a function
of the packed weights that reads them through ``to_layout`` has the gradient
``grads_from_layout`` gives. The same holds for the whole model in nn.LSTM + nn.Linear
form (``params_from_torch`` / ``grads_to_torch`` and ``params_to_torch`` /
``grads_from_torch``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st
from prop_support import (
    adjoint_weights,
    check_from_layout,
    check_to_layout,
    expect_pass,
    model_loss_fn,
    options,
)

import gradcheck
import lstm_ref as lr
from lstm_ref.strategies import Config, Problem, configs, problems

METHODS = ["central", "complex"]
# One layer for the layer converters (they act on layer 0); D == H and D != H both occur.
ONE_LAYER = problems(configs(N=(1, 3), T=(1, 4), L=1))
MODELS = problems(configs(N=(1, 3), T=(1, 4), H=(1, 6), L=(1, 3)))
PIN = Problem.build(Config(N=2, T=2, D=2, H=3, L=2, C=2))
PIN1 = Problem.build(Config(N=2, T=2, D=3, H=2, L=1, C=2))


@pytest.mark.parametrize("method", METHODS)
@given(problem=ONE_LAYER, layout=st.sampled_from(lr.LAYOUTS))
@example(problem=PIN1, layout="torch")
@example(problem=PIN1, layout="concat_hx")
def test_grads_to_layout(method, problem, layout):
    """d loss / d (weights in the layout) == grads_to_layout(packed gradients)."""
    expect_pass(check_to_layout(problem, layout, method), (problem, layout))


@pytest.mark.parametrize("method", METHODS)
@given(problem=ONE_LAYER, layout=st.sampled_from(lr.LAYOUTS))
@example(problem=PIN1, layout="torch")
@example(problem=PIN1, layout="per_gate_col")
def test_grads_from_layout(method, problem, layout):
    """For f(Wx, Wh, b) = <R, to_layout(Wx, Wh, b)>, df = grads_from_layout(R)."""
    expect_pass(check_from_layout(problem, layout, method), (problem, layout))


@pytest.mark.parametrize("method", METHODS)
@given(problem=MODELS)
@example(problem=PIN)
def test_grads_to_torch(method, problem):
    """d loss / d (nn.LSTM + nn.Linear state dict, h0, c0) == grads_to_torch(grads)."""
    sd, h0, c0 = lr.params_to_torch(problem.params)
    rng = np.random.default_rng(problem.seed)
    for k in range(problem.config.L):  # nonzero bias_hh: the loss reads bias_ih + bias_hh
        sd[f"lstm.bias_hh_l{k}"] = rng.normal(size=sd[f"lstm.bias_hh_l{k}"].shape)
    inputs = {**sd, "h0": h0, "c0": c0}
    names = list(sd)
    loss_fn = model_loss_fn(problem)

    def model(*arrays):
        return lr.params_from_torch(dict(zip(names, arrays[:-2], strict=True)), *arrays[-2:])

    def fn(*arrays):
        return loss_fn(model(*arrays))[0]

    def grad(*arrays):
        sd_grads, dh0, dc0 = lr.grads_to_torch(loss_fn(model(*arrays))[1])
        return {**sd_grads, "h0": dh0, "c0": dc0}

    result = gradcheck.check_grad(fn, grad, inputs, **options(problem, method))
    expect_pass(result, problem)


@pytest.mark.parametrize("method", METHODS)
@given(problem=MODELS)
@example(problem=PIN)
def test_grads_from_torch(method, problem):
    """For f(params) = <R, params_to_torch(params)>, df = grads_from_torch(R)."""
    sd, h0, c0 = lr.params_to_torch(problem.params)
    rng = np.random.default_rng(problem.seed)
    R = adjoint_weights({**sd, "h0": h0, "c0": c0}, rng)
    for k in range(problem.config.L):
        R[f"lstm.bias_hh_l{k}"] = R[f"lstm.bias_ih_l{k}"].copy()
    R_h0, R_c0 = R.pop("h0"), R.pop("c0")
    names = list(problem.params)

    def fn(*arrays):
        sd, h0, c0 = lr.params_to_torch(dict(zip(names, arrays, strict=True)))
        total = np.sum(R_h0 * h0) + np.sum(R_c0 * c0)
        return total + sum(np.sum(R[k] * sd[k]) for k in R)

    def grad(*arrays):
        return lr.grads_from_torch(R, R_h0, R_c0)

    result = gradcheck.check_grad(fn, grad, problem.params, **options(problem, method))
    expect_pass(result, problem)


# Found by the soak run (before adjoint_weights aligned R with the weights): here
# f = <R, to_layout(W)> is -0.0088, a sum of terms of total magnitude 18.8. gradcheck's
# complex-step guard (complex step against central differences along one direction) takes
# the rounding noise of a check_grad function as 2 eps |f|, a thousand times too small, and
# wrongly calls the function not complex-step safe. Pinned until the guard measures the noise.
@pytest.mark.xfail(
    strict=True,
    raises=gradcheck.ComplexStepError,
    reason="gradcheck's complex-step guard estimates the noise from |f|, which can cancel",
)
@settings(phases=[Phase.explicit])
@given(problem=ONE_LAYER, layout=st.sampled_from(lr.LAYOUTS))
@example(problem=Problem.build(Config(N=1, T=1, D=3, H=2, L=1, C=2), seed=4), layout="torch")
def test_complex_step_guard_with_a_cancelling_value(problem, layout):
    check_from_layout(problem, layout, "complex", aligned=False)
