"""The diagnosis on lstm_ref's planted bugs, with lstm_ref's annotations: LSTM terms in hints."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import gradcheck
import lstm_ref as lr
from lstm_ref.mutants import MUTANTS

SHAPE = {"N": 3, "T": 2, "D": 2, "H": 2, "C": 2, "L": 2}


def lstm_check(loss, seed=0, **options):
    rng = np.random.default_rng(seed)
    sizes = {k: v for k, v in SHAPE.items() if k != "T"}
    params = lr.init_params(rng, **sizes)
    x = rng.normal(size=(SHAPE["N"], SHAPE["T"], SHAPE["D"]))
    y = rng.integers(0, SHAPE["C"], size=SHAPE["N"])
    notes = lr.annotations(params)
    return gradcheck.check_loss(lambda p: loss(p, x, y), params, annotations=notes, **options)


@pytest.mark.parametrize(
    ("mutant", "words"),
    [
        ("db_batch_mean", "1/N with N = 3"),
        ("bi_from_df", "gate i block is a bit-identical copy of the analytic gate f block"),
        ("dWh_blocks_transposed", "gate block of the analytic gradient is the numeric one"),
        ("layer_grads_swapped", "layer 0 and layer 1 are exchanged"),
        ("dh0_zero", "exactly zero"),
        ("no_dh_into_dc", "exactly zero in gate i, gate f and gate g"),
        ("swap_f_o", "gate f and gate o blocks match the numeric gate o and gate f"),
    ],
)
def test_top_finding_names_the_planted_pattern(mutant, words):
    f = lstm_check(MUTANTS[mutant].loss).findings[0]
    assert f.kind == MUTANTS[mutant].finding
    assert words in f.summary


def test_no_finding_on_the_reference_lstm_even_when_rounding_fails_the_check():
    assert lstm_check(lr.loss).findings == ()
    strict = lstm_check(lr.loss, rtol=1e-12, atol=0.0)
    assert not strict.passed
    assert strict.findings == ()


def _bench():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import diagnosis_hit_rate

    return diagnosis_hit_rate


def test_exchanged_gates_hidden_below_the_top_layer_are_read_within_the_layer():
    # H = 2, three layers: the layers below the top one also receive a wrong upstream gradient,
    # which hides the exchange there; over all nine inputs it was too weak for a finding and
    # the spread reading said "no exchange"
    bench = _bench()
    sizes, head, objective = bench.config_for(MUTANTS["swap_f_o"], (4, 3, 3, 2, 3, 3))
    f = bench.check(MUTANTS["swap_f_o"].loss, 0, sizes, head, objective).findings[0]
    assert (f.kind, f.evidence["blocks"]) == ("swapped_blocks", ["f", "o"])
    assert "inputs of layer 2 with a gate axis (9 in all)" in f.summary
    assert {"layer2.Wx", "layer2.Wh", "layer2.b"} <= set(f.inputs)
    assert f.input == "layer2.Wx"


def test_exchanged_gates_in_the_layer_are_named_though_every_step_is_wrong():
    # every step wrong, the error growing toward the start, used to read as a dropped carry
    # (low) above the exchange (high); the last step being wrong says the carry is not all
    bench = _bench()
    f = bench.check_sequence_layer(MUTANTS["swap_f_o"], 4, (4, 3, 3, 2, 3, 3)).findings[0]
    assert (f.kind, f.evidence["blocks"]) == ("swapped_blocks", ["f", "o"])


@pytest.mark.slow
def test_the_catalogue_at_the_bench_shape_has_no_wrong_top_finding():
    # python bench/diagnosis_hit_rate.py's whole-model table at its default shape (about 10 s)
    bench = _bench()
    from _judge import accepted_kinds, outcome

    said = []
    for name, mutant in MUTANTS.items():
        sizes, head, objective = bench.config_for(mutant, bench.DEFAULT_SHAPE)
        result = bench.check(mutant.loss, 0, sizes, head, objective)
        truth = bench.model_truth(mutant, 0, sizes, head, objective)
        said.append(outcome(result.findings, accepted_kinds(name, mutant.finding), truth))
    assert "wrong" not in said
    assert said.count("named") >= 0.8 * len(said)
