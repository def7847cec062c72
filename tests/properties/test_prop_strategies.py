"""The strategies themselves: what they draw, how they shrink, how they refuse bad
arguments, and that hypothesis stays an optional dependency of both packages."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

import gradcheck
import lstm_ref as lr
from gradcheck.strategies import TINY, arrays, cotangents, inputs, shapes
from lstm_ref.strategies import (
    FORGET_BIAS,
    REGIMES,
    Config,
    Problem,
    configs,
    problems,
    regimes,
)

FIND = settings(
    max_examples=500,
    derandomize=True,
    database=None,
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)


def minimal(strategy, condition):
    return find(strategy, condition, settings=FIND)


# ---------------------------------------------------------------------------------------
# gradcheck.strategies
# ---------------------------------------------------------------------------------------


@given(
    st.data(),
    st.sampled_from([np.float32, np.float64]),
    st.floats(1e-3, 1e3),
    st.floats(0, 0.9),
)
def test_arrays_are_bounded_finite_and_of_the_dtype(data, dtype, bound, fraction):
    shape = data.draw(shapes(max_dims=3, max_side=4))
    x = data.draw(arrays(shape, dtype=dtype, bound=bound, min_magnitude=fraction * bound))
    assert x.shape == shape
    assert x.dtype == dtype
    assert np.all(np.isfinite(x))
    assert np.all(np.abs(x) <= bound)
    assert np.all(np.abs(x) >= np.float32(fraction * bound) * (1 - 1e-6))
    nonzero = np.abs(x[x != 0])
    assert np.all(nonzero >= TINY[np.dtype(dtype).name])  # nothing close to underflow


@given(arrays(50, tiny=0.0, bound=1e-300))
def test_tiny_zero_allows_any_normal_number(x):
    assert np.all((x == 0) | (np.abs(x) >= np.finfo(np.float64).tiny))


@given(st.data())
def test_cotangents_have_one_nonzero_array_per_output(data):
    outs = data.draw(st.lists(shapes(max_side=4), min_size=1, max_size=3))
    dtype = data.draw(st.sampled_from(["float32", "float64"]))
    douts = data.draw(cotangents(*outs, dtype=dtype))
    assert [d.shape for d in douts] == outs
    for d in douts:
        assert d.dtype == dtype
        assert np.all((np.abs(d) >= np.float32(0.1) * (1 - 1e-6)) & (np.abs(d) <= 1))


def test_shapes_shrink_to_the_simplest():
    assert minimal(shapes(), lambda s: True) == (1,)
    assert minimal(shapes(), lambda s: len(s) > 1 and max(s) > 2) in ((1, 3), (3, 1))
    assert minimal(arrays(shapes()), lambda x: x.ndim == 2).shape == (1, 1)


def test_arrays_shrink_the_elements_hypothesis_chose_not_the_seeded_ones():
    """A failure that needs a zero (a kink) shrinks to one zero among distinct elements."""
    simplest = minimal(arrays((2, 2)), lambda x: True)
    assert np.array_equal(simplest, minimal(arrays((2, 2)), lambda x: True))  # reproducible
    assert len(np.unique(simplest)) == 4
    assert simplest.all()
    found = minimal(arrays(16), lambda x: np.any(x == 0))
    assert np.count_nonzero(found == 0) == 1
    assert len(np.unique(found)) == 16


RECORD = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _most_repeated(x):
    return int(np.unique(x, return_counts=True)[1].max())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_drawn_arrays_are_diverse(dtype):
    """Hypothesis' own array strategy fills most elements with one value (98% of (6, 6) draws
    had half their elements equal, 40% were constant); here only the few elements hypothesis
    chooses itself (at most one in eight) can repeat, and two inputs of one example differ."""
    seen = []

    @RECORD
    @given(
        w=arrays((6, 6), dtype=dtype),
        b=arrays((6, 6), dtype=dtype),
        named=inputs({"p": (3, 4), "q": (3, 4)}, dtype=dtype),
        douts=cotangents((6, 6), (6, 6), dtype=dtype),
    )
    def record(w, b, named, douts):
        seen.append((w, b, named, douts))

    record()
    assert len(seen) == 200
    for w, b, named, douts in seen:
        assert _most_repeated(w) <= 36 // 8
        assert _most_repeated(b) <= 36 // 8
        assert not np.array_equal(w, b)
        assert np.count_nonzero(named["p"] == named["q"]) <= 2 * (12 // 8)
        for d in douts:
            assert _most_repeated(d) == 1  # cotangents: all distinct
        assert not np.any(douts[0] == douts[1])
    distinct = [len(np.unique(w)) == w.size for w, *_ in seen]
    assert np.mean(distinct) > 0.6  # the rest repeat a chosen zero or bound, at most 4 times


def _matmul_forward(x, w):
    return x @ w, (x, w)


def _matmul_backward_dw_transposed(dout, cache):
    x, w = cache
    return dout @ w.T, (x.T @ dout).T


def _product_forward(a, b):
    return a * b, (a, b)


def _product_backward_swapped(dout, cache):
    a, b = cache
    return dout * a, dout * b


def test_every_example_catches_a_transposed_or_swapped_gradient():
    """The bugs that equal elements hide: dW transposed for a square weight (x.T @ dout is
    symmetric when x and dout are constant), and the gradients of a * b exchanged (invisible
    when a == b). Each drawn example must catch both, as a user's property test would."""
    caught = []

    @RECORD
    @given(
        x=arrays((4, 6)),
        w=arrays((6, 6)),
        b=arrays((6, 6)),
        douts=cotangents((4, 6), (6, 6)),
    )
    def record(x, w, b, douts):
        transposed = gradcheck.check_layer(
            _matmul_forward, _matmul_backward_dw_transposed, {"x": x, "w": w}, cotangents=douts[0]
        )
        swapped = gradcheck.check_layer(
            _product_forward, _product_backward_swapped, {"a": w, "b": b}, cotangents=douts[1]
        )
        caught.append((not transposed.passed, not swapped.passed))

    record()
    assert len(caught) == 200
    assert all(t for t, _ in caught)
    assert all(s for _, s in caught)


def test_a_property_test_of_the_user_fails_on_its_first_example():
    results = []

    @settings(max_examples=10, database=None, phases=[Phase.generate])
    @given(x=arrays((3, 3)), w=arrays((3, 3)), douts=cotangents((3, 3)))
    def test_matmul(x, w, douts):
        result = gradcheck.check_layer(
            _matmul_forward, _matmul_backward_dw_transposed, {"x": x, "w": w}, cotangents=douts[0]
        )
        results.append(result.passed)
        assert result.passed

    with pytest.raises(AssertionError):
        test_matmul()
    assert results[0] is False  # hypothesis' first example, its simplest, shows the bug


@given(inputs({"x": (3, 2), "w": shapes(min_dims=2, max_dims=2, max_side=3)}))
def test_inputs_keep_the_order_of_the_names(named):
    assert list(named) == ["x", "w"]
    assert named["x"].shape == (3, 2)
    assert named["w"].ndim == 2


def test_generic_strategies_check_a_layer_as_a_user_would():
    """The module's own example: tanh with drawn inputs and cotangents."""

    def forward(x):
        return np.tanh(x), x

    def backward(dout, x):
        return (dout * (1 - np.tanh(x) ** 2),)

    @given(x=arrays((2, 3)), dout=cotangents((2, 3)))
    def prop(x, dout):
        assert gradcheck.check_layer(forward, backward, {"x": x}, cotangents=dout).passed

    prop()


GRADCHECK_BAD = [
    ("dtype int", lambda: arrays(3, dtype=np.int64), "dtype"),
    ("dtype float16", lambda: arrays(3, dtype=np.float16), "draw float32 and cast"),
    ("dtype complex", lambda: arrays(3, dtype=np.complex128), "method='complex'"),
    ("dtype junk", lambda: arrays(3, dtype="nope"), "dtype"),
    ("empty axis", lambda: arrays((2, 0)), "no elements"),
    ("shape str", lambda: arrays("2x2"), "shape"),
    ("bound 0", lambda: arrays(3, bound=0), "bound"),
    ("bound inf", lambda: arrays(3, bound=np.inf), "bound"),
    ("bound bool", lambda: arrays(3, bound=True), "bound"),
    ("min_magnitude negative", lambda: arrays(3, min_magnitude=-1), "min_magnitude"),
    ("min_magnitude >= bound", lambda: arrays(3, bound=1, min_magnitude=1), "smaller than bound"),
    ("tiny negative", lambda: arrays(3, tiny=-1.0), "tiny"),
    ("tiny >= bound", lambda: arrays(3, bound=1e-40, tiny=1e-30), "tiny must be smaller"),
    ("bound huge", lambda: arrays(3, bound=10**400), "bound=1000"),
    (
        "no float32 in range",
        lambda: arrays(3, dtype=np.float32, bound=1.00000005, min_magnitude=1.00000001),
        "no float32 number lies between",
    ),
    (
        "no float32 cotangent",
        lambda: cotangents(3, dtype=np.float32, bound=1.00000005, min_magnitude=1.00000001),
        "no float32 number lies between",
    ),
    ("min_side 0", lambda: shapes(min_side=0), "min_side"),
    ("min_dims > max_dims", lambda: shapes(min_dims=3, max_dims=2), "larger than max_dims"),
    ("max_side float", lambda: shapes(max_side=2.0), "max_side"),
    ("no output", lambda: cotangents(), "at least one output shape"),
    ("zero cotangents", lambda: cotangents(3, min_magnitude=0), "min_magnitude must be > 0"),
    ("cotangent shape", lambda: cotangents((3, -1)), "output_shapes[0]"),
    ("inputs empty", lambda: inputs({}), "non-empty dict"),
    ("inputs list", lambda: inputs([(3,)]), "non-empty dict"),
    ("inputs key", lambda: inputs({1: (3,)}), "string names"),
]


@pytest.mark.parametrize(
    ("make", "match"), [c[1:] for c in GRADCHECK_BAD], ids=[c[0] for c in GRADCHECK_BAD]
)
def test_gradcheck_strategies_refuse_bad_arguments(make, match):
    with pytest.raises(gradcheck.InvalidArgumentError, match=match.replace("[", r"\[")):
        make()


# ---------------------------------------------------------------------------------------
# lstm_ref.strategies
# ---------------------------------------------------------------------------------------


@given(configs(N=(2, 3), T=4, D=(1, 8), H=(1, 8), L=(1, 2), dtypes=["float32", "float64"]))
def test_configs_stay_in_their_ranges(cfg):
    sizes = cfg.sizes
    assert (sizes["N"], sizes["T"], sizes["L"], sizes["C"]) in {
        (n, 4, layers, c) for n in (2, 3) for layers in (1, 2) for c in (2, 3, 4)
    }
    assert max(cfg.D, cfg.H) <= 8
    assert (cfg.dtype, cfg.regime) in {("float32", "ordinary"), ("float64", "ordinary")}


@given(configs(d_equals_h=True), configs(D=(1, 2), H=(1, 2), d_equals_h=False))
def test_d_equals_h_can_be_forced_either_way(same, different):
    assert same.D == same.H
    assert different.D != different.H


def test_configs_draw_d_equal_h_and_d_different_from_h_and_shrink_to_ones():
    assert minimal(configs(), lambda c: True) == Config(N=1, T=1, D=1, H=1, L=1, C=2)
    assert minimal(configs(), lambda c: c.D == c.H and c.H > 2).D == 3
    found = minimal(configs(), lambda c: c.D != c.H)
    assert (found.D, found.H) in ((1, 2), (2, 1))
    # each size shrinks on its own: the smallest shape with N > 1 and T > 2 is exactly that
    found = minimal(configs(), lambda c: c.N > 1 and c.T > 2)
    assert found.sizes == {"N": 2, "T": 3, "D": 1, "H": 1, "L": 1, "C": 2}


@given(configs(regimes=["long"], long_T=(20, 24)))
def test_long_regime_uses_long_sequences(cfg):
    assert 20 <= cfg.T <= 24


@given(problems(configs(L=(1, 3), dtypes=["float32", "float64"], regimes=REGIMES)))
def test_problems_match_their_config_and_rebuild_from_their_seed(problem):
    cfg = problem.config
    assert problem.x.shape == (cfg.N, cfg.T, cfg.D)
    assert all(v.dtype == cfg.dtype for v in problem.params.values())
    assert problem.x.dtype == cfg.dtype
    value, grads = lr.loss(problem.params, problem.x, problem.y, head=cfg.head,
                           objective=cfg.objective)  # fmt: skip
    assert np.isfinite(value)
    again = Problem.build(cfg, problem.seed)
    for name, array in problem.params.items():
        assert np.array_equal(array, again.params[name])
    assert np.array_equal(problem.y, again.y)
    assert repr(problem) == f"Problem(config={cfg!r}, seed={problem.seed})"


def test_step_sequence_and_stack_inputs_are_fresh_copies():
    problem = Problem.build(Config(N=2, T=3, D=2, H=3, L=2, C=2))
    step, seq, stack = problem.step_inputs(), problem.sequence_inputs(), problem.stack_params()
    assert np.array_equal(step["x"], problem.x[:, 0])
    assert np.array_equal(seq["c0"], problem.params["layer0.c0"])
    assert list(stack) == [k for k in problem.params if k.startswith("layer")]
    for got in (step["Wx"], seq["Wx"], stack["layer0.Wx"]):
        got += 1
    assert np.array_equal(Problem.build(problem.config).params["layer0.Wx"],
                          problem.params["layer0.Wx"])  # fmt: skip


def _gates(problem: Problem) -> np.ndarray:
    p = problem.params
    return problem.x[:, 0] @ p["layer0.Wx"] + p["layer0.h0"] @ p["layer0.Wh"] + p["layer0.b"]


@given(regimes())
def test_regimes_do_what_they_say(regime):
    cfg = Config(N=5, T=24, D=4, H=6, L=1, C=2, regime=regime)
    problem = Problem.build(cfg, seed=3)
    a = np.abs(_gates(problem))
    if regime == "saturated":
        assert np.median(a) > 3  # sigmoid' < 0.05 at the median gate
    elif regime == "near_zero":
        assert np.abs(problem.params["layer0.Wh"]).max() < 1e-2
        assert np.abs(problem.params["fc.W"]).max() < 1e-2
    elif regime == "long":
        assert np.all(problem.params["layer0.b"][cfg.H : 2 * cfg.H] == FORGET_BIAS)
        grads = _input_gradient(problem)
        early, late = np.abs(grads[:, 0]).max(), np.abs(grads[:, -1]).max()
        assert early < 1e-6 * late  # the gradient reaching the first step vanishes
    else:
        assert 0.3 < np.median(a) < 3


def _input_gradient(problem: Problem) -> np.ndarray:
    params = problem.stack_params()
    h, cache = lr.stacked_lstm_forward(problem.x, params)
    dh = np.zeros_like(h)
    dh[:, -1] = 1.0
    dx, _ = lr.stacked_lstm_backward(dh, cache)
    return dx


LSTM_BAD = [
    ("N 0", lambda: configs(N=0), "N must be"),
    ("T reversed", lambda: configs(T=(3, 1)), "T must be"),
    ("L float", lambda: configs(L=1.5), "L must be"),
    ("long_T", lambda: configs(long_T=(0, 4)), "long_T must be"),
    ("dtype", lambda: configs(dtypes=["float16"]), "dtypes must be drawn"),
    ("dtypes str", lambda: configs(dtypes="float64"), "non-empty list"),
    ("head", lambda: configs(heads=["first"]), "heads must be drawn"),
    ("objective", lambda: configs(objectives=[]), "non-empty list"),
    ("regime", lambda: configs(regimes=["stiff"]), "regimes must be drawn"),
    ("regimes()", lambda: regimes(["stiff"]), "regimes must be drawn"),
    ("d_equals_h", lambda: configs(d_equals_h=1), "d_equals_h must be"),
    ("disjoint D, H", lambda: configs(D=(1, 2), H=(3, 4), d_equals_h=True), "do not overlap"),
    ("D = H only", lambda: configs(D=2, H=2, d_equals_h=False), "allow only D == H"),
    ("Config N", lambda: Config(N=0, T=1, D=1, H=1, L=1, C=2), "N must be"),
    ("Config dtype", lambda: Config(N=1, T=1, D=1, H=1, L=1, C=2, dtype="int8"), "dtype"),
    ("Config regime", lambda: Config(N=1, T=1, D=1, H=1, L=1, C=2, regime="x"), "regime"),
    ("build config", lambda: Problem.build("N=1"), "config must be a Config"),
    ("build seed", lambda: Problem.build(Config(1, 1, 1, 1, 1, 2), -1), "seed must be"),
    ("problems", lambda: problems(42), "config must be a Config or a strategy"),
]


@pytest.mark.parametrize(("make", "match"), [c[1:] for c in LSTM_BAD], ids=[c[0] for c in LSTM_BAD])
def test_lstm_strategies_refuse_bad_arguments(make, match):
    with pytest.raises(lr.ArgumentError, match=match):
        make()


def test_config_accepts_numpy_dtypes():
    assert Config(1, 1, 1, 1, 1, 2, dtype=np.float32).dtype == "float32"
    assert Config(1, 1, 1, 1, 1, 2, dtype=np.dtype("float64")).dtype == "float64"


# ---------------------------------------------------------------------------------------
# hypothesis is optional
# ---------------------------------------------------------------------------------------


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_importing_the_packages_does_not_import_hypothesis():
    out = _run(
        "import sys, gradcheck, lstm_ref, lstm_ref.mutants; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'hypothesis'))"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_lstm_ref_strategies_do_not_import_gradcheck():
    out = _run(
        "import sys, lstm_ref.strategies; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'gradcheck'))"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("module", ["gradcheck.strategies", "lstm_ref.strategies"])
def test_strategies_without_hypothesis_name_the_extra(module):
    out = _run(
        "import sys; sys.modules['hypothesis'] = None\n"
        "try:\n"
        f"    import {module}\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc.name, exc)\n"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ImportError hypothesis ")
    assert f"{module} needs hypothesis" in out.stdout
    assert 'pip install "gradcheck[hypothesis]"' in out.stdout
