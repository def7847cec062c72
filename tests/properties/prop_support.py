"""The checks behind the gradient properties, shared by the properties and the mutation
self-test (which runs the same checks against planted bugs).

Each ``check_*`` calls gradcheck's public API the way a user would, on the arguments a
:class:`lstm_ref.strategies.Problem` provides, and returns the :class:`gradcheck.CheckResult`.
The backward pass (or the whole model) is a parameter, so a mutant can stand in for the
reference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from hypothesis import note
from hypothesis import strategies as st

import gradcheck
import lstm_ref as lr
from gradcheck.strategies import cotangents
from lstm_ref.strategies import Config, Problem

# Function calls one check may spend on an element-wise (full) check; larger problems are
# checked along random directions first (mode="auto"), and localized when that fails.
BUDGET = 600

#: the three ways the properties differentiate: (dtype of the problem, gradcheck method)
MODES = {
    "float64": ("float64", "central"),
    "float32": ("float32", "central"),
    "complex": ("float64", "complex"),
}

STEP_NAMES = ("x", "prev_h", "prev_c", "Wx", "Wh", "b")
SEQUENCE_NAMES = ("x", "h0", "Wx", "Wh", "b", "c0")
_LAYER0 = {"Wx": "layer0.Wx", "Wh": "layer0.Wh", "b": "layer0.b"}


def options(problem: Problem, method: str, **extra: Any) -> dict[str, Any]:
    """gradcheck options: the method, the budget, and a seed that varies with the example."""
    return {"method": method, "budget": BUDGET, "seed": problem.seed % 2**31, **extra}


def layer_annotations(problem: Problem, names: Sequence[str]) -> dict[str, object]:
    """Axis annotations of layer 0's weights under the argument names of a layer function."""
    notes = lr.annotations(problem.params)
    return {name: notes[_LAYER0[name]] for name in names if name in _LAYER0}


def as_dtype(dtype: np.dtype[Any]) -> Callable[[np.ndarray], np.ndarray]:
    """Cast real data to the dtype of the parameters being checked (complex under complex
    step: lstm_ref refuses mixed dtypes); integer labels pass through."""

    def cast(a: np.ndarray) -> np.ndarray:
        return a if a.dtype.kind in "iu" else a.astype(dtype, copy=False)

    return cast


# ---------------------------------------------------------------------------------------
# the checks
# ---------------------------------------------------------------------------------------


def check_step(
    problem: Problem,
    douts: tuple[np.ndarray, ...],
    method: str,
    backward: Callable[..., Any] = lr.lstm_step_backward,
) -> gradcheck.CheckResult:
    """One time step: dx, dprev_h, dprev_c, dWx, dWh, db for upstream (dnext_h, dnext_c)."""
    return gradcheck.check_layer(
        lr.lstm_step_forward,
        backward,
        problem.step_inputs(),
        cotangents=douts,
        annotations=layer_annotations(problem, STEP_NAMES),
        **options(problem, method),
    )


def _sequence_forward(
    x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray, c0: np.ndarray
) -> tuple[np.ndarray, np.ndarray, lr.LSTMCache]:
    h, cache = lr.lstm_forward(x, h0, Wx, Wh, b, c0)
    return h, cache.cT, cache  # every h_t and the final cell state are outputs


def check_sequence(
    problem: Problem,
    douts: tuple[np.ndarray, ...],
    method: str,
    lstm_backward: Callable[..., Any] = lr.lstm_backward,
) -> gradcheck.CheckResult:
    """One layer over the sequence: upstream gradients of every h_t and of c_T (dcT)."""

    def backward(dh: np.ndarray, dcT: np.ndarray, cache: lr.LSTMCache) -> Any:
        return lstm_backward(dh, cache, dcT)

    inputs = problem.sequence_inputs()
    notes: dict[str, object] = dict(layer_annotations(problem, SEQUENCE_NAMES))
    notes["x"] = lr.input_annotations(inputs["x"])
    return gradcheck.check_layer(
        _sequence_forward,
        backward,
        inputs,
        cotangents=douts,
        annotations=notes,
        **options(problem, method),
    )


def check_stack(
    problem: Problem, douts: tuple[np.ndarray, ...], method: str
) -> gradcheck.CheckResult:
    """L stacked layers: dx and every layer's Wx, Wh, b, h0, c0 for upstream dh (N, T, H)."""
    params = problem.stack_params()
    names = list(params)

    def forward(x: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, Any]:
        return lr.stacked_lstm_forward(x, dict(zip(names, values, strict=True)))

    def backward(dh: np.ndarray, cache: lr.StackedLSTMCache) -> tuple[np.ndarray, ...]:
        dx, grads = lr.stacked_lstm_backward(dh, cache)
        return (dx, *(grads[n] for n in names))

    notes: dict[str, object] = {"x": lr.input_annotations(problem.x), **lr.annotations(params)}
    return gradcheck.check_layer(
        forward,
        backward,
        {"x": problem.x.copy(), **params},
        cotangents=douts,
        annotations=notes,
        **options(problem, method),
    )


def model_loss_fn(
    problem: Problem, loss: Callable[..., Any] = lr.loss
) -> Callable[[Mapping[str, np.ndarray]], Any]:
    """``params -> (loss, grads)`` of the problem's model, for :func:`gradcheck.check_loss`."""
    cfg = problem.config
    x, y = problem.x, problem.y

    def loss_fn(params: Mapping[str, np.ndarray]) -> Any:
        cast = as_dtype(params["fc.W"].dtype)
        return loss(params, cast(x), cast(y), head=cfg.head, objective=cfg.objective)

    return loss_fn


def check_model(
    problem: Problem, method: str, loss: Callable[..., Any] = lr.loss
) -> gradcheck.CheckResult:
    """The whole model: every layer's parameters and the FC layer, through the loss."""
    return gradcheck.check_loss(
        model_loss_fn(problem, loss),
        problem.params,
        annotations=lr.annotations(problem.params),
        **options(problem, method),
    )


# ---------------------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------------------


def expect_pass(result: gradcheck.CheckResult, problem: object) -> None:
    """Fail the property unless the check passed; the failure notes the full comparison."""
    if not result.passed:
        note(f"{problem!r}\n{result}")
        failed = ", ".join(r.name for r in result.failed_inputs) or "a joint screen"
        raise AssertionError(f"gradient check failed for {failed} at {problem!r}")


def expect_no_mismatch(result: gradcheck.CheckResult, problem: object) -> None:
    """Fail the property if the check found a mismatch (or a failing screen).

    For central differences where they cannot resolve every gradient (float32 through deep
    stacks, vanishing gradients): elements whose numerical derivative stays too uncertain are
    reported unverified, which is no evidence against the gradient; the properties that use
    this also run the complex step, which resolves them, with :func:`expect_pass`.
    """
    mismatched = [r.name for r in result.inputs.values() if r.mismatches]
    screens = [s for s in result.screens if s.status == gradcheck.Status.MISMATCH]
    unverified = sum(r.unverified for r in result.inputs.values())
    if unverified:
        note(f"{unverified} element(s) unverified by {result.method} differences")
    if mismatched or screens:
        note(f"{problem!r}\n{result}")
        failed = ", ".join(mismatched) or "a joint screen"
        raise AssertionError(f"gradient mismatch for {failed} at {problem!r}")


# ---------------------------------------------------------------------------------------
# cases: a problem with the cotangents (upstream gradients) of the function's outputs
# ---------------------------------------------------------------------------------------

Case = tuple[Problem, tuple[np.ndarray, ...]]


def step_shapes(cfg: Config) -> list[tuple[int, ...]]:
    """next_h and next_c."""
    return [(cfg.N, cfg.H), (cfg.N, cfg.H)]


def sequence_shapes(cfg: Config) -> list[tuple[int, ...]]:
    """h (every step) and c_T."""
    return [(cfg.N, cfg.T, cfg.H), (cfg.N, cfg.H)]


def stack_shapes(cfg: Config) -> list[tuple[int, ...]]:
    """The top layer's h (every step)."""
    return [(cfg.N, cfg.T, cfg.H)]


def cases(
    problem_strategy: st.SearchStrategy[Problem],
    shapes_of: Callable[[Config], list[tuple[int, ...]]],
) -> st.SearchStrategy[Case]:
    """Problems with cotangents drawn for the output shapes of their config."""

    @st.composite
    def draw_case(draw: st.DrawFn) -> Case:
        problem = draw(problem_strategy)
        cfg = problem.config
        douts = draw(cotangents(*shapes_of(cfg), dtype=cfg.dtype), label="cotangents")
        return problem, douts

    return draw_case()


def pinned(
    cfg: Config, shapes_of: Callable[[Config], list[tuple[int, ...]]], seed: int = 0
) -> Case:
    """A fixed case for ``@example``: the problem of ``cfg`` and seeded cotangents."""
    rng = np.random.default_rng(seed)
    douts = tuple(
        (rng.uniform(0.1, 1, size=s) * rng.choice([-1, 1], size=s)).astype(cfg.dtype)
        for s in shapes_of(cfg)
    )
    return Problem.build(cfg, seed), douts


def in_mode(case: Case, mode: str) -> tuple[Problem, tuple[np.ndarray, ...], str]:
    """The case rebuilt in the dtype of ``mode`` (one of :data:`MODES`), and the method.

    Cases are drawn in float64 and converted here, so that one strategy (and one list of
    ``@example`` pins) serves every mode of a parametrized property.
    """
    dtype, method = MODES[mode]
    problem, douts = case
    if problem.config.dtype != dtype:
        problem = Problem.build(replace(problem.config, dtype=dtype), problem.seed)
        douts = tuple(d.astype(dtype) for d in douts)
    return problem, douts, method


# ---------------------------------------------------------------------------------------
# layout converters (one layer: layer 0 of the problem)
# ---------------------------------------------------------------------------------------

LAYER0 = ("layer0.Wx", "layer0.Wh", "layer0.b")
# Scales of the random bias_hh given to torch weights (bias_ih holds the model's b), so that
# the loss reads the sum of the two: small for the layer property, large enough to saturate
# some gates for the model property (the two scales of the soak run's findings).
LAYER_BIAS_HH = 0.1
MODEL_BIAS_HH = 1.0


def _with_layer0(params: Mapping[str, np.ndarray], *packed: np.ndarray) -> dict[str, np.ndarray]:
    out = dict(params)
    for name, value in zip(LAYER0, packed, strict=True):
        out[name] = value
    dtype = packed[-1].dtype  # complex under complex step: everything else follows
    return {k: v.astype(dtype, copy=False) for k, v in out.items()}


def check_to_layout(
    problem: Problem,
    layout: str,
    method: str,
    grads_to_layout: Callable[..., dict[str, np.ndarray]] = lr.grads_to_layout,
) -> gradcheck.CheckResult:
    """d loss / d (layer 0's weights in ``layout``) against ``grads_to_layout(packed grads)``."""
    params = problem.params
    weights = lr.to_layout(layout, *(params[k] for k in LAYER0))
    if layout == "torch":  # a nonzero bias_hh, so that the sum of the two biases matters
        rng = np.random.default_rng(problem.seed)
        bias_hh = LAYER_BIAS_HH * rng.normal(size=weights["bias_hh"].shape)
        weights["bias_hh"] = bias_hh.astype(problem.x.dtype)
    names = list(weights)
    loss_fn = model_loss_fn(problem)

    def model(arrays: Sequence[np.ndarray]) -> Any:
        packed = lr.from_layout(layout, dict(zip(names, arrays, strict=True)))
        return loss_fn(_with_layer0(params, *packed))

    def fn(*arrays: np.ndarray) -> Any:
        return model(arrays)[0]

    def grad(*arrays: np.ndarray) -> dict[str, np.ndarray]:
        grads = model(arrays)[1]
        return grads_to_layout(layout, *(grads[k] for k in LAYER0))

    return gradcheck.check_grad(fn, grad, weights, **options(problem, method))


def random_weights(arrays: Mapping[str, np.ndarray], rng: np.random.Generator) -> dict[str, Any]:
    """Random weights R for a linear test function ``f(x) = <R, x>``, one per array.

    The terms of the inner product have random signs, so ``f`` may cancel to near zero: the
    checker must judge its rounding noise by the size of the terms, not of the value.
    """
    return {key: rng.normal(size=value.shape) for key, value in arrays.items()}


def check_from_layout(
    problem: Problem,
    layout: str,
    method: str,
    grads_from_layout: Callable[..., tuple[np.ndarray, ...]] = lr.grads_from_layout,
) -> gradcheck.CheckResult:
    """For f(Wx, Wh, b) = <R, to_layout(Wx, Wh, b)>, df against ``grads_from_layout(R)``.

    f is linear, so its gradient is the adjoint of the conversion applied to R: exactly what
    grads_from_layout must compute. For torch, R gives bias_hh the weights of bias_ih (the
    gradient of a function of their sum)."""
    packed = {k.split(".")[1]: problem.params[k] for k in LAYER0}
    rng = np.random.default_rng(problem.seed)
    R = random_weights(lr.to_layout(layout, **packed), rng)
    if layout == "torch":
        R["bias_hh"] = R["bias_ih"].copy()
    R = {k: v.astype(problem.x.dtype) for k, v in R.items()}

    def fn(Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray) -> Any:
        weights = lr.to_layout(layout, Wx, Wh, b)
        return sum(np.sum(R[k] * weights[k]) for k in R)

    def grad(Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
        return grads_from_layout(layout, R)

    return gradcheck.check_grad(fn, grad, packed, **options(problem, method))


def check_to_torch(problem: Problem, method: str) -> gradcheck.CheckResult:
    """d loss / d (nn.LSTM + nn.Linear state dict, h0, c0) against ``grads_to_torch``."""
    sd, h0, c0 = lr.params_to_torch(problem.params)
    rng = np.random.default_rng(problem.seed)
    for k in range(problem.config.L):  # nonzero bias_hh: the loss reads bias_ih + bias_hh
        sd[f"lstm.bias_hh_l{k}"] = MODEL_BIAS_HH * rng.normal(size=sd[f"lstm.bias_hh_l{k}"].shape)
    inputs = {**sd, "h0": h0, "c0": c0}
    names = list(sd)
    loss_fn = model_loss_fn(problem)

    def model(arrays: Sequence[np.ndarray]) -> Any:
        state = dict(zip(names, arrays[:-2], strict=True))
        return loss_fn(lr.params_from_torch(state, arrays[-2], arrays[-1]))

    def fn(*arrays: np.ndarray) -> Any:
        return model(arrays)[0]

    def grad(*arrays: np.ndarray) -> dict[str, np.ndarray]:
        sd_grads, dh0, dc0 = lr.grads_to_torch(model(arrays)[1])
        return {**sd_grads, "h0": dh0, "c0": dc0}

    return gradcheck.check_grad(fn, grad, inputs, **options(problem, method))


def check_from_torch(problem: Problem, method: str) -> gradcheck.CheckResult:
    """For f(params) = <R, params_to_torch(params)>, df against ``grads_from_torch(R)``."""
    sd, h0, c0 = lr.params_to_torch(problem.params)
    rng = np.random.default_rng(problem.seed)
    R = random_weights({**sd, "h0": h0, "c0": c0}, rng)
    for k in range(problem.config.L):
        R[f"lstm.bias_hh_l{k}"] = R[f"lstm.bias_ih_l{k}"].copy()
    R_h0, R_c0 = R.pop("h0"), R.pop("c0")
    names = list(problem.params)

    def fn(*arrays: np.ndarray) -> Any:
        sd, h0, c0 = lr.params_to_torch(dict(zip(names, arrays, strict=True)))
        total = np.sum(R_h0 * h0) + np.sum(R_c0 * c0)
        return total + sum(np.sum(R[k] * sd[k]) for k in R)

    def grad(*arrays: np.ndarray) -> dict[str, np.ndarray]:
        return lr.grads_from_torch(R, R_h0, R_c0)

    return gradcheck.check_grad(fn, grad, problem.params, **options(problem, method))
