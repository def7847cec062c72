"""Mutation self-test: the gradient properties fail against every planted backward bug.

For each mutant of ``lstm_ref.mutants`` (20 realistic backward bugs, several of which show
only for N > 1, T > 1 or L > 1), hypothesis searches the same strategy the property draws
from for an example where the property's check fails, and shrinks it to the smallest
revealing shape. The test asserts that

* the property fails (the bug is caught),
* the shrunk shape is the smallest one the mutant's ``reveals`` condition allows (so the
  shapes the strategies cover are the ones that matter), and
* over every example tried, the check failed exactly where the mutant's gradients differ
  from the reference (``Mutant.visible``): no false alarm where the bug is invisible (the
  gradients are then bitwise the reference's) and no miss where it shows.

The table of mutants and their smallest revealing shapes is printed at the end of the
test session (see conftest.py).
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from prop_support import (
    cases,
    check_from_layout,
    check_model,
    check_sequence,
    check_to_layout,
    sequence_shapes,
)

import lstm_ref as lr
from lstm_ref.mutants import MUTANTS, Mutant
from lstm_ref.strategies import Config, configs, problems

SEQUENCE_MUTANTS = sorted(name for name, m in MUTANTS.items() if m.lstm_backward is not None)

# The strategies of test_model_loss_gradients and test_sequence_gradients (ordinary regime,
# float64), with smaller maximum sizes: they still hold the smallest shape of every
# reveals condition, and keep each check (and hypothesis' shrinking) cheap.
SMALL = {"N": (1, 3), "T": (1, 3), "D": (1, 3), "H": (1, 3)}
MODEL_STRATEGY = problems(configs(**SMALL, L=(1, 2)))
SEQUENCE_STRATEGY = cases(
    problems(configs(**SMALL, L=1, heads=["last"], objectives=["softmax"])), sequence_shapes
)
SMALLEST = Config(N=1, T=1, D=1, H=1, L=1, C=2)

SEARCH = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)


def smallest_shapes(mutant: Mutant, L_max: int) -> list[Config]:
    """The smallest configs (one per clause of ``reveals``) where the mutant shows."""
    out = []
    for clause in mutant.reveals.split(" or "):
        fields = dict(SMALLEST.__dict__)
        for atom in clause.split(" and "):
            atom = atom.strip()
            if atom.endswith(">1"):
                fields[atom[0]] = 2
            elif "=" in atom and atom != "D==H":
                key, value = atom.split("=")
                fields[key] = value
        if fields["L"] <= L_max:  # "L>1" cannot hold for one layer's backward
            out.append(Config(**fields))
    return out


def search(strategy, check, config_of) -> dict:
    """Find and shrink an example where ``check`` fails; log every example tried."""
    log: list[tuple[Config, bool]] = []

    def fails(example) -> bool:
        failed = not check(example).passed
        log.append((config_of(example), failed))
        return failed

    start = time.perf_counter()
    found = find(strategy, fails, settings=SEARCH)
    return {"found": config_of(found), "log": log, "seconds": time.perf_counter() - start}


def verify(name: str, kind: str, outcome: dict, L_max: int, record) -> None:
    mutant = MUTANTS[name]
    found: Config = outcome["found"]
    log: list[tuple[Config, bool]] = outcome["log"]

    def visible(cfg: Config) -> bool:
        return mutant.visible(**cfg.sizes, head=cfg.head, objective=cfg.objective)

    false_alarms = [cfg for cfg, failed in log if failed and not visible(cfg)]
    misses = [cfg for cfg, failed in log if visible(cfg) and not failed]
    revealing = sorted({cfg.shape for cfg, failed in log if failed})
    expected = smallest_shapes(mutant, L_max)
    key = ("N", "T", "D", "H", "L", "C", "head", "objective")
    smallest = [{k: getattr(c, k) for k in key} for c in expected]
    record(
        "mutant",
        {
            "name": name,
            "property": kind,
            "reveals": mutant.reveals,
            "smallest": f"{found.shape} {found.head}/{found.objective}",
            "tried": len(log),
            "failed": sum(failed for _, failed in log),
            "revealing_shapes": len(revealing),
            "seconds": round(outcome["seconds"], 2),
        },
    )
    assert not false_alarms, f"{name}: the check failed where the bug is invisible: {false_alarms}"
    assert not misses, f"{name}: the check passed where the bug shows: {misses[:3]}"
    got = {k: getattr(found, k) for k in key}
    assert got in smallest, f"{name}: shrunk to {got}, expected one of {smallest}"


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_model_property_catches_mutant(name, record_property):
    """test_model_loss_gradients, run against mutant.loss."""
    mutant = MUTANTS[name]

    def check(problem):
        return check_model(problem, "central", loss=mutant.loss)

    outcome = search(MODEL_STRATEGY, check, lambda problem: problem.config)
    verify(name, "model", outcome, L_max=4, record=record_property)


@pytest.mark.parametrize("name", SEQUENCE_MUTANTS)
def test_sequence_property_catches_mutant(name, record_property):
    """test_sequence_gradients, run against mutant.lstm_backward."""
    mutant = MUTANTS[name]

    def check(case):
        problem, douts = case
        return check_sequence(problem, douts, "central", lstm_backward=mutant.lstm_backward)

    outcome = search(SEQUENCE_STRATEGY, check, lambda case: case[0].config)
    verify(name, "sequence", outcome, L_max=1, record=record_property)


def test_catalogue_covers_the_shapes_that_matter():
    """At least 12 mutants, and bugs that only show for N > 1, for T > 1 and for L > 1."""
    assert len(MUTANTS) >= 12
    for atom in ("N>1", "T>1", "L>1"):
        assert [m.name for m in MUTANTS.values() if m.reveals == atom], atom


# ---------------------------------------------------------------------------------------
# Planted bugs in the layout converters, against test_grads_to_layout / _from_layout.
# ---------------------------------------------------------------------------------------


def _torch_grads_like_weights(layout, dWx, dWh, db):
    # a gradient converted like a weight: bias_hh's gradient comes out as zeros
    convert = lr.to_layout if layout == "torch" else lr.grads_to_layout
    return convert(layout, dWx, dWh, db)


def _torch_grads_summed(layout, grads):
    # a gradient converted back like a weight: d bias_ih + d bias_hh, twice db
    convert = lr.from_layout if layout == "torch" else lr.grads_from_layout
    return convert(layout, grads)


def _concat_hx_f_i_swapped(layout, dWx, dWh, db):
    # document 003 lists the forget gate first (Wf, Wi, Wc, Wo); the gate order is mixed up
    out = lr.grads_to_layout(layout, dWx, dWh, db)
    if layout == "concat_hx":
        out["Wf"], out["Wi"], out["bf"], out["bi"] = out["Wi"], out["Wf"], out["bi"], out["bf"]
    return out


def _per_gate_row_Wh_transposed(layout, dWx, dWh, db):
    # a column-vector formula in row-vector code: each recurrent block comes out transposed
    out = lr.grads_to_layout(layout, dWx, dWh, db)
    if layout == "per_gate_row":
        for gate in "ifoc":
            out[f"W_h{gate}"] = out[f"W_h{gate}"].T.copy()
    return out


# name, description, converter direction, buggy layout, the shape condition, converter
CONVERTER_MUTANTS = {
    "torch_bias_hh_grad_zero": (
        "grads_to_layout converts torch gradients like weights: bias_hh gets zeros.",
        "to", "torch", "any", _torch_grads_like_weights,
    ),
    "torch_bias_grads_summed": (
        "grads_from_layout converts torch gradients like weights: db = d bias_ih + d bias_hh.",
        "from", "torch", "any", _torch_grads_summed,
    ),
    "concat_hx_f_i_swapped": (
        "grads_to_layout writes the input and forget gates' gradients under each other's "
        "names in document 003's layout.",
        "to", "concat_hx", "any", _concat_hx_f_i_swapped,
    ),
    "per_gate_row_Wh_transposed": (
        "grads_to_layout transposes each recurrent block in document 004's layout.",
        "to", "per_gate_row", "H>1", _per_gate_row_Wh_transposed,
    ),
}  # fmt: skip

LAYOUT_STRATEGY = st.tuples(
    problems(configs(**SMALL, L=1, heads=["last"], objectives=["softmax"])),
    st.sampled_from(lr.LAYOUTS),
)


@pytest.mark.parametrize("name", list(CONVERTER_MUTANTS))
def test_layout_property_catches_converter_mutant(name, record_property):
    description, direction, layout, reveals, convert = CONVERTER_MUTANTS[name]
    check_layout = check_to_layout if direction == "to" else check_from_layout

    def check(example):
        problem, drawn_layout = example
        return check_layout(problem, drawn_layout, "central", convert)

    outcome = search(LAYOUT_STRATEGY, check, lambda example: example)
    log = outcome["log"]

    def visible(example) -> bool:
        problem, drawn_layout = example
        return drawn_layout == layout and (reveals == "any" or problem.config.H > 1)

    problem, found_layout = outcome["found"]
    record_property(
        "mutant",
        {
            "name": name,
            "property": f"grads_{direction}_layout",
            "description": description,
            "reveals": f"layout={layout}" + ("" if reveals == "any" else f" and {reveals}"),
            "smallest": f"{problem.config.shape} layout={found_layout}",
            "tried": len(log),
            "failed": sum(failed for _, failed in log),
        },
    )
    assert not [ex for ex, failed in log if failed != visible(ex)]
    expected = {**SMALLEST.sizes, "H": 1 if reveals == "any" else 2}
    assert (problem.config.sizes, found_layout) == (expected, layout)
