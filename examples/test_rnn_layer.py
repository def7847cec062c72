"""Gradient checks in a pytest suite, with gradcheck's pytest plugin.

Run from the repository root (the plugin comes with ``pip install gradcheck``)::

    python -m pytest examples/test_rnn_layer.py
    python -m pytest examples/test_rnn_layer.py --gradcheck-report-dir=reports/gradcheck

The ``gradcheck`` fixture has the check functions of :mod:`gradcheck` as methods; a failed
check fails the test (no ``assert`` needed) and its text report is shown in a "gradcheck report"
section of the test's output. ``@pytest.mark.gradcheck(...)`` sets options for every check in a
test, class or module. The fixture is session-scoped and stateless, so it also works inside
hypothesis ``@given`` tests.
"""

from __future__ import annotations

import numpy as np
import pytest
from check_spec import ANNOTATIONS, rnn_backward, rnn_backward_no_carry, rnn_forward

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


def _inputs(rng: np.random.Generator, n: int, t: int, d: int, h: int) -> dict[str, np.ndarray]:
    return {
        "x": rng.standard_normal((n, t, d)),
        "h0": rng.standard_normal((n, h)),
        "wx": rng.standard_normal((d, h)) / np.sqrt(d),
        "wh": rng.standard_normal((h, h)) / np.sqrt(h),
        "b": 0.1 * rng.standard_normal(h),
    }


def test_rnn_layer(gradcheck):
    inputs = _inputs(np.random.default_rng(0), n=3, t=6, d=4, h=5)
    result = gradcheck.check_layer(rnn_forward, rnn_backward, inputs, annotations=ANNOTATIONS)
    assert result.inputs["x"].checked == 72


@pytest.mark.gradcheck(method="richardson", mode="sample", samples=8)
def test_rnn_layer_sampled(gradcheck):
    result = gradcheck.check_layer(
        rnn_forward, rnn_backward, _inputs(np.random.default_rng(1), n=2, t=4, d=3, h=3)
    )
    assert result.method == "richardson"


@hypothesis.settings(max_examples=10, deadline=None)
@hypothesis.given(
    seed=st.integers(0, 2**16), t=st.integers(1, 5), h=st.integers(1, 4), d=st.integers(1, 3)
)
def test_rnn_layer_any_shape(gradcheck, seed, t, h, d):
    inputs = _inputs(np.random.default_rng(seed), n=2, t=t, d=d, h=h)
    gradcheck.check_layer(rnn_forward, rnn_backward, inputs, seed=seed)


@pytest.mark.xfail(reason="planted bug: no gradient carried back through time", strict=True)
def test_rnn_layer_without_carry_fails(gradcheck):
    inputs = _inputs(np.random.default_rng(0), n=3, t=6, d=4, h=5)
    gradcheck.check_layer(rnn_forward, rnn_backward_no_carry, inputs, annotations=ANNOTATIONS)
