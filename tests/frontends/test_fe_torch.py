"""gradcheck.torch: autograd Functions, functions of tensors and module parameters, checked in
their own dtype, with the contract checks of a backward pass."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch)")

import fe_torch_functions as fns  # noqa: E402

from gradcheck import (  # noqa: E402
    GradientCheckFailure,
    InputMutationError,
    InvalidArgumentError,
    NondeterminismError,
    UserCodeError,
)
from gradcheck.torch import check_function, check_module  # noqa: E402

pytestmark = pytest.mark.torch

FLOATS = [torch.float64, torch.float32]
CUDA = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device: the CUDA paths are not tested here"
)


def randn(*shape, dtype=torch.float64, seed=0, grad=True, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype).to(device).requires_grad_(grad)


def contract_findings(result):
    return [f for f in result.findings if f.kind == "contract"]


# ---- values -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("fn", [fns.Gelu, fns.Gelu.apply], ids=["class", "apply"])
def test_a_correct_function_passes_in_its_own_dtype(fn, dtype):
    x = randn(4, 5, dtype=dtype)
    result = check_function(fn, (x,))
    assert result.passed, result
    assert list(result.inputs) == ["x"]
    assert result.inputs["x"].dtype == str(dtype).removeprefix("torch.")
    assert not result.findings


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_a_missing_term_is_caught_and_located(dtype):
    result = check_function(fns.GeluMissingTerm, (randn(4, 5, dtype=dtype),))
    assert not result.passed
    assert result.inputs["x"].mismatches > 10
    assert not contract_findings(result)  # the contracts hold: only the values are wrong
    with pytest.raises(GradientCheckFailure, match="inputs have gradient mismatches"):
        result.raise_for_failure()


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_a_transposed_weight_gradient_is_named(dtype):
    x, w, b = randn(5, 4, dtype=dtype), randn(4, 4, dtype=dtype, seed=1), randn(4, dtype=dtype)
    result = check_function(fns.LinearTransposed, (x, w, b))
    assert [r.name for r in result.failed_inputs] == ["w"]
    assert result.findings_for("w")[0].kind == "transposed"


def test_names_come_from_forward_in_both_styles():
    x, w, b = randn(3, 2), randn(2, 4, seed=1), randn(4, seed=2)
    for fn in (fns.Linear, fns.LinearNewStyle):
        result = check_function(fn, (x, w, b))
        assert result.passed
        assert list(result.inputs) == ["x", "w", "b"]


def test_a_plain_function_with_nested_inputs_and_passed_through_arguments():
    params = {"W": randn(4, 3), "b": randn(3, seed=1)}
    x = randn(5, 4, seed=2, grad=False)
    labels = torch.tensor([0, 2, 1, 1, 0])

    def loss(params, x, labels, scale):
        logits = (x @ params["W"] + params["b"]) * scale
        return torch.nn.functional.cross_entropy(logits, labels)

    result = check_function(loss, (params, x, labels, 2.0))
    assert result.passed
    assert list(result.inputs) == ["params['W']", "params['b']"]  # x does not require grad


def test_dict_inputs_name_the_arguments_and_wrt_selects_a_prefix():
    def f(a, b):
        return torch.tanh(a["u"] * b) + a["v"]

    inputs = {"first": {"u": randn(3), "v": randn(3, seed=1)}, "second": randn(3, seed=2)}
    result = check_function(f, inputs, wrt=["first"])
    assert list(result.inputs) == ["first['u']", "first['v']"]
    with pytest.raises(InvalidArgumentError, match="requires grad"):
        check_function(f, {**inputs, "second": randn(3, grad=False)}, wrt=["second"])


def test_outputs_may_be_nested_and_non_floating_outputs_are_left_out():
    x = randn(3, 4)
    result = check_function(fns.Scale, (x, 3.0))
    assert result.passed
    assert list(result.inputs) == ["x"]

    def several(x):
        return {"y": x.sin(), "parts": [x.cos(), x.argmax()]}

    assert check_function(several, (x,)).passed


def test_the_callers_tensors_are_left_as_they_were():
    x, w, b = randn(3, 2), randn(2, 4, seed=1), randn(4, seed=2)
    before = [t.detach().clone() for t in (x, w, b)]
    check_function(fns.Linear, (x, w, b))
    for t, old in zip((x, w, b), before, strict=True):
        assert torch.equal(t, old)
        assert t.requires_grad
        assert t.grad is None


def test_a_function_writing_to_its_input_is_caught():
    def inplace(x):
        x.mul_(2)  # under no_grad, on the tensor the checker made for this call
        return x.sin()

    with pytest.raises(InputMutationError, match=r"changed its input\(s\) \['x'\]"):
        check_function(inplace, (randn(3),))

    mask = torch.ones(3)

    def writes_passed_through(x, mask):
        mask.zero_()
        return x * 2

    with pytest.raises(InputMutationError, match=r"\['mask'\]"):
        check_function(writes_passed_through, (randn(3), mask))
    assert torch.equal(mask, torch.ones(3))  # the caller's tensor is not the one written


# ---- contracts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_a_backward_nonlinear_in_grad_output_breaks_the_contract(dtype):
    result = check_function(fns.GeluAbsGrad, (randn(4, 5, dtype=dtype),))
    (finding,) = contract_findings(result)
    assert not result.passed
    assert finding.input == "x"
    assert finding.confidence == "exact"
    assert "not linear in grad_output" in finding.summary
    assert result.findings[0] is finding  # contract findings come first


def test_a_gradient_of_another_dtype_breaks_the_contract_even_though_torch_casts_it():
    result = check_function(fns.GeluFloat64Grad, (randn(4, dtype=torch.float32),))
    (finding,) = contract_findings(result)
    assert finding.summary == (
        "GeluFloat64Grad.backward returned a gradient of dtype torch.float64 for x, whose dtype "
        "is torch.float32"
    )
    assert result.inputs["x"].passed  # the values, cast by torch, are right
    assert "breaks its framework's contract" in str(result)


def test_a_gradient_of_another_shape_breaks_the_contract():
    x, w, b = randn(5, 3), randn(3, 4, seed=1), randn(4, seed=2)
    result = check_function(fns.LinearBiasUnreduced, (x, w, b))
    (finding,) = contract_findings(result)
    assert finding.input == "b"
    assert "of shape (5, 4) for b, whose shape is (4,)" in finding.summary
    assert "reduces it to the input's shape by summation" in finding.hint


def test_a_backward_that_is_not_reentrant_breaks_the_contract():
    result = check_function(fns.GeluCounter, (randn(4),))
    findings = contract_findings(result)
    assert any("two backward runs" in f.summary for f in findings)


def test_a_backward_that_cannot_run_twice_breaks_the_contract():
    class Once(fns.Gelu):
        @staticmethod
        def backward(ctx, grad):
            if getattr(ctx, "done", False):
                raise RuntimeError("the saved buffer was freed")
            ctx.done = True
            return fns.Gelu.backward(ctx, grad)

    result = check_function(Once, (randn(3),))
    (finding,) = contract_findings(result)
    assert "cannot run twice" in finding.summary
    assert "the saved buffer was freed" in finding.summary


def test_contracts_false_skips_the_contract_checks():
    result = check_function(fns.GeluAbsGrad, (randn(4, 5),), contracts=False)
    assert not contract_findings(result)
    assert check_function(fns.GeluFloat64Grad, (randn(4),), contracts=False).passed


def test_a_correct_function_has_no_contract_note_or_finding():
    result = check_function(fns.Linear, (randn(3, 2), randn(2, 4, seed=1), randn(4, seed=2)))
    assert result.passed
    assert not result.findings
    assert not [n for n in result.notes if "backward" in n]


# ---- modules ------------------------------------------------------------------------------------


def test_a_modules_parameters_are_checked_and_its_state_left_unchanged():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.BatchNorm1d(3),  # training mode: batch statistics, its running stats move
        torch.nn.Linear(3, 4),
        torch.nn.Tanh(),
        torch.nn.LayerNorm(4),
        torch.nn.Linear(4, 2),
    )
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = randn(6, 3, dtype=torch.float32, grad=False)
    result = check_module(net, (x,))
    assert result.passed, result
    assert list(result.inputs) == [
        "0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias", "4.weight", "4.bias"
    ]  # fmt: skip
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_frozen_parameters_are_left_out_and_inputs_that_require_grad_are_checked():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2).double()
    net.bias.requires_grad_(False)
    result = check_module(net, {"input": randn(4, 3)})
    assert list(result.inputs) == ["input", "weight"]
    assert check_module(net, {"input": randn(4, 3)}, wrt=["weight"]).passed


def test_a_module_in_training_mode_with_dropout_is_told_to_call_eval():
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Dropout(0.5))
    with pytest.raises(NondeterminismError) as info:
        check_module(net, (torch.randn(4, 3),))
    assert any("module.eval()" in note for note in info.value.__notes__)
    assert check_module(net.eval(), (torch.randn(4, 3),)).passed


# ---- arguments ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: check_function(3, (randn(2),)), "Expected a callable"),
        (lambda: check_function(torch.sin, (randn(2, grad=False),)), "no input requires grad"),
        (lambda: check_function(torch.sin, ()), "inputs is empty"),
        (lambda: check_function(torch.sin, "x"), "Expected inputs to be a tuple"),
        (lambda: check_function(torch.sin, {1: randn(2)}), "string names"),
        (
            lambda: check_function(torch.sin, (randn(2, dtype=torch.complex64),)),
            "complex tensor",
        ),
        (lambda: check_function(torch.sin, (randn(2),), contracts=1), "True or False"),
        (lambda: check_function(torch.sin, (randn(2),), wrt=["y"]), "not an input"),
        (lambda: check_function(torch.sin, (randn(2),), methd="central"), "did you mean"),
        (lambda: check_module(torch.sin, (randn(2),)), "Expected a torch.nn.Module"),
    ],
    ids=[
        "fn",
        "no-grad",
        "empty",
        "string",
        "int-key",
        "complex",
        "contracts",
        "wrt",
        "typo",
        "module",
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(InvalidArgumentError, match=message):
        call()


# ---- half precision -----------------------------------------------------------------------------


def test_float16_is_checked_in_its_own_dtype():
    x = randn(4, 5, dtype=torch.float16)
    result = check_function(fns.Gelu, (x,))
    assert result.passed, result
    assert result.inputs["x"].dtype == "float16"
    assert check_function(fns.GeluMissingTerm, (x,)).inputs["x"].mismatches > 0


def test_bfloat16_claims_no_mismatch_it_cannot_see():
    # 8 bits of mantissa: the numerical derivative of a GELU cannot be made precise enough to
    # judge its elements, which are reported unverified (the check does not pass)
    pytest.importorskip("ml_dtypes", reason="bfloat16 needs ml_dtypes")
    x = randn(4, 5, dtype=torch.bfloat16)
    result = check_function(fns.Gelu, (x,))
    assert result.inputs["x"].dtype == "bfloat16"
    assert result.inputs["x"].mismatches == 0
    assert result.inputs["x"].unverified > 0
    assert not result.passed


def test_half_precision_tensors_become_numpy_arrays_of_the_same_dtype():
    pytest.importorskip("ml_dtypes", reason="bfloat16 needs ml_dtypes")
    from gradcheck.torch import _to_numpy, _to_tensor

    for dtype, name in ((torch.float16, "float16"), (torch.bfloat16, "bfloat16")):
        t = torch.tensor([1.0, -2.5, 3.140625, 65504.0 if name == "float16" else 1e30], dtype=dtype)
        array = _to_numpy(t)
        assert array.dtype.name == name
        back = _to_tensor(array, "cpu")
        assert back.dtype == dtype
        assert torch.equal(back, t)
        assert np.array_equal(array.astype(np.float64), t.double().numpy())


# ---- devices ------------------------------------------------------------------------------------


@CUDA
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_cuda_tensors_are_checked_on_their_device(dtype):
    x = randn(4, 5, dtype=dtype, device="cuda")
    result = check_function(fns.Gelu, (x,))
    assert result.passed
    assert x.device.type == "cuda"
    assert not check_function(fns.GeluMissingTerm, (x,)).passed


@CUDA
@pytest.mark.cuda
def test_a_gradient_on_another_device_is_an_error_of_torch():
    class ToCpu(fns.Gelu):
        @staticmethod
        def backward(ctx, grad):
            return fns.Gelu.backward(ctx, grad).cpu()

    with pytest.raises(Exception, match="device"):
        check_function(ToCpu, (randn(3, device="cuda"),))


def test_an_error_in_backward_names_the_backward_pass():
    class Unfinished(fns.Gelu):
        @staticmethod
        def backward(ctx, grad):
            raise NotImplementedError("backward is not written yet")

    with pytest.raises(UserCodeError, match=r"backward pass of Unfinished.apply .* not written"):
        check_function(Unfinished, (randn(3),))


def test_reports_of_a_contract_violation_validate_and_name_it():
    import json
    from importlib import resources

    import jsonschema

    import gradcheck

    params = {"w": randn(4, 5)}
    result = check_function(lambda p: fns.GeluAbsGrad.apply(p["w"]), (params,))
    schema = json.loads(
        resources.files("gradcheck").joinpath("schema/report.schema.json").read_text()
    )
    data = json.loads(gradcheck.report(result, "json"))
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["findings"][0]["kind"] == "contract"
    assert data["findings"][0]["input"] == "p['w']"  # the lambda's parameter name
    markdown = gradcheck.report(result, "markdown")
    assert "not linear in grad\\_output" in markdown  # Markdown escapes the underscore
