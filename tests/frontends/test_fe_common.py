"""What the front ends share, without torch or jax: names, nested inputs, the missing extras,
and messages about tensors of other libraries."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

import gradcheck
from gradcheck import InvalidArgumentError, MissingDependencyError
from gradcheck._frontend import Contract, arg_names, flatten, foreign_array, select


def test_names_come_from_the_signature():
    def f(x, w, /, b, *rest, scale=1.0):
        return x

    assert arg_names(f, 3) == ["x", "w", "b"]
    assert arg_names(f, 5) == ["x", "w", "b", "rest[0]", "rest[1]"]
    assert arg_names(lambda ctx, q, k: q, 2, skip=1) == ["q", "k"]
    assert arg_names(print, 2) == ["args[0]", "args[1]"]
    assert arg_names(lambda: 0, 2) == ["input0", "input1"]


def test_nested_inputs_are_named_by_their_paths_and_rebuilt():
    value = {"layer1": {"W": 1, "b": 2}, "heads": [3, (4, 5)]}
    tree, leaves = flatten(value, "params", lambda v: isinstance(v, int))
    assert [n for n, _ in leaves] == [
        "params['layer1']['W']",
        "params['layer1']['b']",
        "params['heads'][0]",
        "params['heads'][1][0]",
        "params['heads'][1][1]",
    ]
    rebuilt = tree.rebuild(iter([10, 20, 30, 40, 50]))
    assert rebuilt == {"layer1": {"W": 10, "b": 20}, "heads": [30, (40, 50)]}


def test_wrt_selects_by_name_or_prefix():
    names = ["params['a']", "params['b']", "x", "labels"]
    candidates = ["params['a']", "params['b']", "x"]
    assert select(None, names, candidates) == candidates
    assert select(["params"], names, candidates) == ["params['a']", "params['b']"]
    assert select(["x", "params['b']"], names, candidates) == ["params['b']", "x"]
    with pytest.raises(InvalidArgumentError, match=r"wrt names 'y', which is not an input"):
        select(["y"], names, candidates)
    with pytest.raises(InvalidArgumentError, match=r"'labels', which cannot be checked"):
        select(["labels"], names, candidates)
    with pytest.raises(InvalidArgumentError, match="list of input names"):
        select("x", names, candidates)


def test_contract_comparisons_allow_rounding_and_catch_more():
    g = np.array([1.0, -2.0, 3.0], dtype=np.float32)
    contract = Contract()
    diffs = contract.reentrancy(["x"], [g], [g.copy()], [g.dtype])
    assert diffs == [0.0]
    assert not contract.findings
    assert not contract.notes
    nudged = g + np.float32(1e-7) * np.float32(3.0)  # an ulp or so: rounding, noted
    contract.reentrancy(["x"], [g], [nudged], [g.dtype])
    assert not contract.findings
    assert "within the rounding bound" in contract.notes[0]
    contract.reentrancy(["x"], [g], [g * 1.01], [g.dtype])
    assert "disagree" in contract.findings[0].summary
    linear = Contract()
    linear.linearity(["x"], [g], [-2 * g], [g.dtype], [0.0])
    assert not linear.findings
    linear.linearity(["x"], [g], [2 * g], [g.dtype], [0.0])  # |grad_output| used: not linear
    (finding,) = linear.findings
    assert finding.kind == "contract"
    assert "not linear" in finding.summary


@pytest.mark.parametrize(("module", "extra"), [("torch", "torch"), ("jax", "jax")])
def test_a_missing_framework_names_its_extra(monkeypatch, module, extra):
    if f"gradcheck.{module}" in sys.modules:  # forget the front end, restored afterwards
        monkeypatch.delattr(gradcheck, module, raising=False)
        monkeypatch.delitem(sys.modules, f"gradcheck.{module}")
    monkeypatch.setitem(sys.modules, module, None)  # import of the framework fails
    with pytest.raises(MissingDependencyError, match=rf'pip install "gradcheck\[{extra}\]"'):
        importlib.import_module(f"gradcheck.{module}")
    with pytest.raises(ImportError, match=f"gradcheck.{module} needs {module}"):
        getattr(gradcheck, module)  # also on attribute access after import gradcheck


def test_import_gradcheck_loads_no_framework():
    code = (
        "import sys, gradcheck, gradcheck._plugin; "
        "print([m for m in ('torch', 'jax', 'ml_dtypes') if m in sys.modules])"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class FakeTensor:
    """Looks like a torch tensor to the message code (module, shape, dtype, device)."""

    __module__ = "torch"

    def __init__(self, shape):
        self.shape = shape
        self.dtype = "torch.float32"
        self.device = "cpu"

    def __repr__(self):
        return "tensor([" + ", ".join(["0.1234567"] * 400) + "])"


def test_a_tensor_given_as_input_is_described_whole():
    x = FakeTensor((20, 20))
    assert foreign_array(x) == "a torch.Tensor of shape (20, 20) and dtype torch.float32 on cpu"
    with pytest.raises(InvalidArgumentError) as info:
        gradcheck.check_grad(lambda x: 0.0, lambda x: (x,), {"x": x})
    message = str(info.value)
    assert "0.1234567" not in message  # no values, so nothing to cut
    assert message.endswith("check torch code with gradcheck.torch.check_function(fn, inputs)")


def test_a_tensor_returned_as_gradient_is_described_whole():
    with pytest.raises(gradcheck.InvalidGradientError) as info:
        gradcheck.check_vjp(np.sin, lambda d, x: FakeTensor((3,)), {"x": np.linspace(0, 1, 3)})
    message = str(info.value)
    assert "gradient 0 (in the order of the inputs) is a torch.Tensor of shape (3,)" in message
    assert message.endswith("gradcheck.torch.check_function(fn, inputs)")
