"""gradcheck.jax: functions with custom_vjp and custom_jvp rules over pytrees, checked in their
own dtype, with the contract checks of a VJP."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip(
    "jax",
    reason='jax is not installed (pip install "gradcheck[jax]"); the jax front end is untested',
)
import jax.numpy as jnp  # noqa: E402

from gradcheck import InvalidArgumentError, InvalidOutputError, UserCodeError  # noqa: E402
from gradcheck.jax import check_function  # noqa: E402

pytestmark = pytest.mark.jax


def normal(*shape, seed=0, dtype=jnp.float32):
    return jax.random.normal(jax.random.key(seed), shape, dtype=dtype)


@pytest.fixture
def x64():
    """float64 arrays for the test (jax computes in float32 by default)."""
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


def layer_norm(bwd_bug=None):
    """A layer norm with a hand-written VJP, as custom_vjp users write it."""

    @jax.custom_vjp
    def ln(x, gamma, beta):
        return ln_fwd(x, gamma, beta)[0]

    def ln_fwd(x, gamma, beta):
        xc = x - x.mean(-1, keepdims=True)
        r = 1 / jnp.sqrt((xc**2).mean(-1, keepdims=True) + 1e-5)
        return xc * r * gamma + beta, (xc * r, r, gamma)

    def ln_bwd(res, dy):
        xhat, r, gamma = res
        if bwd_bug == "abs":
            dy = jnp.abs(dy)
        d = dy * gamma
        dx = r * (d - d.mean(-1, keepdims=True) - xhat * (d * xhat).mean(-1, keepdims=True))
        dgamma, dbeta = (dy * xhat).sum(0), dy.sum(0)
        if bwd_bug == "beta sign":
            dbeta = -dbeta
        elif bwd_bug == "no mean term":
            dx = r * (d - xhat * (d * xhat).mean(-1, keepdims=True))
        elif bwd_bug == "float16":
            return dx.astype(jnp.float16), dgamma, dbeta
        return dx, dgamma, dbeta

    ln.defvjp(ln_fwd, ln_bwd)
    return ln


def ln_inputs(dtype=jnp.float32):
    return normal(4, 6, dtype=dtype), normal(6, seed=1, dtype=dtype), normal(6, seed=2, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_correct_custom_vjp_passes_in_its_own_dtype(dtype, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    result = check_function(layer_norm(), ln_inputs(jnp.dtype(dtype)))
    assert result.passed, result
    assert list(result.inputs) == ["x", "gamma", "beta"]
    assert {r.dtype for r in result.inputs.values()} == {dtype}


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_planted_bugs_in_a_custom_vjp_are_caught(jit):
    ln = layer_norm("beta sign")
    result = check_function(jax.jit(ln) if jit else ln, ln_inputs())
    assert [r.name for r in result.failed_inputs] == ["beta"]
    assert result.findings_for("beta")[0].kind == "constant_ratio"
    result = check_function(layer_norm("no mean term"), ln_inputs())
    assert [r.name for r in result.failed_inputs] == ["x"]


def test_a_custom_jvp_rule_is_checked_through_its_transpose():
    @jax.custom_jvp
    def softplus(x):
        return jnp.logaddexp(x, 0.0)

    @softplus.defjvp
    def softplus_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return softplus(x), jax.nn.sigmoid(x) * t

    assert check_function(softplus, (normal(5),)).passed

    @jax.custom_jvp
    def wrong(x):
        return jnp.logaddexp(x, 0.0)

    @wrong.defjvp
    def wrong_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return wrong(x), jax.nn.sigmoid(-x) * t  # sigmoid of the wrong sign

    assert not check_function(wrong, (normal(5),)).passed


def test_pytree_leaves_are_named_by_their_paths_and_others_pass_through():
    def loss(params, batch):
        h = jnp.tanh(batch["x"] @ params["layer1"]["W"] + params["layer1"]["b"])
        logits = h @ params["out"]
        picked = jnp.take_along_axis(jax.nn.log_softmax(logits), batch["y"][:, None], axis=1)
        return -picked.mean()

    params = {
        "layer1": {"W": normal(3, 4), "b": normal(4, seed=1)},
        "out": normal(4, 2, seed=2),
    }
    batch = {"x": normal(5, 3, seed=3), "y": jnp.array([0, 1, 1, 0, 1])}
    result = check_function(loss, (params, batch))
    assert result.passed
    assert list(result.inputs) == [
        "params['layer1']['W']",
        "params['layer1']['b']",
        "params['out']",
        "batch['x']",
    ]
    only = check_function(loss, (params, batch), wrt=["params['layer1']"])
    assert list(only.inputs) == ["params['layer1']['W']", "params['layer1']['b']"]


def test_outputs_may_be_pytrees_with_integer_leaves():
    def f(x):
        return {"value": jnp.sin(x), "index": jnp.argmax(x), "pair": (x**2, x.sum())}

    assert check_function(f, normal(4)).passed


# ---- contracts ----------------------------------------------------------------------------------


def test_a_vjp_nonlinear_in_the_cotangent_breaks_the_contract():
    result = check_function(layer_norm("abs"), ln_inputs())
    findings = [f for f in result.findings if f.kind == "contract"]
    assert findings
    assert all("not linear in the cotangent" in f.summary for f in findings)
    assert not result.passed


def test_a_gradient_of_another_dtype_breaks_the_contract():
    result = check_function(layer_norm("float16"), ln_inputs())
    (finding,) = [f for f in result.findings if f.kind == "contract"]
    assert finding.summary == (
        "the VJP returned a gradient of dtype float16 for x, whose dtype is float32"
    )
    assert not result.passed
    assert (
        check_function(layer_norm("float16"), ln_inputs(), contracts=False).inputs["gamma"].passed
    )


# ---- arguments ----------------------------------------------------------------------------------


def test_float64_without_x64_is_refused_rather_than_checked_in_float32():
    assert not jax.config.jax_enable_x64
    with pytest.raises(InvalidArgumentError, match="jax_enable_x64 is off"):
        check_function(jnp.sin, (np.linspace(0.0, 1.0, 4),))


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ((jnp.array([1, 2]),), "no input leaf is a floating-point array"),
        ((), "inputs is empty"),
        ("x", "Expected inputs to be a tuple"),
    ],
    ids=["integers", "empty", "string"],
)
def test_bad_inputs(inputs, message):
    with pytest.raises(InvalidArgumentError, match=message):
        check_function(jnp.sin, inputs)


def test_a_function_without_floating_outputs_is_refused():
    with pytest.raises(InvalidOutputError, match="no floating-point array"):
        check_function(lambda x: jnp.argmax(x), (normal(3),))


def test_the_callers_arrays_are_left_as_they_were():
    x = np.linspace(-1.0, 1.0, 5, dtype=np.float32)
    before = x.copy()
    check_function(jnp.tanh, (x,))
    assert np.array_equal(x, before)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_is_checked_in_its_own_dtype(dtype):
    inputs = ln_inputs(jnp.dtype(dtype))
    result = check_function(layer_norm(), inputs)
    assert result.inputs["x"].dtype == dtype
    # no mismatch is claimed on correct code; bfloat16's 8 bits leave elements unverified
    assert not any(r.mismatches for r in result.inputs.values()), result
    if dtype == "float16":
        assert result.passed, result
    bug = check_function(layer_norm("beta sign"), inputs)
    assert not bug.passed


def test_an_error_in_the_backward_rule_names_the_backward_pass():
    @jax.custom_vjp
    def f(x):
        return jnp.sin(x)

    def bwd(x, g):
        raise ValueError("the bwd rule is unfinished")

    f.defvjp(lambda x: (jnp.sin(x), x), bwd)
    with pytest.raises(
        UserCodeError,
        match=r"the VJP of .*<locals>.f \(through jax.vjp\) raised ValueError: the bwd rule",
    ):
        check_function(f, (normal(3),))
