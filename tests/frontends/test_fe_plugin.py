"""The pytest fixture's front-end methods: check_torch, check_torch_module, check_jax."""

from __future__ import annotations

import importlib.util

import pytest

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed (pip install torch)")
def test_the_fixture_checks_torch_functions_and_modules(pytester):
    import torch  # noqa: F401  (imported here: pytester's inner run cannot import it afresh)

    import gradcheck.torch  # noqa: F401

    pytester.makepyfile(
        test_it="""
        import torch

        class Double(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return 2 * x

            @staticmethod
            def backward(ctx, grad):
                return 2 * grad

        class Ignores(Double):
            @staticmethod
            def backward(ctx, grad):
                return torch.full_like(grad, 2.0)  # right for grad_output = 1 only

        def x():
            return torch.linspace(-1, 1, 5, requires_grad=True)

        def test_good(gradcheck):
            assert gradcheck.check_torch(Double, (x(),)).passed
            torch.manual_seed(0)
            net = torch.nn.Linear(3, 2)
            assert gradcheck.check_torch_module(net, (torch.randn(4, 3),)).passed

        def test_contract(gradcheck):
            gradcheck.check_torch(Ignores, (x(),), wrt=["x"])
        """,
    )
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       gradcheck*GradientCheckFailure: gradcheck FAILED: 1 of 1 inputs have "
            "gradient mismatches (x: 5 of 5 checked elements*",
            "*gradcheck report*",
            "test_it.py::test_contract (torch.check_function)",
            "likely causes:",
            "- x [[]exact]: the backward pass is not linear in grad_output*",
        ]
    )


@pytest.mark.skipif(not HAS_JAX, reason='jax is not installed (pip install "gradcheck[jax]")')
def test_the_fixture_checks_jax_functions(pytester):
    pytester.makepyfile(
        test_it="""
        import jax, jax.numpy as jnp

        @jax.custom_vjp
        def cube(params):
            return params["w"] ** 3

        def cube_fwd(params):
            return cube(params), params["w"]

        def cube_bwd(w, g):
            return ({"w": 2 * w**2 * g},)  # 3 w^2 belongs

        cube.defvjp(cube_fwd, cube_bwd)

        def test_bad(gradcheck):
            gradcheck.check_jax(cube, {"params": {"w": jnp.linspace(0.5, 1.5, 4)}})
        """,
    )
    # in a subprocess: jax's extension cannot be initialised twice in one process
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       gradcheck*GradientCheckFailure: gradcheck FAILED: 1 of 1 inputs have "
            "gradient mismatches (params[[]'w'[]]: 4 of 4*"
        ]
    )
