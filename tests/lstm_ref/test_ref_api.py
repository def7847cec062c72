"""Package surface: exports, independence from gradcheck, silence, demo, annotations, and
the consistency of step, sequence and truncated-BPTT views of the same computation."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest
from ref_helpers import layer_case, model_case

import lstm_ref as lr
from lstm_ref.mutants import MUTANTS

PACKAGE = pathlib.Path(lr.__file__).parent


def test_all_lists_exactly_the_public_names():
    assert sorted(lr.__all__) == sorted(set(lr.__all__))
    for name in lr.__all__:
        assert not name.startswith("_")
        assert getattr(lr, name) is not None
    # (pytest's assertion rewriting, applied to the modules of a distribution that provides a
    # pytest plugin, adds attributes named "@py_builtins"...: not identifiers, not API)
    public = {n for n in vars(lr) if n.isidentifier() and not n.startswith("_")}
    modules = {"adapters", "mutants", "oracle", "strategies"}  # submodules appear once imported
    assert public - modules - set(lr.__all__) == set()
    assert "MUTANTS" not in lr.__all__  # lstm_ref.mutants is not re-exported


def test_lstm_ref_does_not_import_gradcheck():
    """Only the optional lstm_ref.oracle imports gradcheck; nothing else needs it."""
    for path in PACKAGE.glob("*.py"):
        if path.name == "oracle.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert all(not a.name.startswith("gradcheck") for a in node.names), path
            elif isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("gradcheck"), path
    code = (
        "import sys, lstm_ref, lstm_ref.mutants, lstm_ref.adapters; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('gradcheck', 'torch')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_library_prints_nothing(capsys):
    for head in lr.HEADS:
        for objective in lr.OBJECTIVES:
            params, x, y = model_case(0, L=2, head=head, objective=objective)
            lr.loss(params, x, y, head=head, objective=objective)
    lr.params_from_torch(*lr.params_to_torch(params))
    for mutant in MUTANTS.values():
        mutant.loss(params, x, y, head="every", objective="mse")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""


def test_demo_runs_fast_and_reports():
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "lstm_ref"], capture_output=True, text=True, check=True
    )
    assert time.perf_counter() - start < 5
    assert "loss = " in out.stdout
    for k in range(3):
        for field in ("Wx", "Wh", "b", "h0", "c0"):
            assert f"layer{k}.{field}" in out.stdout
    assert "fc.W" in out.stdout
    assert "Worst" in out.stdout


def test_init_params_is_reproducible_and_leaves_global_state_alone():
    state = np.random.get_state()[1].copy()  # noqa: NPY002 - checking it is untouched
    a = lr.init_params(np.random.default_rng(5), N=2, D=3, H=4, C=2, L=2)
    b = lr.init_params(np.random.default_rng(5), N=2, D=3, H=4, C=2, L=2)
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002
    assert list(a) == [f"layer{k}.{f}" for k in range(2) for f in ("Wx", "Wh", "b", "h0", "c0")] + [
        "fc.W",
        "fc.b",
    ]
    for key in a:
        assert np.array_equal(a[key], b[key])
        assert np.all(a[key] != 0)


def test_annotations_describe_every_axis():
    params = lr.init_params(np.random.default_rng(0), N=2, D=3, H=4, C=5, L=3)
    notes = lr.annotations(params)
    assert list(notes) == list(params)
    for name, note in notes.items():
        assert set(note) == {"axes", "group"}
        assert len(note["axes"]) == params[name].ndim
        assert note["group"] == ("fc" if name.startswith("fc") else f"layer {name[5]}")
        for axis, size in zip(note["axes"], params[name].shape, strict=True):
            if isinstance(axis, tuple):
                label, blocks = axis
                assert label == "gate"
                assert blocks == ("i", "f", "o", "g")
                assert size % 4 == 0
            else:
                assert axis in ("batch", "time", "input", "hidden", "class")
    assert notes["layer2.Wh"]["axes"] == ["hidden", ("gate", ("i", "f", "o", "g"))]
    assert notes["layer1.c0"] == {"axes": ["batch", "hidden"], "group": "layer 1"}
    assert notes["fc.b"] == {"axes": ["class"], "group": "fc"}
    assert lr.annotations(lr.loss(params, np.zeros((2, 1, 3)), np.zeros(2, int))[1]) == notes
    assert lr.input_annotations(np.zeros((2, 7, 3))) == {
        "axes": ["batch", "time", "input"],
        "group": "input",
    }


def test_steps_and_sequence_agree():
    case = layer_case(1, 3, 5, 2, 4)
    x, h0, c0, Wx, Wh, b, dh = (case[k] for k in ("x", "h0", "c0", "Wx", "Wh", "b", "dh"))
    h_seq, cache = lr.lstm_forward(x, h0, Wx, Wh, b, c0)
    seq_grads = lr.lstm_backward(dh, cache)

    h, c, caches = h0, c0, []
    for t in range(5):
        h, c, step_cache = lr.lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        np.testing.assert_allclose(h, h_seq[:, t], rtol=1e-14, atol=1e-15)
        caches.append(step_cache)
    np.testing.assert_allclose(c, cache.cT, rtol=1e-14, atol=1e-15)
    dh_next, dc_next = np.zeros_like(h0), np.zeros_like(c0)
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    for t in reversed(range(5)):
        dx[:, t], dh_next, dc_next, gx, gh, gb = lr.lstm_step_backward(
            dh[:, t] + dh_next, dc_next, caches[t]
        )
        dWx, dWh, db = dWx + gx, dWh + gh, db + gb
    for ours, theirs in zip((dx, dh_next, dWx, dWh, db, dc_next), seq_grads, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


def test_truncated_bptt_chunks_give_the_full_gradient():
    """Two chunks joined through (hT, cT) forward and (dh0, dc0 -> dh, dcT) backward."""
    case = layer_case(2, 2, 6, 3, 2)
    x, h0, c0, Wx, Wh, b, dh = (case[k] for k in ("x", "h0", "c0", "Wx", "Wh", "b", "dh"))
    h_full, full = lr.lstm_forward(x, h0, Wx, Wh, b, c0)
    full_grads = lr.lstm_backward(dh, full)

    h1, first = lr.lstm_forward(x[:, :4], h0, Wx, Wh, b, c0)
    h2, second = lr.lstm_forward(x[:, 4:], first.hT, Wx, Wh, b, first.cT)
    np.testing.assert_allclose(np.concatenate([h1, h2], axis=1), h_full, rtol=1e-14, atol=1e-15)
    dx2, dh_mid, dWx2, dWh2, db2, dc_mid = lr.lstm_backward(dh[:, 4:], second)
    dh1 = dh[:, :4].copy()
    dh1[:, -1] += dh_mid
    dx1, dh0, dWx1, dWh1, db1, dc0 = lr.lstm_backward(dh1, first, dcT=dc_mid)
    chunked = (np.concatenate([dx1, dx2], axis=1), dh0, dWx1 + dWx2, dWh1 + dWh2, db1 + db2, dc0)
    for ours, theirs in zip(chunked, full_grads, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


def test_final_states_are_read_only_views():
    case = layer_case(3, 2, 3, 2, 2)
    h, cache = lr.lstm_forward(*(case[k] for k in ("x", "h0", "Wx", "Wh", "b")))
    assert np.array_equal(cache.hT, h[:, -1])
    with pytest.raises(ValueError, match="read-only"):
        cache.cT[0, 0] = 1.0
    assert cache.N == 2
    assert cache.T == 3
    assert cache.D == 2
    assert cache.H == 2
