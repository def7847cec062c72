"""The diagnosis on lstm_ref's planted bugs, with lstm_ref's annotations: LSTM terms in hints."""

from __future__ import annotations

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
