"""``--save-bundle`` and ``gradcheck replay``: a failure saved on one machine, rerun on another."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import gradcheck as gc
from gradcheck._cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "check_spec.py"
SMALL = ["--layers", "1", "--steps", "2", "--hidden-size", "2", "--input-size", "3"]


@pytest.fixture(autouse=True)
def _restore_imports(monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("gradcheck_user_"):
            del sys.modules[name]


def _main(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_planted_lstm_bug_saved_and_replayed(capsys, tmp_path):
    bundle = tmp_path / "ci" / "failure.npz"
    code, out, err = _main(
        capsys, "lstm", *SMALL, "--mutant", "dh0_zero", "--seed", "4", "--save-bundle", str(bundle)
    )
    assert code == 1
    assert f"replay bundle written to {bundle}" in err
    saved = gc.Bundle.load(bundle)
    assert saved.target["command"] == "lstm"
    assert saved.target["args"]["mutant"] == "dh0_zero"
    assert saved.options["seed"] == 4
    code, again, err = _main(capsys, "replay", str(bundle))
    assert code == 1  # still failing: the exit code is the check's
    title = " ".join(line.strip() for line in again.split("gradcheck FAILED")[0].splitlines())
    assert title.startswith(f"replay of {bundle}: lstm_ref: 1 LSTM layer")
    # the same report, numbers included (the timing is on the line before the table)
    assert again[again.index("\ninput ") :] == out[out.index("\ninput ") :]
    assert "gradcheck: replay: same verdict and numbers as recorded (gradcheck " in err


def test_a_passing_check_saves_no_bundle(capsys, tmp_path):
    code, _, err = _main(capsys, "lstm", *SMALL, "--save-bundle", str(tmp_path / "b.npz"))
    assert code == 0
    assert not (tmp_path / "b.npz").exists()
    assert "bundle" not in err


def test_a_spec_bundle_replays_from_another_folder(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(EXAMPLE.parents[1])
    code, _, _ = _main(
        capsys,
        "check",
        "examples/check_spec.py:buggy_spec",
        "--save-bundle",
        str(tmp_path / "rnn.npz"),
    )
    assert code == 1
    monkeypatch.chdir(tmp_path)  # the relative spec path no longer resolves: the absolute one does
    code, out, err = _main(capsys, "replay", "rnn.npz", "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["title"].startswith("replay of rnn.npz: vanilla RNN layer")
    assert not data["passed"]
    assert "same verdict and numbers as recorded" in err


def test_replay_usage_errors(capsys, tmp_path):
    code, _, err = _main(capsys, "replay", str(tmp_path / "missing.npz"))
    assert code == 2
    assert "cannot read the bundle" in err
    (tmp_path / "blocker").write_text("a file, not a folder")
    code, _, err = _main(
        capsys,
        "lstm",
        *SMALL,
        "--mutant",
        "dh0_zero",
        "--save-bundle",
        str(tmp_path / "blocker" / "b.npz"),
    )
    assert code == 2
    assert "cannot write the bundle" in err
    code, _, err = _main(capsys, "replay", "--help")
    assert code == 0
