"""The JSON report: strict JSON, versioned, validated against the schema shipped in the package."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest
import rep_helpers as H

import gradcheck as gc
from gradcheck._result import MAX_ALTERNATIVES

VALIDATOR = jsonschema.Draft202012Validator(H.schema())


def _strict_load(text):
    def reject(constant):
        raise AssertionError(f"bare {constant} in the JSON report")

    return json.loads(text, parse_constant=reject)


def test_the_schema_is_a_valid_schema():
    jsonschema.Draft202012Validator.check_schema(H.schema())


@pytest.mark.parametrize("name", list(H.ALL))
def test_every_report_validates(name):
    data = _strict_load(gc.report(H.ALL[name](), "json"))
    errors = sorted(VALIDATOR.iter_errors(data), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_rejects_what_it_should():
    data = _strict_load(gc.report(H.failing_block(), "json"))
    for path, value in [
        (("inputs", 0, "max_abs_error"), "NaN"),  # only 'nan', 'inf', '-inf' as strings
        (("schema_version",), "1.0"),
        (("summary", "checked"), -1),
        (("inputs", 0, "breakdown", 0, "kind"), "diagonal"),
    ]:
        broken = json.loads(json.dumps(data))
        target = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        assert not VALIDATOR.is_valid(broken), path
    broken = json.loads(json.dumps(data))
    broken["surprise"] = 1
    assert not VALIDATOR.is_valid(broken)


def test_header_versions_options_and_summary():
    result = H.failing_block()
    data = _strict_load(gc.report(result, "json", title="my layer"))
    assert data["schema_version"] == "2.3"
    assert data["tool"] == {"name": "gradcheck", "version": gc.__version__}
    assert data["environment"]["numpy"] == np.__version__
    assert data["title"] == "my layer"
    assert data["options"]["method"] == "central"
    summary = data["summary"]
    assert summary["failed_inputs"] == ["w"]
    assert (summary["inputs"], summary["elements"], summary["checked"]) == (2, 28, 28)
    assert summary["mismatches"] == 6
    assert summary["worst"]["input"] == "w"
    assert summary["worst"]["index"] == list(result.inputs["w"].worst.index)
    assert summary["worst"]["excess"] == pytest.approx(result.inputs["w"].worst.excess)
    assert data["groups"] == [
        {"name": "layer 0", "inputs": ["w"]},
        {"name": "fc", "inputs": ["b"]},
    ]


def test_per_input_statistics_and_breakdown():
    data = _strict_load(gc.report(H.failing_block(), "json"))
    w = data["inputs"][0]
    assert (w["name"], w["shape"], w["checked"], w["mismatches"]) == ("w", [3, 8], 24, 6)
    assert w["elements_over_threshold"] == 6
    assert w["annotation"] == {
        "axes": [{"name": "input", "labels": None}, {"name": "gate", "labels": list(H.GATES)}],
        "group": "layer 0",
    }
    (b,) = w["breakdown"]
    assert [row["mismatches"] for row in b["rows"]] == [0, 6, 0, 0]
    assert b["rows"][1]["max_excess"] > 1


def test_non_finite_numbers_are_encoded_explicitly():
    data = _strict_load(gc.report(H.directional_failing(), "json"))
    w = data["inputs"][0]
    assert w["max_abs_error"] == "nan"
    assert w["max_rel_error"] == "nan"
    assert w["worst"] is None
    assert w["breakdown"] == []
    assert data["summary"]["worst"]["index"] is None
    finding = _strict_load(gc.report(H.with_finding(), "json"))["findings"][0]
    assert finding["evidence"] == {"block": "f", "ratio": 2.0, "nan": "nan", "items": [1, 2]}
    assert (finding["kind"], finding["alternatives"]) == ("block", [])
    assert finding["score"] == 0.9
    assert (finding["confidence"], finding["inputs"]) == ("high", ["w"])


def test_finding_kinds_and_confidences_of_the_schema_are_the_enums():
    finding = H.schema()["$defs"]["finding"]["properties"]
    assert finding["kind"]["enum"] == [k.value for k in gc.FindingKind]
    assert finding["confidence"]["enum"] == [c.value for c in gc.Confidence]
    assert finding["alternatives"]["items"] == {"$ref": "#/$defs/finding/properties/kind"}
    assert finding["alternatives"]["maxItems"] == MAX_ALTERNATIVES


def test_a_finding_with_an_alternative_kind():
    data = _strict_load(gc.report(H.with_two_kinds(), "json"))
    assert VALIDATOR.is_valid(data)
    finding = data["findings"][1]
    assert (finding["kind"], finding["alternatives"]) == ("time_range", ["wrong_input"])
    for bad in (["guess"], ["wrong_input", "block"]):
        finding["alternatives"] = bad
        assert not VALIDATOR.is_valid(data)


@pytest.mark.parametrize(("key", "value"), [("kind", "guess"), ("confidence", "sure")])
def test_the_schema_rejects_an_unknown_kind_or_confidence(key, value):
    data = _strict_load(gc.report(H.with_finding(), "json"))
    data["findings"][0][key] = value
    assert not VALIDATOR.is_valid(data)


def test_unchecked_breakdown_rows_encode_nan():
    result = H.sampled_blocks()
    data = _strict_load(gc.report(result, "json"))
    rows = data["inputs"][0]["breakdown"][0]["rows"]
    assert rows[1]["max_excess"] == "nan"
    assert rows[1]["worst_index"] is None
    assert VALIDATOR.is_valid(data)


def test_kinks_are_counted_and_their_indices_capped_like_mismatches():
    x = np.zeros((30, 4))  # |x| at 0: every element is a kink
    result = gc.check_grad(
        lambda x: float(np.sum(np.abs(x))), lambda x: (np.where(x >= 0, 1.0, -1.0),), {"x": x}
    )
    assert len(result.inputs["x"].kinks) == 120
    data = _strict_load(gc.report(result, "json"))
    assert VALIDATOR.is_valid(data)
    entry = data["inputs"][0]
    assert entry["kinks"] == 120 == data["summary"]["kinks"]
    assert entry["kink_indices"] == [list(k) for k in result.inputs["x"].kinks[:20]]
    broken = json.loads(json.dumps(data))
    broken["inputs"][0]["kink_indices"] = [[0, 0]] * 21
    assert not VALIDATOR.is_valid(broken)
