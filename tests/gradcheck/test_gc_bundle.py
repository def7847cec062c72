"""Replay bundles: a failed check saved and run again gives the same verdict and numbers."""

from __future__ import annotations

import json
import zipfile

import gc_functions as F
import numpy as np
import pytest

import gradcheck as gc
from gradcheck._bundle import BundleError


def _rng(seed=0):
    return np.random.default_rng(seed)


def _affine_inputs(seed=0):
    rng = _rng(seed)
    return {
        "x": rng.standard_normal((4, 3)),
        "w": rng.standard_normal((3, 5)),
        "b": rng.standard_normal(5),
    }


class Scale:
    """check_module's object style, with one wrong parameter gradient."""

    def __init__(self, wrong=True):
        self.params, self.grads, self.wrong = {"a": np.array([1.5, -0.5, 2.0])}, {}, wrong

    def forward(self, v):
        self.v = v
        return v * self.params["a"]

    def backward(self, dout):
        self.grads["a"] = dout * self.v * (1.1 if self.wrong else 1.0)
        return dout * self.params["a"]


def _loss(p):
    r = p["w"] @ p["x"] - 1.0
    return 0.5 * float(r @ r), {"w": np.outer(r, p["x"]), "x": 2 * p["w"].T @ r}  # x doubled


CASES = {
    "layer": lambda: (
        gc.check_layer,
        (F.affine_forward, F.affine_backward_scaled, _affine_inputs()),
        {"seed": 5, "method": "richardson", "annotations": {"w": {"axes": [None, "unit"]}}},
    ),
    "vjp": lambda: (
        gc.check_vjp,
        (np.sin, lambda d, x: d * np.cos(x) * 1.01, {"x": np.linspace(0, 1, 6)}),
        {"mode": "directional", "directions": 3, "seed": 2},
    ),
    "grad": lambda: (
        gc.check_grad,
        (
            lambda x, k: float(np.sum(x**3)) * k,
            lambda x, k: (3 * x**2 * k + 0.1, None),
            {"x": np.linspace(-1, 1, 7), "k": 2},
        ),
        {"wrt": ["x"], "mode": "sample", "samples": 3},
    ),
    "loss": lambda: (
        gc.check_loss,
        (_loss, {"w": _rng(1).standard_normal((2, 3)), "x": _rng(2).standard_normal(3)}),
        {},
    ),
    "module": lambda: (gc.check_module, (Scale(), {"v": np.array([0.3, 2.0, -1.0])}), {}),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_a_saved_failure_replays_with_the_same_verdict_and_numbers(tmp_path, kind):
    check, args, options = CASES[kind]()
    result = check(*args, **options)
    assert not result.passed
    path = gc.save_bundle(tmp_path / "failure.npz", result, check, *args, title=kind)
    bundle = gc.Bundle.load(path)
    assert bundle.kind == kind
    assert bundle.title == kind
    again = gc.replay(path, *args[:-1])
    assert again.reproduced, again.differences
    assert again.summary().startswith("replay: same verdict and numbers as recorded (gradcheck ")
    assert not again.result.passed
    assert again.result.to_dict()["inputs"] == result.to_dict()["inputs"]
    assert [f.summary for f in again.result.findings] == [f.summary for f in result.findings]
    assert again.result.calls == result.calls


def test_the_bundle_keeps_inputs_seed_options_and_cotangents(tmp_path):
    rng = _rng(3)
    inputs = {"x": rng.standard_normal((2, 3)), "w": rng.standard_normal((3, 2))}
    dout = (rng.standard_normal((2, 2)), rng.standard_normal((2, 3)))
    notes = {"w": {"axes": ["input", ("unit", ("a", "b"))], "group": "dense"}}
    result = gc.check_layer(
        F.two_output_forward,
        F.two_output_backward_missing_term,
        inputs,
        cotangents=dout,
        seed=11,
        safety=6.0,
        wrt=["w"],
        annotations=notes,
    )
    path = gc.save_bundle(
        tmp_path / "b.npz",
        result,
        gc.check_layer,
        F.two_output_forward,
        F.two_output_backward_missing_term,
        inputs,
        cotangents=dout,
    )
    bundle = gc.Bundle.load(path)
    for name in inputs:
        np.testing.assert_array_equal(bundle.inputs[name], inputs[name])
    for saved, given in zip(bundle.cotangents, dout, strict=True):
        np.testing.assert_array_equal(saved, given)
    assert bundle.options["seed"] == 11
    assert bundle.options["safety"] == 6.0
    assert bundle.options["wrt"] == ["w"]
    assert bundle.options["annotations"] == {
        "w": {"axes": ["input", ["unit", ["a", "b"]]], "group": "dense"}
    }
    assert bundle.environment["numpy"] == np.__version__
    # the file is a zip of bundle.json and .npy arrays, readable without pickle
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("bundle.json"))
        assert meta["format"] == "gradcheck-bundle"
        assert all(n == "bundle.json" or n.endswith(".npy") for n in zf.namelist())
    with np.load(path, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["inputs/0"], inputs["x"])
    again = gc.replay(bundle, F.two_output_forward, F.two_output_backward_missing_term)
    assert again.reproduced, again.differences


def test_functions_defined_at_module_level_are_found_by_name(tmp_path):
    inputs = _affine_inputs()
    result = gc.check_layer(F.affine_forward, F.affine_backward_scaled, inputs)
    path = gc.save_bundle(
        tmp_path / "b.npz",
        result,
        gc.check_layer,
        F.affine_forward,
        F.affine_backward_scaled,
        inputs,
    )
    bundle = gc.Bundle.load(path)
    assert bundle.functions["backward"]["module"] == "gc_functions"
    assert bundle.functions["backward"]["qualname"] == "affine_backward_scaled"
    assert gc.replay(path).reproduced  # no functions given: imported by name


def test_a_fixed_bug_or_other_numbers_are_reported_as_differences(tmp_path):
    inputs = _affine_inputs()
    result = gc.check_layer(F.affine_forward, F.affine_backward_scaled, inputs)
    path = gc.save_bundle(
        tmp_path / "b.npz",
        result,
        gc.check_layer,
        F.affine_forward,
        F.affine_backward_scaled,
        inputs,
    )
    fixed = gc.replay(path, F.affine_forward, F.affine_backward)
    assert fixed.result.passed
    assert not fixed.reproduced
    assert "the check failed when recorded and passes now" in fixed.differences
    assert any("analytic differs at" in d for d in fixed.differences)
    assert fixed.summary().startswith("replay: differs from the recording (")


def test_lambdas_must_be_given_again(tmp_path):
    check, args, options = CASES["grad"]()
    result = check(*args, **options)
    path = gc.save_bundle(tmp_path / "b.npz", result, check, *args)
    with pytest.raises(
        gc.InvalidArgumentError, match=r"give it again: gradcheck.replay\(bundle, fn, grad\)"
    ):
        gc.replay(path)
    with pytest.raises(
        gc.InvalidArgumentError, match=r"2 function argument\(s\) \(fn, grad\), got 1"
    ):
        gc.replay(path, args[0])


def test_the_module_layer_gets_its_parameters_back(tmp_path):
    check, args, options = CASES["module"]()
    result = check(*args)
    path = gc.save_bundle(tmp_path / "b.npz", result, check, *args)
    layer = Scale()
    original = layer.params["a"]
    layer.params["a"] = original * 3  # replay uses the saved parameters, then restores these
    changed = layer.params["a"]
    assert gc.replay(path, layer).reproduced
    assert layer.params["a"] is changed


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r, p: gc.save_bundle(p, "result", gc.check_grad), "CheckResult"),
        (lambda r, p: gc.save_bundle(p, r, print, 1, 2), "the check function that ran"),
        (lambda r, p: gc.save_bundle(p, r, gc.check_grad, 1), "takes 3 positional"),
        (
            lambda r, p: gc.save_bundle(p, r, gc.check_grad, _cube, _cube_grad, [1.0]),
            "Expected a dict of inputs",
        ),
        (
            lambda r, p: gc.save_bundle(
                p, r, gc.check_grad, _cube, _cube_grad, {"x": np.ones(2), "o": object()}
            ),
            "a bundle holds numpy",
        ),
        (
            lambda r, p: gc.save_bundle(
                p, r, gc.check_grad, _cube, _cube_grad, {"x": np.ones(2)}, foo=1
            ),
            "unknown arguments",
        ),
        (lambda r, p: gc.replay(p, _cube, _cube_grad, seed=3), "only the options progress"),
        (lambda r, p: gc.replay(42), "Expected a bundle path"),
    ],
    ids=[
        "result",
        "check",
        "count",
        "inputs",
        "object-input",
        "keyword",
        "replay-option",
        "replay-path",
    ],
)
def test_bad_arguments(tmp_path, call, message):
    result = gc.check_grad(_cube, _cube_grad, {"x": np.ones(2)})
    path = tmp_path / "b.npz"
    if "replay" in message or "progress" in message:
        gc.save_bundle(path, result, gc.check_grad, _cube, _cube_grad, {"x": np.ones(2)})
    with pytest.raises(gc.InvalidArgumentError, match=message):
        call(result, path)


def _cube(x):
    return float(np.sum(x**3))


def _cube_grad(x):
    return (3 * x**2,)


def test_files_that_are_not_bundles(tmp_path):
    with pytest.raises(BundleError, match="cannot read the bundle"):
        gc.Bundle.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(BundleError, match="not a gradcheck bundle"):
        gc.Bundle.load(tmp_path / "plain.npz")
    result = gc.check_grad(_cube, _cube_grad, {"x": np.ones(2)})
    path = gc.save_bundle(
        tmp_path / "b.npz", result, gc.check_grad, _cube, _cube_grad, {"x": np.ones(2)}
    )
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(members["bundle.json"])
    meta["version"] = 99
    members["bundle.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(tmp_path / "future.npz", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(BundleError, match="version 99"):
        gc.Bundle.load(tmp_path / "future.npz")


def test_the_callers_arrays_are_copied_not_kept(tmp_path):
    inputs = {"x": np.ones(3)}
    result = gc.check_grad(_cube, _cube_grad, inputs)
    path = gc.save_bundle(tmp_path / "b.npz", result, gc.check_grad, _cube, _cube_grad, inputs)
    inputs["x"][:] = 5.0
    np.testing.assert_array_equal(gc.Bundle.load(path).inputs["x"], np.ones(3))
