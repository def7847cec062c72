"""Results to render: passing, failing in one gate block, failing before the last time step,
with kinks, checked along directions only, sampled, and with a hand-made finding."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

import numpy as np

import gradcheck as gc

GATES = ("i", "f", "o", "g")


def _sin_sum(w):
    return float(np.sum(np.sin(w)))


def _cos(w):
    return (np.cos(w),)


def _cos_wrong_f_block(w):
    g = np.cos(w)
    g[:, 2:4] *= 2.0  # columns of block "f" (4 blocks of 2 columns)
    return (g,)


def block_annotations():
    return {"w": {"axes": ["input", ("gate", GATES)], "group": "layer 0"}}


def passing():
    w = np.random.default_rng(0).standard_normal((3, 8))
    return gc.check_grad(_sin_sum, _cos, {"w": w}, annotations=block_annotations())


def sampled_blocks():
    """Sample mode over 4 labelled blocks: only the first and last element are checked, so
    blocks "b" and "c" hold no checked element."""
    w = np.random.default_rng(5).standard_normal((1, 40))
    return gc.check_grad(
        _sin_sum,
        _cos,
        {"w": w},
        mode="sample",
        samples=2,
        annotations={"w": {"axes": [None, ("part", ("a", "b", "c", "d"))]}},
    )


def failing_block():
    """Wrong only in gate block "f" of w; b (group "fc") is right."""
    rng = np.random.default_rng(1)
    inputs = {"w": rng.standard_normal((3, 8)), "b": rng.standard_normal(4)}

    def fn(w, b):
        return float(np.sum(np.sin(w)) + np.sum(b**2))

    def grad(w, b):
        return _cos_wrong_f_block(w)[0], 2 * b

    notes = block_annotations() | {"b": {"axes": ["class"], "group": "fc"}}
    return gc.check_grad(fn, grad, inputs, annotations=notes)


def _tanh_forward(x):
    out = np.tanh(x)
    return out, out


def _tanh_backward_last_step_only(dout, out):
    dx = dout * (1 - out**2)
    dx[:, :-1] = 0.0  # only the last step's gradient is passed back
    return (dx,)


def failing_time(steps=5):
    """x (N, T, D): the gradient is zero at every step but the last."""
    x = np.random.default_rng(2).standard_normal((2, steps, 3))
    return gc.check_layer(
        _tanh_forward,
        _tanh_backward_last_step_only,
        {"x": x},
        annotations={"x": {"axes": ["batch", "time", "input"]}},
    )


def with_kink():
    """|x| at x = 0 with the subgradient 1 there: a kink, reported without failing."""
    x = np.array([[0.0, 1.5, -0.7], [2.0, -1.0, 0.3]])
    return gc.check_grad(
        lambda x: float(np.sum(np.abs(x))), lambda x: (np.where(x >= 0, 1.0, -1.0),), {"x": x}
    )


def directional_failing():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, 6))
    return gc.check_grad(
        _sin_sum, lambda w: (1.5 * np.cos(w),), {"w": w}, mode="directional", directions=3
    )


def sampled_failing():
    """Sample mode: most elements unchecked (NaN numeric), the sampled ones wrong."""
    w = np.random.default_rng(4).standard_normal((6, 8))
    return gc.check_grad(_sin_sum, lambda w: (np.cos(w) + 0.5,), {"w": w}, mode="sample", samples=5)


FINDING = gc.Finding(
    kind="block",
    input="w",
    summary="only gate block f of w is wrong (<b>bold</b> | pipe)",
    hint="Look at the forget gate's derivative.",
    evidence={"block": "f", "ratio": 2.0, "nan": float("nan"), "items": [1, 2]},
    score=0.9,
    confidence=gc.Confidence.HIGH,
)


#: a finding that names two kinds of mistake the numbers cannot tell apart
TWO_KINDS = gc.Finding(
    kind="time_range",
    alternatives=("wrong_input",),
    input="w",
    summary="w is wrong although b is right: a partial sum or a wrong operand",
    hint="Either w sums over only some of the steps, or it pairs the deltas with the wrong input.",
    score=0.6,
)


def with_finding():
    """The failing-block result with a hand-made finding (diagnosis fills these in)."""
    return dataclasses.replace(failing_block(), findings=(FINDING,))


def with_two_kinds():
    """The failing-block result with a finding that names an alternative beside its kind."""
    return dataclasses.replace(failing_block(), findings=(FINDING, TWO_KINDS))


def schema():
    text = resources.files("gradcheck").joinpath("schema/report.schema.json").read_text()
    return json.loads(text)


ALL = {
    "passing": passing,
    "failing_block": failing_block,
    "failing_time": failing_time,
    "with_kink": with_kink,
    "directional_failing": directional_failing,
    "sampled_failing": sampled_failing,
    "with_finding": with_finding,
    "with_two_kinds": with_two_kinds,
}


def logical_line(text, start):
    """The line of ``text`` starting with ``start``, with its wrapped continuation lines (those
    indented by 4 spaces) joined back onto it."""
    lines = text.splitlines()
    k = next(i for i, line in enumerate(lines) if line.lstrip().startswith(start))
    out = lines[k]
    for line in lines[k + 1 :]:
        if not line.startswith("    ") or line.startswith("    hint:"):
            break
        out += " " + line.strip()
    return out
