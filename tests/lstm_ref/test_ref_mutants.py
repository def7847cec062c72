"""The mutant catalogue: every bug shows where ``reveals`` says, and nowhere else.

At every shape tried, a mutant's gradients differ from the reference exactly when
``Mutant.visible`` says so; where it is invisible they are identical (bit for bit up to
the sign of zero), which proves the ``reveals`` field. Where visible, the differing
parameters are the ones ``where`` names, and central differences expose the bug.
"""

from __future__ import annotations

import fnmatch

import numpy as np
import pytest
from ref_helpers import CD_ATOL, CD_RTOL, central_diff, layer_case, model_case, with_replaced

import lstm_ref as lr
from lstm_ref.mutants import FINDINGS, MUTANTS, Mutant

# A small shape where every atom of every reveals condition can hold: N, T, L, H > 1 and
# D != H (the D == H case is tried separately).
BASE = {"N": 2, "T": 3, "D": 2, "H": 3, "L": 2, "C": 2}
REQUIRED = {
    "bi_from_df", "bo_from_df", "dWx_last_step", "no_dh_carry", "no_dc_carry",
    "no_dh_into_dc", "db_batch_mean", "swap_f_o", "sigmoid_grad_i", "tanh_grad_g",
    "dc0_no_f", "dh0_zero", "dWh_uses_h_t", "no_layer_carry", "layer_grads_swapped",
    "loss_grad_not_averaged", "fc_db_mean", "every_head_last_only", "dWx_dWh_swapped",
    "dWh_blocks_transposed",
}  # fmt: skip
CONFIGS = [(h, o) for h in lr.HEADS for o in lr.OBJECTIVES]


def grads_of(fn, shape, head, objective, seed=0):
    params, x, y = model_case(seed, head=head, objective=objective, **shape)
    return fn(params, x, y, head=head, objective=objective)[1]


def differing(ref, bad):
    return [name for name in ref if not np.array_equal(ref[name], bad[name])]


def matches(name, patterns):
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def shapes_to_try():
    """BASE and its single-atom variations, each with every head and objective."""
    variations = [{}, {"N": 1}, {"T": 1}, {"L": 1}, {"H": 1}, {"D": 3}, {"D": 3, "L": 1}]
    return [({**BASE, **v}, h, o) for v in variations for h, o in CONFIGS]


def test_catalogue_fields():
    assert len(MUTANTS) >= 16
    assert set(MUTANTS) >= REQUIRED
    names = list(init_names())
    for key, mutant in MUTANTS.items():
        assert isinstance(mutant, Mutant)
        assert mutant.name == key
        assert mutant.finding in FINDINGS, key
        assert mutant.description.endswith("."), key
        assert mutant.description.count(". ") == 0, key  # one sentence
        mutant.visible(**BASE)  # reveals parses
        for pattern in mutant.where:
            assert any(fnmatch.fnmatchcase(n, pattern) for n in names), (key, pattern)
    # the catalogue exercises the conditions a checker must vary
    for atom in ("N>1", "T>1", "L>1"):
        only = [m for m in MUTANTS.values() if m.reveals == atom]
        assert len(only) >= 2, atom
    with pytest.raises(AttributeError):
        MUTANTS["dh0_zero"].name = "x"  # frozen


def init_names():
    return model_case(0, **BASE)[0]


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_model_mutant_differs_exactly_where_visible(name):
    mutant = MUTANTS[name]
    seen_visible = False
    for shape, head, objective in shapes_to_try():
        ref = grads_of(lr.loss, shape, head, objective)
        bad = grads_of(mutant.loss, shape, head, objective)
        diff = differing(ref, bad)
        if mutant.visible(**shape, head=head, objective=objective):
            seen_visible = True
            assert diff, f"{name} invisible at {shape} {head} {objective}"
            outside = [n for n in diff if not matches(n, mutant.where)]
            assert not outside, f"{name} also changes {outside}"
            worst = max(
                np.abs(bad[n] - ref[n]).max() / max(np.abs(ref[n]).max(), 1e-300) for n in diff
            )
            assert worst > 1e-3, f"{name} is visible only at rounding level ({worst:.1e})"
        else:
            assert not diff, f"{name} changes {diff} at {shape} {head} {objective}"
    assert seen_visible


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_where_names_exactly_the_wrong_gradients_at_the_base_shape(name):
    mutant = MUTANTS[name]
    head = "every" if mutant.visible(**BASE, head="every") else "last"
    ref = grads_of(lr.loss, BASE, head, "softmax")
    bad = grads_of(mutant.loss, BASE, head, "softmax")
    diff = differing(ref, bad)
    for pattern in mutant.where:
        assert any(fnmatch.fnmatchcase(n, pattern) for n in diff), (name, pattern)


SEQUENCE_MUTANTS = sorted(name for name, m in MUTANTS.items() if m.lstm_backward is not None)


@pytest.mark.parametrize("name", SEQUENCE_MUTANTS)
@pytest.mark.parametrize("with_dcT", [False, True], ids=["no_dcT", "dcT"])
def test_sequence_mutant_differs_exactly_where_visible(name, with_dcT):
    mutant = MUTANTS[name]
    assert mutant.lstm_backward is not None
    for N, T, D, H in [(2, 3, 2, 3), (1, 3, 2, 3), (2, 1, 2, 3), (2, 3, 2, 1), (2, 3, 3, 3)]:
        case = layer_case(1, N, T, D, H)
        _, cache = lr.lstm_forward(*(case[k] for k in ("x", "h0", "Wx", "Wh", "b", "c0")))
        dcT = case["dcT"] if with_dcT else None
        ref = lr.lstm_backward(case["dh"], cache, dcT)
        bad = mutant.lstm_backward(case["dh"], cache, dcT)
        same = all(np.array_equal(r, b) for r, b in zip(ref, bad, strict=True))
        assert same != mutant.visible(N=N, T=T, D=D, H=H, L=1), (N, T, D, H)


@pytest.fixture(scope="module")
def numeric_gradients():
    """Central-difference gradients of the reference loss at BASE, per configuration."""
    out = {}
    for head, objective in CONFIGS:
        params, x, y = model_case(0, head=head, objective=objective, **BASE)

        def f(p, x=x, y=y, head=head, objective=objective):
            return lr.loss(p, x, y, head=head, objective=objective)[0]

        out[head, objective] = {
            name: central_diff(
                lambda v, name=name, params=params: f(with_replaced(params, name, v)), value
            )
            for name, value in params.items()
        }
    return out


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_central_differences_expose_every_mutant(name, numeric_gradients):
    mutant = MUTANTS[name]
    head, objective = next(
        (h, o) for h, o in CONFIGS if mutant.visible(**BASE, head=h, objective=o)
    )
    numeric = numeric_gradients[head, objective]
    ref = grads_of(lr.loss, BASE, head, objective)
    bad = grads_of(mutant.loss, BASE, head, objective)
    for param in ref:
        np.testing.assert_allclose(ref[param], numeric[param], rtol=CD_RTOL, atol=CD_ATOL)
    caught = [
        param
        for param in bad
        if not np.allclose(bad[param], numeric[param], rtol=CD_RTOL, atol=CD_ATOL)
    ]
    assert caught, name


def gate_blocks(a, H):
    return [a[..., k * H : (k + 1) * H] for k in range(4)]


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_finding_matches_the_mismatch(name):
    """The ``finding`` field names what the wrong gradients look like."""
    mutant = MUTANTS[name]
    shape = {**BASE, "T": 1, "L": 1} if mutant.finding in ("block", "swapped_blocks") else BASE
    if not mutant.visible(**shape):
        shape = BASE  # needs T > 1 or L > 1 to show at all
    head = "every" if mutant.visible(**shape, head="every") else "last"
    ref = grads_of(lr.loss, shape, head, "softmax")
    bad = grads_of(mutant.loss, shape, head, "softmax")
    diff = differing(ref, bad)
    H = shape["H"]
    if mutant.finding == "constant_ratio":
        ratios = {round(float((bad[n] / ref[n]).flat[0]), 12) for n in diff}
        assert len(ratios) == 1, ratios
        (ratio,) = ratios
        for n in diff:
            np.testing.assert_allclose(bad[n], ratio * ref[n], rtol=1e-12, atol=0)
    elif mutant.finding == "all_zero":
        assert all(not bad[n].any() for n in diff)
    elif mutant.finding == "transposed":
        for n in diff:
            for b_block, r_block in zip(
                gate_blocks(bad[n], H), gate_blocks(ref[n], H), strict=True
            ):
                np.testing.assert_array_equal(b_block, r_block.T)
    elif mutant.finding == "block":  # at T = 1, L = 1 only one gate block is wrong
        for n in diff:
            if bad[n].shape[-1] == 4 * H:
                wrong = [
                    k
                    for k, (b_block, r_block) in enumerate(
                        zip(gate_blocks(bad[n], H), gate_blocks(ref[n], H), strict=True)
                    )
                    if not np.array_equal(b_block, r_block)
                ]
                assert len(wrong) == 1, (n, wrong)
    elif name == "swap_f_o":  # at T = 1, L = 1 the f and o blocks are exchanged exactly
        for n in ("layer0.Wx", "layer0.Wh", "layer0.b"):
            _, f_bad, o_bad, _ = gate_blocks(bad[n], H)
            _, f_ref, o_ref, _ = gate_blocks(ref[n], H)
            np.testing.assert_array_equal(f_bad, o_ref)
            np.testing.assert_array_equal(o_bad, f_ref)
    elif name == "layer_grads_swapped":
        for field in ("Wh", "b"):
            np.testing.assert_array_equal(bad[f"layer0.{field}"], ref[f"layer1.{field}"])
    elif name == "dWx_dWh_swapped":
        np.testing.assert_array_equal(bad["layer1.Wx"], ref["layer1.Wh"])
    assert diff
