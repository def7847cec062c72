"""The layout table: entries are checked, a new layout is one entry, whole-model repacking.

The conversions themselves are tested in test_ref_layouts.py against each document's own
equations; here the table machinery: what an entry must satisfy, that an entry written
for a layout the project does not ship (Keras's LSTM) converts correctly with no other
code, the model-level methods the command line uses, and the errors for unknown names.
"""

from __future__ import annotations

import numpy as np
import pytest
from ref_helpers import assert_bitwise_equal, model_case

import lstm_ref as lr
from lstm_ref import Layout, LayoutParam

KERAS_GATES = ("i", "f", "g", "o")  # Keras: kernel columns i, f, c, o
KERAS = Layout(
    "keras",
    "tf.keras.layers.LSTM",
    "kernel (D, 4H), recurrent_kernel (H, 4H), bias (4H,), gates i, f, c, o",
    (
        LayoutParam("kernel", "(D, 4H)", ("Wx",), KERAS_GATES, axes=("input", ("gate", "ifco"))),
        LayoutParam(
            "recurrent_kernel", "(H, 4H)", ("Wh",), KERAS_GATES, axes=("hidden", ("gate", "ifco"))
        ),
        LayoutParam("bias", "(4H,)", ("b",), KERAS_GATES, axes=(("gate", "ifco"),)),
    ),
)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def keras_forward(w, x, h, c):
    """Keras's LSTM cell, from its documentation: z = x K + h R + bias, split i, f, c, o."""
    hs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"]
        i, f, g, o = np.split(z, 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        hs.append(h)
    return np.stack(hs, axis=1)


def test_a_new_layout_is_one_entry():
    rng = np.random.default_rng(0)
    N, T, D, H = 2, 3, 3, 2
    Wx, Wh, b = rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)
    x, h0, c0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H)), rng.normal(size=(N, H))
    w = KERAS.unpack_layer(Wx, Wh, b)
    assert list(w) == ["kernel", "recurrent_kernel", "bias"]
    ours, _ = lr.lstm_forward(x, h0, Wx, Wh, b, c0)
    np.testing.assert_allclose(keras_forward(w, x, h0, c0), ours, rtol=1e-13, atol=1e-15)
    for got, want in zip(KERAS.pack_layer(w), (Wx, Wh, b), strict=True):
        assert_bitwise_equal(got, want)
    assert KERAS.sizes(w) == (D, H)
    assert KERAS.duplicates == {}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ((LayoutParam("Wx", "(D, 4H)", ("Wx",), ("i", "f", "o", "g")),),
         "does not cover the packed blocks"),
        ((LayoutParam("W", "(D, 4H)", ("Wx", "b"), ("i", "f", "o", "g")),),
         "mixes the bias with weight rows"),
        ((LayoutParam("W", "(D, 4H)", ("Wq",), ("i",)),), "expected some of"),
        ((LayoutParam("W", "(D, H)", ("Wx",), ("i", "z")),), "expected some of"),
        ((LayoutParam("W", "(D, 3H)", ("Wx",), ("i", "f", "o", "g")),), "holds 1 part"),
        ((LayoutParam("W", "(D, 4H)", ("Wx",), ("i", "f", "o", "g"), axes=("input",)),),
         "axes names"),
        ((LayoutParam("W", "(D, 4H)", ("Wx",), ("i", "f", "o", "g")),
          LayoutParam("V", "(D, H)", ("Wx",), ("f",))), "only in part"),
        ((LayoutParam("W", "(D, 4H)", ("Wx",), ("i", "f", "o", "g")),
          LayoutParam("W", "(D, 4H)", ("Wx",), ("i", "f", "o", "g"))), "repeats a parameter"),
        ((LayoutParam("W", "(D, Q)", ("Wx",), ("i",)),), "cannot read the dimension"),
    ],
    ids=["uncovered", "mixed-bias", "bad-part", "bad-gate", "bad-shape", "axes", "overlap",
         "same-name", "bad-letter"],
)  # fmt: skip
def test_bad_entries_are_refused_when_written(params, message):
    with pytest.raises(ValueError, match=message):
        Layout("bad", "nowhere", "a broken entry", params)


def test_the_torch_entry_declares_its_second_bias():
    assert lr.get_layout("torch").duplicates == {"bias_hh": "bias_ih"}
    assert all(not lr.get_layout(name).duplicates for name in lr.LAYOUTS if name != "torch")
    assert tuple(lr.TABLE) == lr.LAYOUTS
    with pytest.raises(TypeError):
        lr.TABLE["keras"] = KERAS  # the table is read-only


@pytest.mark.parametrize("name", [None, 3, "Packed", "keras", "concat"])
def test_an_unknown_layout_is_an_error_never_a_fallback(name):
    with pytest.raises(lr.ArgumentError, match="layout must be one of 'packed'"):
        lr.get_layout(name)
    with pytest.raises(lr.ArgumentError, match="layout must be one of"):
        lr.annotations(model_case(0)[0], name)


def test_unknown_parameter_of_a_layout():
    with pytest.raises(lr.ArgumentError, match="layout 'torch' has no parameter 'Wx'"):
        lr.get_layout("torch").param("Wx")


@pytest.mark.parametrize("layout", lr.LAYOUTS)
def test_model_repacking_round_trips_and_keeps_other_names(layout):
    params, x, y = model_case(1, L=3, D=2, H=3)
    lay = lr.get_layout(layout)
    unpacked = lay.unpack(params)
    names = [f"layer{k}.{key}" for k in range(3) for key in (*lay.keys, "h0", "c0")]
    assert list(unpacked) == [*names, "fc.W", "fc.b"]
    for name in ("layer1.h0", "layer2.c0", "fc.W", "fc.b"):
        assert unpacked[name] is params[name]
    back = lay.pack(unpacked)
    assert sorted(back) == sorted(params)
    for name in params:
        assert_bitwise_equal(back[name], params[name])
    value, grads = lr.loss(params, x, y)
    layout_value, layout_grads = lay.wrap(lr.loss)(unpacked, x, y)
    assert layout_value == value
    assert list(layout_grads) == list(unpacked)
    expected = lay.unpack_grads(grads)
    for name in layout_grads:
        assert_bitwise_equal(layout_grads[name], expected[name])
    packed_grads = lay.pack_grads(layout_grads)
    for name in grads:
        assert_bitwise_equal(packed_grads[name], grads[name])
    notes = lr.annotations(unpacked, layout)
    assert list(notes) == list(unpacked)
    assert notes["layer2." + lay.keys[0]]["group"] == "layer 2"
    for name, note in notes.items():
        assert len(note["axes"]) == unpacked[name].ndim


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda lay, p: lay.pack({**p, "layer0.extra": p["fc.b"]}),
         "unexpected name 'layer0.extra'"),
        (lambda lay, p: lay.pack({k: v for k, v in p.items() if k != "layer1.bi"}),
         r"missing \['layer1.bi'\]"),
        (lambda lay, p: lay.unpack(p), "unexpected name 'layer0.Wix'"),
        (lambda lay, p: lay.pack([1, 2]), "params must be a dict of arrays, got list"),
        (lambda lay, p: lay.pack({**p, "layer1.Wfh": p["layer1.Wfh"][:1]}),
         r"layer1.Wfh has shape \(1, 3\) but the per_gate_col weights have D=3, H=3"),
    ],
    ids=["extra", "missing", "wrong-direction", "not-a-dict", "shape"],
)  # fmt: skip
def test_model_repacking_errors_name_the_parameter(call, message):
    params = lr.get_layout("per_gate_col").unpack(model_case(2, L=2, H=3)[0])
    with pytest.raises(lr.LSTMRefError, match=message):
        call(lr.get_layout("per_gate_col"), params)


def test_unequal_torch_bias_grads_are_refused_at_model_level():
    params = model_case(3, L=2)[0]
    lay = lr.get_layout("torch")
    grads = lay.unpack_grads(params)
    grads["layer1.bias_hh"] = grads["layer1.bias_hh"] + 1
    with pytest.raises(lr.ArgumentError, match="layer1.bias_ih and layer1.bias_hh differ"):
        lay.pack_grads(grads)
