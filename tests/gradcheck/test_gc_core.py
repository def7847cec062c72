"""The core's registries are the one source of the names of methods, modes and verdicts."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import numpy as np

import gradcheck as gc
from gradcheck._cli import build_parser
from gradcheck._core import METHODS, MODES


def _schema():
    return json.loads(
        resources.files("gradcheck").joinpath("schema/report.schema.json").read_text()
    )


def test_the_schema_names_the_registered_methods_modes_and_verdicts():
    schema = _schema()
    top = schema["properties"]
    assert set(top["method"]["enum"]) == set(METHODS) | {"reference"}
    assert set(top["mode"]["enum"]) == set(MODES)
    assert set(top["mode_used"]["enum"]) == (set(MODES) - {"auto"}) | {"screen"}
    assert set(schema["$defs"]["status"]["enum"]) == {s.name.lower() for s in gc.Status}


def test_the_command_line_offers_the_registered_methods_and_modes():
    parser = build_parser()
    check = parser._subparsers._group_actions[0].choices["check"]  # noqa: SLF001
    options = {a.dest: a.choices for a in check._actions if a.choices}  # noqa: SLF001
    assert tuple(options["method"]) == tuple(METHODS)
    assert tuple(options["mode"]) == tuple(MODES)


def test_a_screened_result_validates_against_the_schema():
    x = np.random.default_rng(0).uniform(-1, 1, (40, 30))
    result = gc.check_grad(
        lambda x: float(np.sum(np.sin(x))), lambda x: (np.cos(x),), {"x": x}, budget=500
    )
    assert result.mode_used == "screen"
    jsonschema.validate(json.loads(gc.report(result, "json")), _schema())
