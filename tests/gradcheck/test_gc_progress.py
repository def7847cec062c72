"""``progress=``: True for a tqdm bar (closed when the check ends), a callable, or a clear error."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import gradcheck as gc
from gradcheck import _progress


def _fn(x):
    return float(np.sum(np.sin(x)))


def _grad(x):
    return (np.cos(x),)


X = {"x": np.linspace(-1.0, 1.0, 300)}


def test_true_draws_a_tqdm_bar_on_stderr_and_closes_it(capsys, monkeypatch):
    tqdm = pytest.importorskip("tqdm")
    closed = []
    real_close = _progress.ProgressBar.close
    monkeypatch.setattr(
        _progress.ProgressBar,
        "close",
        lambda self: (closed.append((self.bar.n, self.bar.total)), real_close(self)),
    )
    result = gc.check_grad(_fn, _grad, X, progress=True)
    assert result.passed
    assert result.options["progress"] is True
    err = capsys.readouterr().err
    assert "call" in err  # tqdm's unit
    assert closed == [(result.calls, result.calls)]  # closed once, at the final count
    assert not tqdm.tqdm._instances  # no bar left open


def test_the_bar_is_closed_when_the_checked_code_raises(monkeypatch):
    tqdm = pytest.importorskip("tqdm")
    calls = []

    def flaky(x):
        calls.append(1)
        if len(calls) > 5:
            raise RuntimeError("boom")
        return _fn(x)

    with pytest.raises(gc.UserCodeError, match="boom"):
        gc.check_grad(flaky, _grad, X, progress=True)
    assert not tqdm.tqdm._instances


def test_false_and_none_draw_nothing(capsys):
    for value in (False, None):
        assert gc.check_grad(_fn, _grad, X, progress=value).options["progress"] is False
    assert capsys.readouterr().err == ""


def test_a_callable_is_called_and_left_open():
    seen = []
    result = gc.check_grad(_fn, _grad, X, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (result.calls, result.calls)
    assert all(done <= total for done, total in seen)


def test_without_tqdm_true_names_the_extra_before_running_anything(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    ran = []

    def fn(x):
        ran.append(1)
        return _fn(x)

    with pytest.raises(gc.MissingDependencyError, match=r'pip install "gradcheck\[progress\]"'):
        gc.check_grad(fn, _grad, X, progress=True)
    assert not ran


@pytest.mark.parametrize("value", ["yes", 1, 0.5], ids=["str", "int", "float"])
def test_anything_else_is_an_invalid_argument(value):
    with pytest.raises(gc.InvalidArgumentError, match=r"True or a callable progress"):
        gc.check_grad(_fn, _grad, X, progress=value)
