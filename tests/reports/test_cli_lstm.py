"""``gradcheck lstm``: the reference LSTM from the command line, its options and exit codes."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import rep_helpers as H

import lstm_ref
from gradcheck import _cli, _progress
from gradcheck._cli import main
from lstm_ref.mutants import MUTANTS

SMALL = ["--layers", "1", "--steps", "2", "--hidden-size", "2", "--input-size", "3"]


def _run(capsys, *argv):
    """``gradcheck lstm ARGV``: exit code, stdout, stderr."""
    code = main(["lstm", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_default_run_passes_and_checks_every_parameter(capsys):
    code, out, err = _run(capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("lstm_ref: 2 LSTM layers + fc, N=2 T=3 D=3 H=4 C=3")
    assert lines[1].startswith("gradcheck passed (method central, mode auto -> full, ")
    for name in ("layer0.Wx", "layer0.c0", "layer1.Wh", "fc.W", "fc.b"):
        assert any(line.startswith(name + " ") and line.endswith("ok") for line in lines)
    assert "[layer 1]" in lines
    assert err == ""


def test_a_planted_bug_fails_with_exit_code_1_and_points_at_the_gate(capsys):
    code, out, _ = _run(capsys, "--mutant", "sigmoid_grad_i", "--steps", "1", "--layers", "1")
    assert code == 1
    title = " ".join(line.strip() for line in out.split("gradcheck FAILED")[0].splitlines())
    assert title.startswith("lstm_ref: 1 LSTM layer")
    assert title.endswith("planted bug sigmoid_grad_i")
    assert "gradcheck FAILED" in out
    line = next(line for line in out.splitlines() if "layer0.b by gate:" in line)
    assert line.split(": ", 1)[1].startswith("i ")
    assert "FAIL" in line.split(",")[0]
    assert "FAIL" not in line.split(",", 1)[1]  # gates f, o, g are right


@pytest.mark.parametrize("layout", lstm_ref.LAYOUTS)
def test_every_layout_passes(capsys, layout):
    code, out, err = _run(capsys, *SMALL, "--layout", layout, "--format", "json")
    assert code == 0, out + err
    data = json.loads(out)
    names = [i["name"] for i in data["inputs"]]
    assert names[-2:] == ["fc.W", "fc.b"]
    assert all(i["group"] is not None for i in data["inputs"])
    if layout == "torch":
        assert "layer0.bias_hh" in names
        weight = next(i for i in data["inputs"] if i["name"] == "layer0.weight_ih")
        assert weight["annotation"]["axes"][0] == {"name": "gate", "labels": ["i", "f", "g", "o"]}
        assert weight["shape"] == [8, 3]


def test_a_mutant_is_caught_through_a_layout(capsys):
    code, out, _ = _run(
        capsys, *SMALL, "--layout", "torch", "--mutant", "db_batch_mean", "--format", "json"
    )
    assert code == 1
    data = json.loads(out)
    assert set(data["summary"]["failed_inputs"]) == {"layer0.bias_ih", "layer0.bias_hh"}


@pytest.mark.parametrize(
    "options",
    [
        ["--dtype", "float32"],
        ["--method", "complex"],
        ["--method", "complex", "--dtype", "float32"],
        ["--method", "richardson", "--mode", "sample"],
        ["--loss", "mse", "--head", "every", "--classes", "2"],
        ["--mode", "directional", "--seed", "7"],
    ],
    ids=["f32", "complex", "complex-f32", "richardson-sample", "mse-every", "directional"],
)
def test_options_pass_on_the_reference(capsys, options):
    code, out, err = _run(capsys, *SMALL, *options, "--format", "json")
    assert code == 0, out + err
    data = json.loads(out)
    if "--method" in options:
        assert data["method"] == options[options.index("--method") + 1]
    if "--dtype" in options:
        assert {i["dtype"] for i in data["inputs"]} == {"float32"}
    if "--mode" in options:
        assert data["mode_used"] == options[options.index("--mode") + 1]


def test_report_files_in_every_format(capsys, tmp_path):
    validator = jsonschema.Draft202012Validator(H.schema())
    for name, start in [
        ("r.json", "{"),
        ("r.md", "### ❌"),
        ("r.txt", "lstm_ref:"),
        ("r.html", "<!DOCTYPE html>"),
    ]:
        code, out, _ = _run(
            capsys, *SMALL, "--mutant", "dh0_zero", "--output", str(tmp_path / name)
        )
        assert code == 1
        assert out.startswith("gradcheck FAILED")
        assert name in out
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert text.startswith(start)
        if name.endswith(".json"):
            assert validator.is_valid(json.loads(text))
    code, out, _ = _run(capsys, *SMALL, "--format", "markdown")
    assert code == 0
    assert out.startswith("### ✅ gradcheck passed")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mutant", "swap_f"], "did you mean 'swap_f_o'"),
        (["--layers", "0"], "expected a positive integer"),
        (["--format", "pdf"], "invalid choice"),
        (["--output", "report.pdf"], "cannot tell the report format"),
        (["--layout", "keras"], "invalid choice"),
        (["--seed", "-1"], "expected an integer >= 0"),
    ],
    ids=["unknown-mutant", "zero-layers", "format", "suffix", "layout", "seed"],
)
def test_usage_errors_exit_2(capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert message in err
    assert out == ""


def test_an_unknown_suffix_points_at_the_format_option(capsys):
    code, _, err = _run(capsys, *SMALL, "--output", "report.pdf")
    assert code == 2
    assert "or give --format (one of text, json, markdown, html)" in err
    assert "format=" not in err  # the Python keyword is not what the command line takes


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_invisible_mutant_is_announced(capsys):
    code, _, err = _run(capsys, *SMALL, "--mutant", "dWx_dWh_swapped")  # needs D == H or L > 1
    assert code == 0
    assert "only shows when D==H or L>1" in err


def test_help_lists_every_mutant(capsys):
    code, out, _ = _run(capsys, "--help")
    assert code == 0
    for name in MUTANTS:
        assert name in out


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal_outside_ci(monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.delenv("CI", raising=False)
    assert _cli._progress(None, io.StringIO()) is None  # not a terminal
    bar = _cli._progress(None, _Terminal())
    assert bar is not None
    assert bar.bar.delay == _cli.AUTO_DELAY
    bar.close()
    monkeypatch.setenv("CI", "true")
    assert _cli._progress(None, _Terminal()) is None
    assert _cli._progress(False, _Terminal()) is None
    bar = _cli._progress(True, io.StringIO())  # asked for explicitly: shown at once
    assert bar is not None
    assert bar.bar.delay == 0
    bar.close()


def test_progress_bar_is_drawn_on_stderr(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code = main(["lstm", *SMALL, "--progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("lstm_ref:")
    drawn = terminal.getvalue()
    assert "call" in drawn
    assert "|" in drawn


def test_missing_tqdm_for_an_explicit_progress_bar(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    code, _, err = _run(capsys, *SMALL, "--progress")
    assert code == 2
    assert 'pip install "gradcheck[progress]"' in err
    monkeypatch.delenv("CI", raising=False)
    assert isinstance(_cli._progress(None, _Terminal()), _progress.Hint)  # automatic: a hint


def _without_tqdm_in_a_terminal(monkeypatch, delay):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(_cli, "HINT_DELAY", delay)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    return terminal


def test_a_long_check_in_a_terminal_without_tqdm_says_how_to_get_the_bar(monkeypatch, capsys):
    terminal = _without_tqdm_in_a_terminal(monkeypatch, delay=0.0)  # every check is "long"
    code = main(["lstm", *SMALL])
    assert code == 0
    assert capsys.readouterr().out.startswith("lstm_ref:")
    assert terminal.getvalue() == _progress.HINT + "\n"  # once
    assert 'pip install "gradcheck[progress]"' in _progress.HINT


def test_a_short_check_or_no_terminal_gives_no_hint(monkeypatch, capsys):
    terminal = _without_tqdm_in_a_terminal(monkeypatch, delay=60.0)
    assert main(["lstm", *SMALL]) == 0
    assert terminal.getvalue() == ""
    monkeypatch.setattr(_cli, "HINT_DELAY", 0.0)
    assert main(["lstm", *SMALL, "--no-progress"]) == 0
    assert terminal.getvalue() == ""
    monkeypatch.setenv("CI", "1")
    assert main(["lstm", *SMALL]) == 0
    assert terminal.getvalue() == ""


def test_python_dash_m_and_the_console_script(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "gradcheck", "lstm", *SMALL, "--mutant", "dh0_zero"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    assert "gradcheck FAILED" in run.stdout
    assert run.stderr == ""
    script = shutil.which("gradcheck", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the console script is not installed (pip install -e .)")
    run = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0
    assert run.stdout.startswith("gradcheck ")


def test_an_internal_error_exits_4_not_as_a_verdict(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("engine on fire")

    monkeypatch.setattr(_cli, "check_loss", broken)
    code, out, err = _run(capsys, *SMALL)
    assert code == 4
    assert "internal error in gradcheck" in err
    assert "engine on fire" in err
    assert out == ""


def test_an_unwritable_output_is_a_usage_error(capsys, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory")
    code, _, err = _run(capsys, *SMALL, "--output", str(blocker / "report.json"))
    assert code == 2
    assert "cannot write the report to" in err


@pytest.mark.parametrize("exit_code", [0, 1])
def test_a_model_that_calls_sys_exit_is_exit_3(capsys, monkeypatch, exit_code):
    import lstm_ref

    def exits(*args, **kwargs):
        sys.exit(exit_code)

    monkeypatch.setattr(lstm_ref, "loss", exits)
    code, out, err = _run(capsys, *SMALL)
    assert code == 3
    assert f"the checked code called sys.exit({exit_code}) during the check" in err
    assert out == ""


# --------------------------------------------------------------------------------------------
# gradcheck lstm --against MODULE:NAME

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DOC001 = f"{EXAMPLES / 'lstm_doc001.py'}:layer"


def _user_module(tmp_path, body):
    path = tmp_path / "mine.py"
    path.write_text(
        "import numpy as np\n"
        "import lstm_ref\n"
        "from lstm_ref import LSTMSubject, Run\n"
        "P = lstm_ref.init_params(np.random.default_rng(0), N=2, D=3, H=2, C=2)\n"
        "PARAMS = {k: P[k] for k in ('layer0.Wx', 'layer0.Wh', 'layer0.b')}\n" + body
    )
    return path


def test_against_passes_and_fails_with_the_usual_exit_codes(capsys):
    code, out, err = _run(capsys, "--against", DOC001)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "document 001's layer against lstm_ref (per_gate_col layout)"
    assert lines[1].startswith("gradcheck passed (method reference, mode full, 1 calls")
    assert any(line.startswith("Wfh ") for line in lines)
    code, out, _ = _run(capsys, "--against", DOC001[:-5] + 'layer(bug="no_cell_carry")')
    assert code == 1
    assert "cell-state gradient carried back from the next step" in " ".join(out.split())


def test_against_with_finite_differences_of_everything(capsys):
    code, out, err = _run(
        capsys, "--against", DOC001, "--fd", "all", "--mode", "sample", "--format", "json"
    )
    assert code == 0, err
    data = json.loads(out)
    names = [i["name"] for i in data["inputs"]]
    assert "Wfh" in names
    assert "Wfh (fd)" in names
    assert data["options"]["merged"][0]["mode"] == "sample"
    assert next(i for i in data["inputs"] if i["name"] == "Wfh (fd)")["checked"] < 16


def test_against_steps_and_batch(capsys):
    code, out, _ = _run(capsys, "--against", DOC001, "--steps", "6", "--batch", "2", "--format",
                        "json")  # fmt: skip
    assert code == 0
    h = json.loads(out)["inputs"][0]
    assert (h["name"], h["shape"]) == ("h (forward)", [2, 6, 4])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--against", DOC001, "--layers", "3"], "--layers cannot be used with --against"),
        (["--against", DOC001, "--dtype", "float32", "--head", "last"],
         "--head, --dtype cannot be used with --against"),
        (["--against", DOC001, "--mutant", "dh0_zero"], "--mutant cannot be used with --against"),
        (["--fd", "all"], "--fd applies to --against only"),
        (["--against", "examples/lstm_doc001.py"], "expected MODULE:NAME"),
        (["--against", "no_such_module_xyz:f"], "no module named 'no_such_module_xyz'"),
        (["--against", f"{EXAMPLES / 'lstm_doc001.py'}:nothing"], "has no attribute 'nothing'"),
        (["--against", f"{EXAMPLES / 'lstm_doc001.py'}:BUGS"], "is a dict, expected a function"),
        (["--against", f"{EXAMPLES / 'lstm_doc001.py'}:sigmoid(z=1)"],
         "returned float64, expected an lstm_ref.LSTMSubject"),
        (["--against", DOC001 + "(1)"], "keyword arguments and literal values"),
        (["--against", DOC001 + "(bug=no_such)"], "is not a literal"),
        (["--against", DOC001, "--layout", "torch"],
         "--layout torch but .* is an LSTM in the per_gate_col layout"),
    ],
    ids=["layers", "head-dtype", "mutant", "fd-alone", "no-name", "module", "name", "not-callable",
         "not-a-subject", "positional", "not-literal", "layout"],
)  # fmt: skip
def test_against_usage_errors_exit_2(capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert code == 2, err
    assert re.search(message, err), err
    assert out == ""


def test_against_user_code_that_raises_exits_3(capsys, tmp_path):
    path = _user_module(
        tmp_path,
        "def build():\n"
        "    raise RuntimeError('cannot build')\n"
        "def broken():\n"
        "    def run(p, x, dh):\n"
        "        raise ValueError('forward failed')\n"
        "    return LSTMSubject(run, PARAMS, 'packed', label='mine')\n"
        "def shapes():\n"
        "    def run(p, x, dh):\n"
        "        return Run({'h': np.zeros((1, 1, 1))}, {})\n"
        "    return LSTMSubject(run, PARAMS, 'packed', label='mine')\n",
    )
    for name, message in [
        ("build", "raised RuntimeError: cannot build"),
        ("broken", "running mine raised ValueError: forward failed"),
        ("shapes", r"returned h \(forward\) of shape \(1, 1, 1\)"),
    ]:
        code, out, err = _run(capsys, "--against", f"{path}:{name}")
        assert code == 3, (name, err)
        assert re.search(message, err), err
        assert out == ""
