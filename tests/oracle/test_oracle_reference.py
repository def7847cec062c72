"""check_against on lstm_ref itself and on its planted bugs, in every layout and scope.

lstm_ref run through another layout is a correct implementation that rounds differently
(the layout conversions only move entries, but float32 runs and the reference's float64 do
not), so it must pass; every mutant of lstm_ref.mutants must fail where it is visible, and
the ones with a known place must be located there.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from oracle_helpers import finding, reference_subject

import gradcheck as gc
import lstm_ref as lr
from lstm_ref import LSTMSubject, Run
from lstm_ref.mutants import MUTANTS
from lstm_ref.oracle import FD_MODES, ROUNDING, check_against

SCOPES = [
    {"L": 1},
    {"L": 2, "states": True},
    {"L": 2, "head": "last"},
    {"L": 1, "head": "every", "objective": "mse"},
]
SCOPE_IDS = ["layer", "stack-states", "model-last", "model-every-mse"]


@pytest.mark.parametrize("layout", lr.LAYOUTS)
@pytest.mark.parametrize("scope", SCOPES, ids=SCOPE_IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_reference_in_any_layout_passes(layout, scope, dtype):
    subject = reference_subject(layout, dtype=dtype, **scope)
    result = check_against(subject, seed=3)
    assert result.passed, str(result)
    assert result.method == "reference"
    names = list(result.inputs)
    assert names[0] == ("loss (forward)" if "head" in scope else "h (forward)")
    for name in subject.params:
        assert name in names  # every gradient is compared
    if "head" not in scope:
        assert "x" in names
        assert any(n.endswith("cT (forward)") for n in names)
    assert all(r.checked == r.size for r in result.inputs.values())
    # the threshold is rounding-sized: K * eps * magnitude
    eps = np.finfo(dtype).eps
    worst = max(
        r.max_abs_error / max(np.abs(r.numeric).max(), 1e-300) for r in result.inputs.values()
    )
    assert worst < 1e3 * eps


def test_the_bound_is_k_eps_times_the_magnitude():
    result = check_against(reference_subject("torch", L=2))
    eps = np.finfo(np.float64).eps
    for r in result.inputs.values():
        np.testing.assert_allclose(
            r.threshold, ROUNDING["float64"] * r.error_estimate + np.finfo(float).tiny, rtol=1e-12
        )
        assert np.all(r.error_estimate >= eps * np.abs(r.numeric) * (1 - 1e-12))


SEQUENCE = sorted(name for name, m in MUTANTS.items() if m.lstm_backward is not None)
MODEL = sorted(MUTANTS)


@pytest.mark.parametrize("mutant", SEQUENCE)
@pytest.mark.parametrize("layout", ["packed", "per_gate_col", "torch"])
def test_every_sequence_mutant_is_caught_in_a_stack(mutant, layout):
    m = MUTANTS[mutant]
    D = 4 if "D==H" in m.reveals else 3  # H = 4
    result = check_against(reference_subject(layout, L=2, D=D, states=True, mutant=mutant))
    assert not result.passed
    assert result.findings


@pytest.mark.parametrize("mutant", MODEL)
def test_every_model_mutant_is_caught(mutant):
    m = MUTANTS[mutant]
    head = "every" if "head=every" in m.reveals else "last"
    subject = reference_subject("concat_hx", L=2, head=head, states=True, mutant=mutant)
    result = check_against(subject)
    assert not result.passed


def test_located_bias_from_the_forget_gate():
    result = check_against(reference_subject("per_gate_row", L=2, mutant="bi_from_df"))
    for k in (0, 1):
        f = finding(result, "wrong_input", layer=k, part="b", gate="i", source_gate="f")
        assert f is not None, [x.summary for x in result.findings]
        assert "b_i" in f.summary
    assert finding(result, "block", layers=[0, 1]) is not None
    assert result.inputs["layer0.b_f"].passed
    assert not result.inputs["layer0.b_i"].passed


def test_located_input_weights_of_the_last_step_only():
    result = check_against(reference_subject("packed", mutant="dWx_last_step"), T=5)
    f = finding(result, "time_range", layer=0, part="Wx")
    assert f is not None
    assert f.evidence["steps_counted"] == [4]
    assert f.evidence["steps_missing"] == [0, 1, 2, 3]
    assert "counts only step 4" in f.summary


def test_located_missing_cell_carry():
    result = check_against(reference_subject("concat_xh", mutant="no_dc_carry"), T=5)
    f = finding(result, "missing_term", first_failing_steps=2)
    assert f is not None
    gates = f.evidence["gates"]["0"]
    assert "o" not in gates
    assert set(gates) <= {"i", "f", "g"}
    assert "cell-state gradient" in f.hint


def test_located_missing_hidden_carry_reads_differently():
    result = check_against(reference_subject("concat_xh", mutant="no_dh_carry"), T=5)
    f = finding(result, "missing_term", first_failing_steps=2)
    assert f is not None
    assert "o" in f.evidence["gates"]["0"]
    assert "hidden-state carry" in f.hint


def test_located_constant_ratio():
    result = check_against(reference_subject("packed", mutant="db_batch_mean"), N=5)
    f = finding(result, "constant_ratio", factor="1/N")
    assert f is not None
    assert result.findings[0] is f
    result = check_against(
        reference_subject("torch", head="last", mutant="loss_grad_not_averaged"), N=5
    )
    f = finding(result, "constant_ratio", factor="N")
    assert f is not None
    assert f.summary.startswith("every gradient is 5 = N")
    assert result.inputs["loss (forward)"].passed


def test_a_one_element_error_of_1e_minus_12_is_caught_where_finite_differences_pass():
    subject = reference_subject("per_gate_col", head="last")

    def run(p, x, y):
        out = subject.run(p, x, y)
        grads = dict(out.grads)
        grads["layer0.Wfh"] = grads["layer0.Wfh"].copy()
        grads["layer0.Wfh"][1, 2] *= 1 + 1e-12  # rounding is 1e-16; differences reach 1e-10
        return Run(out.outputs, grads)

    planted = dataclasses.replace(subject, run=run)
    result = check_against(planted)
    assert not result.passed
    wfh = result.inputs["layer0.Wfh"]
    assert wfh.mismatches == 1
    assert wfh.worst.index == (1, 2)
    fd = check_against(planted, fd="all")
    assert fd.inputs["layer0.Wfh (fd)"].passed  # finite differences cannot see it
    assert not fd.inputs["layer0.Wfh"].passed


def test_a_wrong_forward_with_a_consistent_backward():
    """Finite differences pass code whose backward matches a wrong forward; the reference
    does not, and fd='auto' then adds the finite-difference rows."""
    subject = reference_subject("packed", L=1)

    def run(p, x, dh):
        scaled = dict(p)
        scaled["layer0.b"] = p["layer0.b"] * 2  # the forward uses 2 b ...
        out = subject.run(scaled, x, dh)
        grads = dict(out.grads)
        grads["layer0.b"] = grads["layer0.b"] * 2  # ... and the gradient follows it
        return Run(out.outputs, grads)

    result = check_against(dataclasses.replace(subject, run=run))
    assert not result.inputs["h (forward)"].passed
    assert result.inputs["layer0.b (fd)"].passed
    assert result.inputs["layer0.Wx (fd)"].passed
    f = result.findings[0]
    assert f.kind == "time_range"
    assert f.evidence["first_step"] == 0
    assert "finite differences" in f.summary


def test_unknown_parameters_are_checked_by_finite_differences():
    subject = reference_subject("per_gate_row")
    params = {**subject.params, "scale": np.array(1.0)}

    def run(p, x, dh, wrong=False):
        out = subject.run({n: v for n, v in p.items() if n != "scale"}, x, dh)
        h = out.outputs["h"] * p["scale"]
        grads = {n: g * p["scale"] for n, g in out.grads.items()}
        grads["scale"] = np.array(np.sum(dh * out.outputs["h"]) * (2 if wrong else 1))
        return Run({**out.outputs, "h": h}, grads)

    good = check_against(LSTMSubject(run, params, "per_gate_row"))
    assert good.passed
    assert "scale" in good.inputs
    assert "scale (fd)" not in good.inputs
    assert any("finite differences" in n for n in good.notes)
    bad = check_against(
        LSTMSubject(lambda p, x, dh: run(p, x, dh, wrong=True), params, "per_gate_row")
    )
    assert not bad.inputs["scale"].passed
    assert all(r.passed for n, r in bad.inputs.items() if n != "scale")


@pytest.mark.parametrize("fd", FD_MODES)
def test_fd_modes(fd):
    result = check_against(reference_subject("packed"), fd=fd, mode="sample", samples=3)
    fd_rows = [n for n in result.inputs if n.endswith(" (fd)")]
    assert result.passed
    assert fd_rows == (["layer0.Wx (fd)", "layer0.Wh (fd)", "layer0.b (fd)"] if fd == "all" else [])
    if fd == "all":
        assert result.inputs["layer0.Wx (fd)"].checked == 3


def test_the_callers_arrays_and_silence(capsys):
    subject = reference_subject("torch", L=2, states=True, mutant="no_dc_carry")
    before = {n: v.copy() for n, v in subject.params.items()}
    check_against(subject, fd="all")
    for n, v in subject.params.items():
        assert np.array_equal(v, before[n])
    assert capsys.readouterr() == ("", "")


def _broken(**changes):
    subject = reference_subject("packed")
    return dataclasses.replace(subject, **changes)


def _run_returning(outputs=None, grads=None, raises=None):
    subject = reference_subject("packed")

    def run(p, x, dh):
        if raises is not None:
            raise raises
        out = subject.run(p, x, dh)
        return Run(
            outputs if outputs is not None else out.outputs,
            grads(out.grads) if grads is not None else out.grads,
        )

    return dataclasses.replace(subject, run=run)


@pytest.mark.parametrize(
    ("subject", "kwargs", "error", "message"),
    [
        (lambda: object(), {}, gc.InvalidArgumentError, "Expected an lstm_ref.LSTMSubject"),
        (lambda: _broken(layout="keras"), {}, gc.InvalidArgumentError, "layout must be one of"),
        (lambda: reference_subject(), {"fd": "some"}, gc.InvalidArgumentError, "fd must be one of"),
        (lambda: reference_subject(), {"T": 0}, gc.InvalidArgumentError, "T=0"),
        (lambda: reference_subject(), {"N": True}, gc.InvalidArgumentError, "N=True"),
        (lambda: reference_subject(states=True), {"N": 5}, gc.InvalidArgumentError,
         "initial states of .* have N=3 rows"),
        (lambda: _broken(params={**reference_subject().params, "layer0.Wx": np.ones((3, 8))}),
         {}, gc.InvalidArgumentError, r"Wx has shape \(3, 8\)"),
        (lambda: _broken(params={**reference_subject().params,
                                 "layer0.b": np.ones(16, np.float32)}),
         {}, gc.InvalidArgumentError, "must all be float32 or all float64"),
        (lambda: _broken(params={k: v for k, v in reference_subject().params.items()
                                 if k != "layer0.Wh"}),
         {}, gc.InvalidArgumentError, "no parameter layer0.Wh"),
        (lambda: _broken(head="last"), {}, gc.InvalidArgumentError, "has no fc.W, fc.b"),
        (lambda: _run_returning(raises=KeyError("oops")), {}, gc.UserCodeError,
         "raised KeyError"),
        (lambda: _run_returning(outputs={"h": np.zeros((3, 4, 5))}), {}, gc.InvalidOutputError,
         r"h \(forward\) of shape \(3, 4, 5\), expected \(3, 4, 4\)"),
        (lambda: _run_returning(outputs={"hidden": 1}), {}, gc.InvalidOutputError,
         "returned the output 'hidden'"),
        (lambda: _run_returning(grads=lambda g: {k: v for k, v in g.items() if k != "layer0.b"}),
         {}, gc.InvalidGradientError, r"no gradient for \['layer0.b'\]"),
        (lambda: _run_returning(grads=lambda g: {**g, "layer0.b": g["layer0.b"][:4]}),
         {}, gc.InvalidGradientError, r"gradient of layer0.b with shape \(4,\), expected \(16,\)"),
        (lambda: _run_returning(grads=lambda g: {**g, "bias": g["layer0.b"]}),
         {}, gc.InvalidGradientError, "'bias', which is not a parameter"),
    ],
    ids=["not-a-subject", "layout", "fd", "T", "N-bool", "N-states", "shape", "dtypes",
         "missing", "no-head", "raises", "output-shape", "output-name", "no-grad", "grad-shape",
         "extra-grad"],
)  # fmt: skip
def test_bad_subjects_and_arguments(subject, kwargs, error, message):
    with pytest.raises(error, match=message):
        check_against(subject(), **kwargs)


def test_user_errors_keep_their_cause():
    with pytest.raises(gc.UserCodeError) as info:
        check_against(_run_returning(raises=ZeroDivisionError("boom")))
    assert isinstance(info.value.__cause__, ZeroDivisionError)
