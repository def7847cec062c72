"""The result object: fields, JSON-safe dict, failure message, silence."""

from __future__ import annotations

import json

import gc_functions as F
import numpy as np
import pytest

import gradcheck as gc


def _failing():
    rng = np.random.default_rng(0)
    inputs = {
        "x": rng.standard_normal((5, 4)),
        "w": rng.standard_normal((4, 3)),
        "b": rng.random(3),
    }
    return gc.check_layer(F.affine_forward, F.affine_backward_bias_mean, inputs)


def test_result_fields():
    result = _failing()
    assert not result.passed
    b = result.inputs["b"]
    assert (b.name, b.shape, b.dtype, b.size, b.checked) == ("b", (3,), "float64", 3, 3)
    assert b.mismatches == 3
    assert not b.passed
    assert b.worst is not None
    assert b.worst.status == gc.Status.MISMATCH
    assert b.worst.abs_error > b.worst.threshold
    assert b.max_rel_error == pytest.approx(0.8, rel=1e-6)  # mean = sum / 5
    assert result.calls > 0
    # the unperturbed point, four points that measure the rounding of the analytic gradient
    # before a mismatch is declared, and the backward pass with |dout| that bounds the rounding
    # of cancelling sums in it
    assert result.backward_calls == 6
    assert result.wall_time > 0
    assert [r.name for r in result.failed_inputs] == ["b"]
    assert b.mismatch_indices()[0] == b.worst.index


def test_to_dict_is_strict_json():
    result = gc.check_layer(
        F.affine_forward, F.affine_backward_bias_mean, _failing_inputs(), mode="directional"
    )
    text = json.dumps(result.to_dict(), allow_nan=False)
    data = json.loads(text)
    assert data["passed"] is False
    assert data["inputs"][0]["max_abs_error"] == "nan"  # no element was checked: encoded
    assert data["options"]["mode"] == "directional"


def _failing_inputs():
    rng = np.random.default_rng(1)
    return {"x": rng.standard_normal((5, 4)), "w": rng.standard_normal((4, 3)), "b": rng.random(3)}


def test_raise_for_failure_message_is_a_table():
    result = _failing()
    with pytest.raises(gc.GradientCheckFailure) as info:
        result.raise_for_failure()
    message = str(info.value)
    assert isinstance(info.value, AssertionError)
    assert info.value.result is result
    assert message.startswith("gradcheck FAILED: 1 of 3 inputs")
    header = next(line for line in message.splitlines() if line.startswith("input "))
    for column in ("input", "shape", "checked", "worst index", "analytic", "threshold"):
        assert column in header
    row = next(line for line in message.splitlines() if line.startswith("b "))
    assert "FAIL 3" in row
    assert "3/3" in row


def test_passing_result_returns_itself_and_prints_nothing(capsys):
    rng = np.random.default_rng(2)
    result = gc.check_layer(F.tanh_forward, F.tanh_backward, {"x": rng.standard_normal(5)})
    assert result.raise_for_failure() is result
    assert capsys.readouterr() == ("", "")
    assert str(result).startswith("gradcheck passed")


def test_result_is_read_only():
    result = _failing()
    with pytest.raises(TypeError):
        result.inputs["new"] = None  # type: ignore[index]
    with pytest.raises(AttributeError):
        result.passed = True  # type: ignore[misc]


def test_annotations_are_attached():
    result = gc.check_layer(
        F.affine_forward,
        F.affine_backward,
        _failing_inputs(),
        annotations={"w": {"axes": ["input", ("unit", ("a", "b", "c"))], "group": "fc"}},
    )
    ann = result.inputs["w"].annotation
    assert ann is not None
    assert ann.group == "fc"
    assert ann.axes[1].block_of(2, 3) == "c"
    assert result.inputs["x"].annotation is None


def test_public_names_resolve_lazily():
    import gradcheck

    assert sorted(gradcheck.__all__) == sorted(set(gradcheck.__all__))
    for name in gradcheck.__all__:
        assert getattr(gradcheck, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        gradcheck.nope  # noqa: B018


def test_a_result_pickles_and_comes_back_equal():
    import pickle

    result = _failing()
    again = pickle.loads(pickle.dumps(result))
    assert again.to_dict() == result.to_dict()
    assert str(again) == str(result)
    for name, r in result.inputs.items():
        np.testing.assert_array_equal(again.inputs[name].numeric, r.numeric)
        np.testing.assert_array_equal(again.inputs[name].status, r.status)
    with pytest.raises(TypeError):
        again.inputs["new"] = None  # still read-only
