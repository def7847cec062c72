"""lstm_ref.adapters: where parameters and gradients are found, how data is passed, and that
the user's objects get their own arrays back."""

from __future__ import annotations

import numpy as np
import pytest
from oracle_helpers import example

import lstm_ref as lr
from lstm_ref import LSTMSubject, Run, adapters
from lstm_ref.adapters import _get, _set
from lstm_ref.oracle import check_against

DOC001 = example("lstm_doc001")
DOC000 = example("lstm_doc000")
DOC004 = example("lstm_doc004")
TORCH = example("lstm_torch")


def test_paths_go_into_attributes_dicts_and_lists():
    class Box:
        pass

    box = Box()
    box.layers = [{"Wx": 1}, {"Wx": 2}]
    box.grads = {0: "int key"}
    assert _get(box, "layers.1.Wx") == 2
    assert _get(box, "grads.0") == "int key"
    _set(box, "layers.0.Wx", 5)
    _set(box, "grads.0", "new")
    _set(box, "fresh", 7)
    assert box.layers[0]["Wx"] == 5
    assert box.grads == {0: "new"}
    assert box.fresh == 7


def test_a_document_001_layer_in_a_few_lines():
    layer = DOC001.LSTMLayer(3, 4, seed=0)
    subject = adapters.stepwise(layer, "per_gate_col", columns=True, state=("h", "c"))
    assert subject.layout == "per_gate_col"
    assert list(subject.params) == [f"layer0.{k}" for k in lr.get_layout("per_gate_col").keys]
    assert subject.params["layer0.Wfh"] is layer.Wfh
    assert subject.name("layer0.Wfh") == "Wfh"
    result = check_against(subject)
    assert result.passed, str(result)
    assert {"hT (forward)", "cT (forward)", "x", "Wfh", "bo"} <= set(result.inputs)


def test_a_stack_of_step_layers_bottom_first():
    layers = [DOC001.LSTMLayer(3, 4, seed=1), DOC001.LSTMLayer(4, 4, seed=2)]
    subject = adapters.stepwise(layers, "per_gate_col", columns=True)
    assert "layer1.Wix" in subject.params
    assert subject.name("layer1.Wix") == "layer1.Wix"
    assert check_against(subject).passed
    bad = [DOC001.LSTMLayer(3, 4, seed=1), DOC001.LSTMLayer(4, 4, seed=2, bug="no_cell_carry")]
    result = check_against(adapters.stepwise(bad, "per_gate_col", columns=True))
    assert not result.passed
    assert result.inputs["layer0.Wix"].passed is False  # the error flows down into layer 0
    assert all(not result.inputs[f"layer1.{k}"].passed for k in ("Wix", "Wih", "bi"))


def test_parameters_go_back_even_when_the_code_raises():
    layer = DOC001.LSTMLayer(3, 4, seed=0)
    originals = {name: getattr(layer, name) for name in DOC001.PARAMS}
    subject = adapters.stepwise(layer, "per_gate_col", columns=True)
    check_against(subject, fd="all")
    for name, value in originals.items():
        assert getattr(layer, name) is value

    def broken(dh):
        raise RuntimeError("no backward today")

    layer.backward = broken
    with pytest.raises(Exception, match="no backward today"):
        check_against(subject)
    for name, value in originals.items():
        assert getattr(layer, name) is value


def _stacked(net, grads):
    return adapters.model(
        net.loss, net, "packed", keys="layers.{layer}.{key}", grads=grads,
        head=("fc.W", "fc.b"), head_grads=("fc.W", "fc.b"),
    )  # fmt: skip


def test_gradients_returned_top_layer_first():
    net = DOC000.StackedLSTM(3, 4, 3, num_layers=3, seed=0)
    subject = _stacked(net, "layers.{top}.{key}")
    assert subject.params["layer2.Wx"] is net.layers[2]["Wx"]
    assert check_against(subject).passed
    # read bottom first, layer 2's gradients land on layer 0 ...
    with pytest.raises(Exception, match=r"gradient of layers.0.Wx with shape \(4, 16\)"):
        check_against(_stacked(net, "layers.{layer}.{key}"))
    # ... and where the shapes agree (D == H), the comparison shows the exchanged layers
    square = DOC000.StackedLSTM(4, 4, 3, num_layers=3, seed=0)
    result = check_against(_stacked(square, "layers.{layer}.{key}"))
    assert result.inputs["layers.1.Wh"].passed
    assert not result.inputs["layers.0.Wh"].passed
    assert not result.inputs["layers.2.Wh"].passed


def test_a_flat_list_by_index():
    params = DOC004.get_lstm_params(3, 4, 3, seed=0)
    subject = adapters.model(
        lambda p, x, y: DOC004.loss_and_grads(p, x, y),
        params,
        "per_gate_row",
        keys="{index}",
        grads="{index}",
        head=("12", "13"),
        head_on="every",
        data="time_major",
    )
    assert subject.params["layer0.W_hf"] is params[4]
    assert subject.params["fc.W"] is params[12]
    assert subject.name("layer0.W_hf") == "W_hf"  # positions in a list read as the layout's names
    assert check_against(subject).passed


def test_a_torch_style_module_with_final_states():
    subject = TORCH.stack()
    assert subject.name("layer1.bias_hh") == "bias_hh_l1"
    result = check_against(subject)
    assert result.passed
    assert {"layer0.hT (forward)", "layer1.cT (forward)"} <= set(result.inputs)


@pytest.mark.parametrize("data", adapters.DATA)
def test_data_conventions(data):
    """One reference layer behind each convention: it must see exactly the same numbers."""

    class Module:
        def __init__(self):
            params = lr.init_params(np.random.default_rng(0), N=2, D=3, H=4, C=2)
            self.Wx, self.Wh, self.b = params["layer0.Wx"], params["layer0.Wh"], params["layer0.b"]

        def forward(self, x):
            x = _batch_first(x, data)
            h, self.cache = lr.lstm_forward(x, np.zeros((x.shape[0], 4)), self.Wx, self.Wh, self.b)
            return _user(h, data)

        def backward(self, dh):
            dx, _, self.Wx_grad, self.Wh_grad, self.b_grad, _ = lr.lstm_backward(
                _batch_first(dh, data), self.cache
            )
            return _user(dx, data)

    result = check_against(adapters.sequence(Module(), "packed", data=data))
    assert result.passed, str(result)
    assert "x" in result.inputs


def _batch_first(a, data):
    if data == "batch_first":
        return a
    if data == "time_major":
        return a.transpose(1, 0, 2)
    steps = [s.T for s in a] if data == "column_steps" else list(a)
    return np.stack(steps, axis=1)


def _user(a, data):
    if data == "batch_first":
        return a
    if data == "time_major":
        return a.transpose(1, 0, 2)
    return [a[:, t].T if data == "column_steps" else a[:, t] for t in range(a.shape[1])]


class _Attrs:
    def __init__(self):
        for key in lr.get_layout("packed").keys:
            setattr(self, key, np.zeros(2))
        self.pair = (np.zeros(2), np.zeros(2))

    def forward(self, x):
        return x

    def backward(self, dh):
        return dh

    def reset(self):
        pass


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: adapters.stepwise(_Attrs(), "keras"), "layout must be one of"),
        (lambda: adapters.stepwise(_Attrs(), "packed", params=""), "must be a path template"),
        (lambda: adapters.stepwise(_Attrs(), "packed", params="{name}"),
         r"uses the fields \['name'\]"),
        (lambda: adapters.stepwise(_Attrs(), "packed", params="{key"), "not a valid template"),
        (lambda: adapters.stepwise(_Attrs(), "per_gate_col"),
         "_Attrs has no 'Wix' .*whose first key is 'Wix'"),
        (lambda: adapters.stepwise(_Attrs(), "packed", reset="clear"), "has no method 'clear'"),
        (lambda: adapters.stepwise([], "packed"), "empty list"),
        (lambda: adapters.sequence(_Attrs(), "packed", data="rows"), "data must be one of"),
        (lambda: adapters.sequence(_Attrs(), "packed", params="{key}_l{layer}"),
         r"has no 'Wx_l0'"),
        (lambda: adapters.model(lambda p, x, y: 0, {"Wx": np.zeros(1)}, "packed"), "has no 'Wh'"),
        (lambda: adapters.model(1, {}, "packed"), "loss must be a callable"),
        (lambda: adapters.model(lambda p, x, y: 0, {}, "packed", head=("W",)),
         "head must be a pair of paths"),
        (lambda: adapters.model(lambda p, x, y: 0, {}, "packed", head_on="first"),
         "head_on must be one of"),
        (lambda: adapters.model(
            lambda p, x, y: 0, {"layers": [{"Wx": 1, "Wh": 2, "b": 3}], "W": 0, "b": 0},
            "packed", keys="layers.{layer}.{key}", grads="g.{top}.{key}"),
         "say where the output layer's gradients are"),
    ],
    ids=["layout", "empty-template", "unknown-field", "bad-template", "missing-key", "no-reset",
         "no-layers", "data", "no-layer-0", "model-missing", "loss", "head-pair", "head-on",
         "head-grads"],
)  # fmt: skip
def test_adapter_errors_name_what_is_wrong(call, message):
    with pytest.raises(lr.ArgumentError, match=message):
        call()


def test_a_parameter_in_a_tuple_cannot_be_installed():
    holder = {"Wx": (np.ones((3, 16)),)}
    with pytest.raises(lr.ArgumentError, match="element of a tuple"):
        _set(holder, "Wx.0", np.zeros((3, 16)))


def test_a_missing_gradient_attribute_is_a_clear_error():
    layer = DOC001.LSTMLayer(3, 4, seed=0)
    subject = adapters.stepwise(layer, "per_gate_col", grads="d{key}", columns=True)
    with pytest.raises(Exception, match="LSTMLayer has no 'dWix': cannot read the gradient"):
        check_against(subject)


def test_a_hand_made_subject_needs_no_adapter():
    packed = lr.init_params(np.random.default_rng(1), N=3, D=2, H=3, C=2)
    params = {k: packed[k] for k in ("layer0.Wx", "layer0.Wh", "layer0.b")}

    def run(p, x, dh):
        h, cache = lr.lstm_forward(x, np.zeros((x.shape[0], 3)), *p.values())
        dx, _, dWx, dWh, db, _ = lr.lstm_backward(dh, cache)
        return Run({"h": h}, {"layer0.Wx": dWx, "layer0.Wh": dWh, "layer0.b": db, "x": dx})

    assert check_against(LSTMSubject(run, params, "packed"), N=2, T=6).passed
