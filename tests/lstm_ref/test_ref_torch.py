"""Parity with PyTorch: forward values and every gradient, through the torch converters."""

from __future__ import annotations

import numpy as np
import pytest
from ref_helpers import layer_case, model_case

import lstm_ref as lr

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed; the parity tests need nn.LSTM and autograd"
)
pytestmark = pytest.mark.torch

RTOL = 1e-10  # relative, per element, with the array's own scale as the floor


def assert_parity(ours, theirs, name=""):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert ours.shape == theirs.shape, (name, ours.shape, theirs.shape)
    scale = float(np.abs(theirs).max()) or 1.0
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=RTOL * scale, err_msg=name)


def tensor(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


class Net(torch.nn.Module):  # type: ignore[name-defined]
    """nn.LSTM + nn.Linear, named so that the state dict keys are lstm.* and fc.*."""

    def __init__(self, D, H, C, L):
        super().__init__()
        self.lstm = torch.nn.LSTM(D, H, num_layers=L, batch_first=True, dtype=torch.float64)
        self.fc = torch.nn.Linear(H, C, dtype=torch.float64)


def torch_net(params):
    sd, h0, c0 = lr.params_to_torch(params)
    L = h0.shape[0]
    D, H = params["layer0.Wx"].shape[0], params["layer0.Wh"].shape[0]
    net = Net(D, H, params["fc.W"].shape[1], L)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
    return net, tensor(h0, grad=True), tensor(c0, grad=True)


@pytest.mark.parametrize("L", [1, 2, 3])
@pytest.mark.parametrize("head", lr.HEADS)
@pytest.mark.parametrize("objective", lr.OBJECTIVES)
def test_model_loss_and_every_gradient_match_torch(L, head, objective):
    N, T, D, H, C = 4, 5, 3, 6, 3
    params, x, y = model_case(10 + L, N=N, T=T, D=D, H=H, C=C, L=L, head=head, objective=objective)
    value, grads = lr.loss(params, x, y, head=head, objective=objective)

    net, h0, c0 = torch_net(params)
    out, _ = net.lstm(tensor(x), (h0, c0))
    scores = net.fc(out[:, -1] if head == "last" else out)
    if objective == "softmax":
        ce = torch.nn.CrossEntropyLoss(reduction="sum")
        ref = ce(scores.reshape(-1, C), torch.from_numpy(y).reshape(-1)) / N
    else:
        ref = torch.nn.MSELoss(reduction="sum")(scores, tensor(y)) / N
    ref.backward()
    assert_parity(np.asarray(value), ref, "loss")

    torch_grads = {k: p.grad.numpy() for k, p in net.named_parameters()}
    back = lr.grads_from_torch(torch_grads, h0.grad.numpy(), c0.grad.numpy())
    assert list(back) == list(params)
    for name in params:
        assert_parity(grads[name], back[name], name)
    # and the other way round: our gradients in torch's layout, both biases included
    ours_in_torch, dh0, dc0 = lr.grads_to_torch(grads)
    for name, grad in torch_grads.items():
        assert_parity(ours_in_torch[name], grad, name)
    assert_parity(dh0, h0.grad, "h0")
    assert_parity(dc0, c0.grad, "c0")


@pytest.mark.parametrize("L", [1, 3])
def test_stacked_forward_and_input_gradient_match_torch(L):
    params, x, _ = model_case(20, N=3, T=4, D=2, H=5, L=L)
    rng = np.random.default_rng(21)
    dh = rng.normal(size=(3, 4, 5))
    h, cache = lr.stacked_lstm_forward(x, params)
    dx, grads = lr.stacked_lstm_backward(dh, cache)

    net, h0, c0 = torch_net(params)
    xt = tensor(x, grad=True)
    out, (hn, cn) = net.lstm(xt, (h0, c0))
    out.backward(tensor(dh))
    assert_parity(h, out, "h")
    for k in range(L):
        assert_parity(cache.layers[k].cT, cn[k], f"cT of layer {k}")
        assert_parity(cache.layers[k].hT, hn[k], f"hT of layer {k}")
    assert_parity(dx, xt.grad, "dx")
    for k in range(L):
        assert_parity(grads[f"layer{k}.h0"], h0.grad[k], f"layer{k}.h0")
        assert_parity(grads[f"layer{k}.c0"], c0.grad[k], f"layer{k}.c0")


def layer_torch(case):
    D, H = case["Wx"].shape[0], case["Wh"].shape[0]
    lstm = torch.nn.LSTM(D, H, batch_first=True, dtype=torch.float64)
    weights = lr.to_layout("torch", case["Wx"], case["Wh"], case["b"])
    with torch.no_grad():
        for name, value in weights.items():
            getattr(lstm, name + "_l0").copy_(torch.from_numpy(value))
    return lstm


def torch_layer_grads(lstm):
    g = {
        n: getattr(lstm, n + "_l0").grad.numpy()
        for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    }
    return lr.grads_from_layout("torch", g)


def test_sequence_with_final_cell_gradient_matches_torch():
    case = layer_case(30, 3, 6, 4, 5)
    h, cache = lr.lstm_forward(case["x"], case["h0"], case["Wx"], case["Wh"], case["b"], case["c0"])
    dx, dh0, dWx, dWh, db, dc0 = lr.lstm_backward(case["dh"], cache, case["dcT"])

    lstm = layer_torch(case)
    x, h0, c0 = (
        tensor(case["x"], True),
        tensor(case["h0"][None], True),
        tensor(case["c0"][None], True),
    )
    out, (hn, cn) = lstm(x, (h0, c0))
    objective = (out * tensor(case["dh"])).sum() + (cn[0] * tensor(case["dcT"])).sum()
    objective.backward()
    assert_parity(h, out, "h")
    assert_parity(cache.cT, cn[0], "cT")
    assert_parity(dx, x.grad, "dx")
    assert_parity(dh0, h0.grad[0], "dh0")
    assert_parity(dc0, c0.grad[0], "dc0")
    for name, ours, theirs in zip(
        ("dWx", "dWh", "db"), (dWx, dWh, db), torch_layer_grads(lstm), strict=True
    ):
        assert_parity(ours, theirs, name)


def test_single_step_matches_torch_lstm_cell():
    rng = np.random.default_rng(31)
    N, D, H = 3, 4, 5
    x, h, c = rng.normal(size=(N, D)), rng.normal(size=(N, H)), rng.normal(size=(N, H))
    Wx, Wh, b = rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)
    dnext_h, dnext_c = rng.normal(size=(N, H)), rng.normal(size=(N, H))
    next_h, next_c, cache = lr.lstm_step_forward(x, h, c, Wx, Wh, b)
    dx, dh, dc, dWx, dWh, db = lr.lstm_step_backward(dnext_h, dnext_c, cache)

    cell = torch.nn.LSTMCell(D, H, dtype=torch.float64)
    with torch.no_grad():
        for name, value in lr.to_layout("torch", Wx, Wh, b).items():
            getattr(cell, name).copy_(torch.from_numpy(value))
    xt, ht, ct = tensor(x, True), tensor(h, True), tensor(c, True)
    th, tc = cell(xt, (ht, ct))
    ((th * tensor(dnext_h)).sum() + (tc * tensor(dnext_c)).sum()).backward()
    assert_parity(next_h, th, "next_h")
    assert_parity(next_c, tc, "next_c")
    for name, ours, theirs in (
        ("dx", dx, xt.grad),
        ("dprev_h", dh, ht.grad),
        ("dprev_c", dc, ct.grad),
    ):
        assert_parity(ours, theirs, name)
    tgrads = {
        n: getattr(cell, n).grad.numpy() for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    }
    for name, ours, theirs in zip(
        ("dWx", "dWh", "db"), (dWx, dWh, db), lr.grads_from_layout("torch", tgrads), strict=True
    ):
        assert_parity(ours, theirs, name)


def test_torch_bias_gradients_are_equal_up_to_rounding():
    """grads_from_torch accepts real torch gradients: d bias_ih and d bias_hh agree."""
    case = layer_case(32, 8, 20, 3, 4)
    lstm = layer_torch(case)
    out, _ = lstm(tensor(case["x"]), (tensor(case["h0"][None]), tensor(case["c0"][None])))
    (out * tensor(case["dh"])).sum().backward()
    d_ih, d_hh = lstm.bias_ih_l0.grad.numpy(), lstm.bias_hh_l0.grad.numpy()
    np.testing.assert_allclose(d_ih, d_hh, rtol=1e-12, atol=1e-14)
