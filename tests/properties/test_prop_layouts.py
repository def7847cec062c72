"""Properties: every layout converter moves gradients correctly.

For a layout of one layer's weights (the documents' and PyTorch's), the loss as a function
of the weights *in that layout* has the gradient ``grads_to_layout`` gives, and a function
of the packed weights that reads them through ``to_layout`` has the gradient
``grads_from_layout`` gives. The same holds for the whole model in nn.LSTM + nn.Linear
form (``params_from_torch`` / ``grads_to_torch`` and ``params_to_torch`` /
``grads_from_torch``).
"""

from __future__ import annotations

import pytest
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st
from prop_support import (
    check_from_layout,
    check_from_torch,
    check_to_layout,
    check_to_torch,
    expect_pass,
)

import gradcheck
import lstm_ref as lr
from lstm_ref.strategies import Config, Problem, configs, problems

# The "to" properties differentiate the LSTM loss through the converter: central differences
# verify the index mapping completely, and the complex step of that loss is covered by
# test_model_loss_gradients (see test_complex_step_with_saturated_gates_and_small_gradients
# for why it is not repeated here). The "from" properties differentiate linear functions,
# where the complex step is exact.
TO_METHODS = ["central"]
FROM_METHODS = ["central", "complex"]
# One layer for the layer converters (they act on layer 0); D == H and D != H both occur.
ONE_LAYER = problems(configs(N=(1, 3), T=(1, 4), L=1))
MODELS = problems(configs(N=(1, 3), T=(1, 4), H=(1, 6), L=(1, 3)))
PIN = Problem.build(Config(N=2, T=2, D=2, H=3, L=2, C=2))
PIN1 = Problem.build(Config(N=2, T=2, D=3, H=2, L=1, C=2))


@pytest.mark.parametrize("method", TO_METHODS)
@given(problem=ONE_LAYER, layout=st.sampled_from(lr.LAYOUTS))
@example(problem=PIN1, layout="torch")
@example(problem=PIN1, layout="concat_hx")
def test_grads_to_layout(method, problem, layout):
    """d loss / d (weights in the layout) == grads_to_layout(packed gradients)."""
    expect_pass(check_to_layout(problem, layout, method), (problem, layout))


@pytest.mark.parametrize("method", FROM_METHODS)
@given(problem=ONE_LAYER, layout=st.sampled_from(lr.LAYOUTS))
@example(problem=PIN1, layout="torch")
@example(problem=PIN1, layout="per_gate_col")
def test_grads_from_layout(method, problem, layout):
    """For f(Wx, Wh, b) = <R, to_layout(Wx, Wh, b)>, df = grads_from_layout(R)."""
    expect_pass(check_from_layout(problem, layout, method), (problem, layout))


@pytest.mark.parametrize("method", TO_METHODS)
@given(problem=MODELS)
@example(problem=PIN)
def test_grads_to_torch(method, problem):
    """d loss / d (nn.LSTM + nn.Linear state dict, h0, c0) == grads_to_torch(grads)."""
    expect_pass(check_to_torch(problem, method), problem)


@pytest.mark.parametrize("method", FROM_METHODS)
@given(problem=MODELS)
@example(problem=PIN)
def test_grads_from_torch(method, problem):
    """For f(params) = <R, params_to_torch(params)>, df = grads_from_torch(R)."""
    expect_pass(check_from_torch(problem, method), problem)


# ---------------------------------------------------------------------------------------
# Failures the soak run found, all false alarms of gradcheck (the analytic gradients are
# right), pinned until gradcheck handles them. The properties above avoid the conditions.
# ---------------------------------------------------------------------------------------


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


# Same cause, central differences: f = <R, params_to_torch(params)> cancels to near zero and
# a rounding-level difference on fc.W (relative 1.8e-11) is judged a mismatch.
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="gradcheck underestimates the rounding noise of a check_grad value that cancels",
)
@settings(phases=[Phase.explicit])
@given(problem=MODELS)
@example(problem=Problem.build(Config(N=1, T=1, D=4, H=4, L=1, C=4), seed=511))
def test_central_differences_with_a_cancelling_value(problem):
    expect_pass(check_from_torch(problem, "central", aligned=False), problem)


# Found by the soak run (when bias_hh was drawn with std 1, not 0.1): the extra bias
# saturates the gates, and the LSTM gradients (about 2e-6) lose digits in the analytic
# formula s * (1 - s) near s = 1. Their relative error of 3e-12 is rounding, but gradcheck's
# complex-step threshold scales with the median gradient over the inputs (2e-6 here, as
# 6 of 8 inputs are LSTM ones), not with the adjoints (0.1 to 1) whose rounding it is.
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="gradcheck's complex-step threshold ignores rounding relative to the adjoints",
)
@settings(phases=[Phase.explicit])
@given(problem=MODELS)
@example(problem=Problem.build(Config(N=1, T=4, D=2, H=1, L=1, C=3), seed=4))
def test_complex_step_with_saturated_gates_and_small_gradients(problem):
    expect_pass(check_to_torch(problem, "complex", bias_hh_scale=1.0), problem)


# The same with an ordinary bias_hh (std 0.1): in this one layer, with tanh(c) near 1, the
# analytic gradient of weight_ih carries a relative rounding error of 7e-13 from
# 1 - tanh(c)**2, over gradcheck's complex-step threshold.
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="gradcheck's complex-step threshold ignores rounding relative to the adjoints",
)
@settings(phases=[Phase.explicit])
@given(problem=ONE_LAYER, layout=st.sampled_from(lr.LAYOUTS))
@example(problem=Problem.build(Config(N=1, T=3, D=1, H=1, L=1, C=4), seed=41582365), layout="torch")
def test_complex_step_with_small_gradients_of_one_layer(problem, layout):
    expect_pass(check_to_layout(problem, layout, "complex"), (problem, layout))
