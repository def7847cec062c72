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
from hypothesis import example, given
from hypothesis import strategies as st
from prop_support import (
    check_from_layout,
    check_from_torch,
    check_to_layout,
    check_to_torch,
    expect_pass,
)

import lstm_ref as lr
from lstm_ref.strategies import Config, Problem, configs, problems

METHODS = ["central", "complex"]
# One layer for the layer converters (they act on layer 0); D == H and D != H both occur.
ONE_LAYER = problems(configs(N=(1, 3), T=(1, 4), L=1))
MODELS = problems(configs(N=(1, 3), T=(1, 4), H=(1, 6), L=(1, 3)))
PIN = Problem.build(Config(N=2, T=2, D=2, H=3, L=2, C=2))
PIN1 = Problem.build(Config(N=2, T=2, D=3, H=2, L=1, C=2))

# Failures the soak run found, all false alarms of gradcheck at the time (the analytic
# gradients were right to rounding), fixed there and pinned here:
# f = <R, to_layout(W)> is -0.0088, a sum of terms of size 18.8: the complex-step guard took
# the rounding noise as 2 eps |f| and called the function not complex-step safe
SOAK_FROM_LAYOUT = Problem.build(Config(N=1, T=1, D=3, H=2, L=1, C=2), seed=4)
# the same cancellation: with central differences a relative difference of 1.8e-11 on fc.W
# was judged a mismatch, and with the complex step the guard fired again
SOAK_FROM_TORCH_CENTRAL = Problem.build(Config(N=1, T=1, D=4, H=4, L=1, C=4), seed=511)
SOAK_FROM_TORCH_COMPLEX = Problem.build(Config(N=3, T=1, D=2, H=2, L=3, C=2), seed=41006422)
# saturated gates: the LSTM gradients (2e-6, 3e-5) keep a relative rounding error of 1e-12
# from s * (1 - s) and 1 - tanh(c)**2 near 1, over a complex-step threshold that scaled with
# the gradients checked, not with the adjoints (0.1 to 1) whose rounding it is
SOAK_TO_TORCH = Problem.build(Config(N=1, T=4, D=2, H=1, L=1, C=3), seed=4)
SOAK_TO_LAYOUT = Problem.build(Config(N=1, T=3, D=1, H=1, L=1, C=4), seed=41582365)


@pytest.mark.parametrize("method", METHODS)
@given(problem=ONE_LAYER, layout=st.sampled_from(lr.LAYOUTS))
@example(problem=PIN1, layout="torch")
@example(problem=PIN1, layout="concat_hx")
@example(problem=SOAK_TO_LAYOUT, layout="torch")
def test_grads_to_layout(method, problem, layout):
    """d loss / d (weights in the layout) == grads_to_layout(packed gradients)."""
    expect_pass(check_to_layout(problem, layout, method), (problem, layout))


@pytest.mark.parametrize("method", METHODS)
@given(problem=ONE_LAYER, layout=st.sampled_from(lr.LAYOUTS))
@example(problem=PIN1, layout="torch")
@example(problem=PIN1, layout="per_gate_col")
@example(problem=SOAK_FROM_LAYOUT, layout="torch")
def test_grads_from_layout(method, problem, layout):
    """For f(Wx, Wh, b) = <R, to_layout(Wx, Wh, b)>, df = grads_from_layout(R)."""
    expect_pass(check_from_layout(problem, layout, method), (problem, layout))


@pytest.mark.parametrize("method", METHODS)
@given(problem=MODELS)
@example(problem=PIN)
@example(problem=SOAK_TO_TORCH)
def test_grads_to_torch(method, problem):
    """d loss / d (nn.LSTM + nn.Linear state dict, h0, c0) == grads_to_torch(grads)."""
    expect_pass(check_to_torch(problem, method), problem)


@pytest.mark.parametrize("method", METHODS)
@given(problem=MODELS)
@example(problem=PIN)
@example(problem=SOAK_FROM_TORCH_CENTRAL)
@example(problem=SOAK_FROM_TORCH_COMPLEX)
def test_grads_from_torch(method, problem):
    """For f(params) = <R, params_to_torch(params)>, df = grads_from_torch(R)."""
    expect_pass(check_from_torch(problem, method), problem)
