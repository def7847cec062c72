"""Correct float32 gradients that gradcheck does not yet pass, found by the soak run.

For each case one test holds now (no mismatch is claimed: the gradient is right) and one is a
strict ``xfail`` (the check passes): the day gradcheck passes the case, the ``xfail`` fails and
says so, and the case moves to an ``@example`` of its property (docs/properties.md, "What the
soak run found").
"""

from __future__ import annotations

import numpy as np
import pytest
from prop_support import check_step

import gradcheck
from lstm_ref.strategies import Config, Problem


def step_quantized_wx() -> gradcheck.CheckResult:
    problem = Problem.build(Config(N=1, T=1, D=1, H=1, L=1, C=3, dtype="float32"), seed=2850)
    douts = (np.array([[-0.6732655]], np.float32), np.array([[0.39868516]], np.float32))
    return check_step(problem, douts, "central")


CASES = {
    # x is -1.5e-5: a move of Wx changes the gates by less than their rounding, so the value
    # moves by whole rounding steps; Wx's gradients (2e-9 to 3e-7) are within that noise (this
    # case was a false mismatch until the noise was measured on spacings that see it)
    "step_quantized_wx": step_quantized_wx,
}


@pytest.mark.parametrize("case", CASES)
def test_no_mismatch_is_claimed(case):
    result = CASES[case]()
    assert not any(r.mismatches for r in result.inputs.values())
    assert all(
        d.passed or d.status == gradcheck.Status.UNVERIFIED
        for r in result.inputs.values()
        for d in r.directions
    )


@pytest.mark.xfail(strict=True, reason="open: left unverified (docs/properties.md)")
@pytest.mark.parametrize("case", CASES)
def test_the_check_passes(case):
    assert CASES[case]().passed
