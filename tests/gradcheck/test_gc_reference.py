"""check_reference and merge: judging arrays against a reference under rounding bounds."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

import gradcheck as gc
from gradcheck._report._json import SCHEMA_VERSION

EPS = np.finfo(np.float64).eps


def _schema():
    from importlib import resources

    return json.loads((resources.files("gradcheck") / "schema" / "report.schema.json").read_text())


def _case(rng, planted=None):
    """A matrix product computed two ways: the reference sums in float64 in one order, the
    value under test in another, so they differ by rounding only; ``planted`` scales one
    element by 1 + 1e-9, far below any finite-difference floor and far above rounding."""
    a, b = rng.standard_normal((6, 40)), rng.standard_normal((40, 5))
    reference = a @ b
    value = np.einsum("ik,kj->ij", a[:, ::-1], b[::-1])
    bound = 8 * EPS * (np.abs(a) @ np.abs(b))
    if planted is not None:
        value[planted] *= 1 + 1e-9
    return {"w": value}, {"w": reference}, {"w": bound}


def test_rounding_passes_and_a_tiny_error_fails():
    rng = np.random.default_rng(0)
    assert gc.check_reference(*_case(rng)).passed
    result = gc.check_reference(*_case(np.random.default_rng(0), planted=(2, 3)))
    assert not result.passed
    w = result.inputs["w"]
    assert w.mismatches == 1
    assert w.worst.index == (2, 3)
    assert w.worst.status == gc.Status.MISMATCH
    assert w.worst.abs_error > w.worst.threshold
    assert result.method == "reference"
    assert (result.mode, result.mode_used) == ("full", "full")
    assert result.inputs["w"].checked == 30


def test_fields_follow_the_arguments():
    values = {"a": np.array([1.0, 2.0, 3.0]), "b": np.float32([[1.0]])}
    reference = {"a": np.array([1.0, 2.5, 3.0]), "b": np.array([[1.0]])}
    bounds = {"a": 0.1, "b": np.array([[0.0]])}
    result = gc.check_reference(
        values,
        reference,
        bounds,
        estimates={"a": 0.01},
        annotations={"a": {"axes": ["time"], "group": "g"}},
        notes=("how",),
        calls=3,
        backward_calls=2,
        wall_time=1.5,
        options={"x": 1},
    )
    a = result.inputs["a"]
    assert list(result.inputs) == ["a", "b"]
    assert a.analytic.tolist() == [1.0, 2.0, 3.0]
    assert a.numeric.tolist() == [1.0, 2.5, 3.0]
    assert a.threshold.tolist() == [0.1] * 3
    assert a.error_estimate.tolist() == [0.01] * 3
    assert a.status.tolist() == [gc.Status.OK, gc.Status.MISMATCH, gc.Status.OK]
    assert a.max_rel_error == pytest.approx(0.2)
    assert a.annotation.group == "g"
    assert result.inputs["b"].dtype == "float32"
    assert result.inputs["b"].passed  # an exact match passes a zero bound
    assert (result.calls, result.backward_calls, result.wall_time) == (3, 2, 1.5)
    assert result.notes == ("how",)
    assert dict(result.options) == {"x": 1}


def test_non_finite_values_under_test_fail():
    result = gc.check_reference(
        {"v": np.array([np.nan, np.inf, 1.0])}, {"v": np.ones(3)}, {"v": 1.0}
    )
    assert result.inputs["v"].mismatches == 2
    assert not result.passed


def test_explain_goes_first_and_only_on_failure():
    seen = []

    def explain(inputs):
        seen.append(sorted(inputs))
        return [gc.Finding("block", "v", "mine", "because", {"n": 1}, 1.0)]

    ok = gc.check_reference({"v": np.ones(4)}, {"v": np.ones(4)}, {"v": 0.0}, explain=explain)
    assert ok.findings == ()
    assert seen == []
    bad = gc.check_reference({"v": np.zeros(4)}, {"v": np.ones(4)}, {"v": 1e-3}, explain=explain)
    assert seen == [["v"]]
    assert bad.findings[0].summary == "mine"
    assert any(f.kind == "all_zero" for f in bad.findings[1:])  # the generic diagnosis follows


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: gc.check_reference([], {}, {}), "Expected a dict of arrays for values"),
        (lambda: gc.check_reference({}, {}, {}), "values is empty"),
        (lambda: gc.check_reference({"a": 1.0}, {}, {"a": 0}), r"missing \['a'\]"),
        (lambda: gc.check_reference({"a": 1.0}, {"a": 1.0, "b": 1.0}, {"a": 0}),
         r"unexpected \['b'\]"),
        (lambda: gc.check_reference({"a": np.ones(2)}, {"a": np.ones(3)}, {"a": 0}),
         r"values\['a'\] has shape \(2,\) but reference\['a'\] has shape \(3,\)"),
        (lambda: gc.check_reference({"a": 1.0}, {"a": np.nan}, {"a": 0}), "non-finite"),
        (lambda: gc.check_reference({"a": 1.0}, {"a": 1.0}, {"a": -1.0}), "finite and >= 0"),
        (lambda: gc.check_reference({"a": np.ones(2)}, {"a": np.ones(2)}, {"a": np.ones(3)}),
         "does not broadcast"),
        (lambda: gc.check_reference({"a": "x"}, {"a": 1.0}, {"a": 0}), "expected real numbers"),
        (lambda: gc.check_reference({"a": 1j}, {"a": 1.0}, {"a": 0}), "expected real numbers"),
        (lambda: gc.check_reference({"a": 1.0}, {"a": 1.0}, {"a": 0}, annotations={"b": {}}),
         r"annotations names \['b'\]"),
        (lambda: gc.merge_results(object()), "merge_results takes CheckResults"),
    ],
    ids=["values-not-dict", "empty", "missing", "extra", "shape", "nan-reference",
         "negative-bound", "bound-shape", "string", "complex", "annotation-name", "merge-type"],
)  # fmt: skip
def test_bad_arguments(call, message):
    with pytest.raises(gc.InvalidArgumentError, match=message):
        call()


def test_caller_arrays_are_not_changed():
    values, reference, bounds = _case(np.random.default_rng(1), planted=(0, 0))
    before = [d["w"].copy() for d in (values, reference, bounds)]
    gc.check_reference(values, reference, bounds)
    for d, b in zip((values, reference, bounds), before, strict=True):
        assert np.array_equal(d["w"], b)


def test_merge_joins_a_reference_check_and_finite_differences():
    exact = gc.check_reference({"w": np.ones(2)}, {"w": np.ones(2) + 1e-3}, {"w": 1e-6})
    fd = gc.check_grad(lambda v: float(v @ v), lambda v: (2 * v,), {"v": np.ones(3)})
    merged = gc.merge_results(exact, fd, notes=["joined"])
    assert list(merged.inputs) == ["w", "v"]
    assert not merged.passed
    assert merged.method == "reference"
    assert merged.calls == exact.calls + fd.calls
    assert merged.notes[-1] == "joined"
    assert merged.options["merged"][0]["method"] == "central"
    assert merged.findings == exact.findings
    with pytest.raises(gc.InvalidArgumentError, match="input 'w' is in two of the results"):
        gc.merge_results(exact, exact)


@pytest.mark.parametrize("fmt", ["text", "markdown", "json", "html"])
def test_every_report_renders_a_reference_check(fmt):
    if fmt == "html":
        pytest.importorskip("jinja2")
        pytest.importorskip("matplotlib")
    values, reference, bounds = _case(np.random.default_rng(2), planted=(1, 1))
    values["loss"], reference["loss"], bounds["loss"] = np.float64(1.0), 1.0, 0.0
    result = gc.check_reference(
        values, reference, bounds, annotations={"w": {"axes": [("gate", "ab"), "time"]}}
    )
    text = gc.report(result, fmt, title="against a reference")
    assert "reference" in text
    if fmt == "json":
        data = json.loads(text)
        assert data["schema_version"] == SCHEMA_VERSION
        assert data["method"] == "reference"
        jsonschema.Draft202012Validator(_schema()).validate(data)
