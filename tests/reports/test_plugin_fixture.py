"""The pytest plugin's fixture and marker, tested with pytester."""

from __future__ import annotations

from pathlib import Path

import plugin_helpers as P


def test_fixture_passes_and_fails(pytester):
    pytester.makepyfile(
        layer=P.LAYER,
        test_it="""
        from layer import *

        def test_good(gradcheck):
            result = gradcheck.check_layer(forward, backward, inputs())
            assert result.passed and set(result.inputs) == {"x", "w"}

        def test_bad(gradcheck):
            gradcheck.check_layer(forward, backward_bad_unit_b, inputs(), annotations=NOTES)

        def test_every_check_function(gradcheck):
            x = np.linspace(-1, 1, 4)
            gradcheck.check_vjp(np.sin, lambda d, x: d * np.cos(x), {"x": x})
            gradcheck.check_grad(lambda x: float(np.sum(x**2)), lambda x: (2 * x,), {"x": x})
            loss = lambda p: (float(np.sum(p["x"] ** 2)), {"x": 2 * p["x"]})
            gradcheck.check_loss(loss, {"x": x})

            class Scale:
                def __init__(self):
                    self.params, self.grads = {"a": np.array([1.5, -0.5])}, {}
                def forward(self, v):
                    self.v = v
                    return v * self.params["a"]
                def backward(self, dout):
                    self.grads["a"] = dout * self.v
                    return dout * self.params["a"]

            gradcheck.check_module(Scale(), {"v": np.array([0.3, 2.0])})
            r = gradcheck.check_jvp(np.sin, lambda u, x: u * np.cos(x), {"x": x},
                                    vjp=lambda d, x: d * np.cos(x))
            assert r.options["check"] == "jvp" and "x (adjoint)" in r.inputs
            gradcheck.check_hvp(np.exp, lambda u, x: u * np.exp(x), {"x": x})
            gradcheck.check_gradgrad(np.sin, lambda d, x: d * np.cos(x),
                                     lambda u, d, x: -d * np.sin(x) * u, {"x": x})
        """,
    )
    result = P.run(pytester, "--strict-markers")
    result.assert_outcomes(passed=2, failed=1)
    # the failure points at the test's line, with a short message naming the input
    result.stdout.fnmatch_lines(
        [
            ">       gradcheck.check_layer(forward, backward_bad_unit_b, inputs(), "
            "annotations=NOTES)",
            "E       gradcheck*GradientCheckFailure: gradcheck FAILED: 1 of 2 inputs have "
            "gradient mismatches (w: 4 of 8 checked elements, worst w[[]*] analytic * vs "
            "numeric *). Full report in the 'gradcheck report' section.",
        ]
    )
    assert "_plugin.py" not in result.stdout.str()


def test_fixture_fails_a_transposed_hvp_with_its_report(pytester):
    pytester.makepyfile(
        test_it="""
        import numpy as np

        A = np.array([[2.0, 1.0], [0.5, 3.0]])

        def hvp_transposed(u, x):  # the Hessian of 0.5 x.A x is (A + A.T) / 2, not A
            return A @ u

        def test_hvp(gradcheck):
            gradcheck.check_hvp(lambda x: 0.5 * (A + A.T) @ x, hvp_transposed,
                                {"x": np.array([0.3, -0.7])}, wrt=["x"])
        """,
    )
    result = P.run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*GradientCheckFailure: gradcheck FAILED: 2 of 2 inputs have gradient mismatches*"]
    )
    report = result.stdout.str()
    assert "x (symmetry)" in report
    assert "check_hvp, method central" in report


def test_marker_options_merge_closest_wins(pytester):
    pytester.makepyfile(
        layer=P.LAYER,
        test_it="""
        from layer import *

        pytestmark = pytest.mark.gradcheck(method="richardson", seed=1, mode="full")

        @pytest.mark.gradcheck(seed=2)
        class TestLayer:
            @pytest.mark.gradcheck(mode="sample", samples=3)
            def test_marked(self, gradcheck):
                r = gradcheck.check_layer(forward, backward, inputs())
                assert (r.method, r.options["seed"], r.mode) == ("richardson", 2, "sample")
                assert r.options["samples"] == 3
                assert gradcheck.options() == {
                    "method": "richardson", "seed": 2, "mode": "sample", "samples": 3
                }

            def test_call_wins(self, gradcheck):
                r = gradcheck.check_layer(forward, backward, inputs(), method="central", seed=5)
                assert (r.method, r.options["seed"], r.mode) == ("central", 5, "full")

        def test_module_marker_only(gradcheck):
            r = gradcheck.check_layer(forward, backward, inputs())
            assert (r.method, r.options["seed"]) == ("richardson", 1)
        """,
    )
    P.run(pytester, "--strict-markers").assert_outcomes(passed=3)


def test_marker_is_registered(pytester):
    result = P.run(pytester, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.gradcheck(**options): options of the gradcheck*"])


def test_marker_takes_keywords_only(pytester):
    pytester.makepyfile(
        layer=P.LAYER,
        test_it="""
        from layer import *

        @pytest.mark.gradcheck("richardson")
        def test_positional(gradcheck):
            gradcheck.check_layer(forward, backward, inputs())
        """,
    )
    result = P.run(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*@pytest.mark.gradcheck takes keyword options only*"])


def test_bad_options_in_the_marker_are_reported(pytester):
    pytester.makepyfile(
        layer=P.LAYER,
        test_it="""
        from layer import *

        @pytest.mark.gradcheck(metod="richardson")
        def test_typo(gradcheck):
            gradcheck.check_layer(forward, backward, inputs())
        """,
    )
    result = P.run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*unknown option 'metod'; did you mean 'method'?*"])


def test_fixture_inside_hypothesis_given(pytester):
    pytester.makepyfile(
        layer=P.LAYER,
        test_it="""
        from hypothesis import HealthCheck, given, settings, strategies as st
        from layer import *

        @settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=[])
        @given(seed=st.integers(0, 10_000))
        def test_any_seed(gradcheck, seed):
            gradcheck.check_layer(forward, backward, inputs(seed), seed=seed)

        @settings(max_examples=6, deadline=None, derandomize=True, database=None)
        @given(scale=st.floats(0.5, 2.0))
        def test_bug_is_found(gradcheck, scale):
            x = np.linspace(-1, 1, 5) * scale
            gradcheck.check_grad(lambda v: float(np.sum(v**3)), lambda v: (3 * v**2 + 0.1,),
                                 {"v": x})
        """,
    )
    result = P.run(pytester, "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "FailedHealthCheck" not in out
    assert "function-scoped fixture" not in out
    result.stdout.fnmatch_lines(
        ["E       *test_bug_is_found(", "E           gradcheck=<*", "*scale=*"]
    )
    result.stdout.fnmatch_lines(["*- gradcheck report -*", "test_it.py::test_bug_is_found*"])


def test_the_example_test_file_runs(pytester):
    examples = Path(__file__).resolve().parents[2] / "examples"
    for name in ("check_spec.py", "test_rnn_layer.py"):
        pytester.path.joinpath(name).write_text((examples / name).read_text())
    result = P.run(pytester, "--strict-markers", "test_rnn_layer.py")
    result.assert_outcomes(passed=3, xfailed=1)
    result.stdout.fnmatch_lines(["gradcheck: * checks in 4 tests, 1 failed, worst error *"])
