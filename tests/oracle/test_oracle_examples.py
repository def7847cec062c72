"""The hand-written LSTMs of examples/: correct versions pass, every planted bug is caught and
located by gate, time step and layer, from Python and from ``gradcheck lstm --against``.

Six implementations in the styles of the documents, one per layout (document 001: a stateful
per-gate column-vector layer; 000: stacked packed functions, gradients top layer first; 002:
[x, h] maps in a module with dicts; 003: [h, x] functions on a dict; 004: the tutorial's flat
parameter list; a numpy clone of nn.LSTM), each with the same four kinds of bug planted in its
own way. The expected place of each bug is read off the example's own code, below.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from oracle_helpers import EXAMPLES, LAYOUT_OF, ROOT, example, finding

from gradcheck._cli import main
from lstm_ref.oracle import check_against

MODULES = {name: example(name) for name in EXAMPLES}
CASES = [
    (name, scope, bug)
    for name in EXAMPLES
    for scope in MODULES[name].SUBJECTS
    for bug in (None, *MODULES[name].BUGS)
    if not (scope != "model" and bug in ("mean_loss_summed_grads", "forget_gate_unused"))
]
IDS = [f"{name}-{scope}-{bug or 'correct'}" for name, scope, bug in CASES]
T = 4
#: the gate whose bias gradient is taken from another gate's delta, and that gate
BIAS_BUG = {
    "lstm_doc000": [("i", "f")],
    "lstm_doc001": [("i", "f"), ("o", "f")],
    "lstm_doc002": [("o", "i")],
    "lstm_doc003": [("i", "f")],
    "lstm_doc004": [("f", "o")],
    "lstm_torch": [("g", "o")],
}
#: the only step whose contribution the input weights' gradient keeps
ONE_STEP = {
    "lstm_doc000": 0,  # assigned in the loop from the last step down: step 0 remains
    "lstm_doc001": 0,
    "lstm_doc002": T - 1,  # computed after the loop from the first step processed
    "lstm_doc003": 0,
    "lstm_doc004": 0,
    "lstm_torch": 0,
}


def _layers(subject):
    return sorted({int(n[5 : n.index(".")]) for n in subject.params if n.startswith("layer")})


def assert_located(result, name, bug, layers):
    """The findings name the place of the planted bug."""
    summaries = [f.summary for f in result.findings]
    if bug == "bias_from_other_gate":
        for k in layers:
            for gate, source in BIAS_BUG[name]:
                f = finding(result, "wrong_input", layer=k, part="b", gate=gate, source_gate=source)
                assert f is not None, (k, gate, summaries)
        assert finding(result, "block", first_failing_steps=1) is not None  # within a step
        assert finding(result, "missing_term") is None
    elif bug == "input_grads_one_step":
        for k in layers:
            f = finding(result, "time_range", layer=k, part="Wx")
            assert f is not None, (k, summaries)
            assert f.evidence["steps_counted"] == [ONE_STEP[name]]
    elif bug == "no_cell_carry":
        f = finding(result, "missing_term", first_failing_steps=2)
        assert f is not None, summaries
        top = f.evidence["gates"][str(layers[-1])]
        assert set(top) <= {"i", "f", "g"}
        assert "o" not in top
        assert "cell-state gradient" in f.hint
    elif bug == "mean_loss_summed_grads":
        f = result.findings[0]
        assert f.kind == "constant_ratio"
        assert f.evidence["factor"] == "N"
        assert f.summary.startswith("every gradient is 3 = N")
        assert result.inputs["loss (forward)"].passed
    elif bug == "forget_gate_unused":
        f = result.findings[0]
        assert f.kind == "time_range"
        assert f.evidence["first_step"] == 1  # one step agrees: c_0 = 0 hides it
        assert not result.inputs["loss (forward)"].passed
        fd_rows = [r for n, r in result.inputs.items() if n.endswith(" (fd)")]
        assert fd_rows
        assert all(r.passed for r in fd_rows)  # finite differences alone would pass it


@pytest.mark.parametrize(("name", "scope", "bug"), CASES, ids=IDS)
def test_from_python(name, scope, bug):
    subject = getattr(MODULES[name], scope)(bug)
    assert subject.layout == LAYOUT_OF[name]
    result = check_against(subject, T=T)
    if bug is None:
        assert result.passed, str(result)
        assert result.findings == ()
        return
    assert not result.passed
    assert_located(result, name, bug, _layers(subject))


@pytest.mark.parametrize(
    ("name", "scope", "bug"),
    [c for c in CASES if c[1] == "model" or c[2] is None],
    ids=[i for c, i in zip(CASES, IDS, strict=True) if c[1] == "model" or c[2] is None],
)
def test_from_the_command_line(capsys, name, scope, bug):
    target = f"{ROOT / 'examples' / name}.py:{scope}"
    if bug is not None:
        target += f'(bug="{bug}")'
    code = main(["lstm", "--against", target, "--steps", str(T), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == (0 if bug is None else 1), err
    data = json.loads(out)
    assert data["method"] == "reference"
    assert data["title"].endswith(f"against lstm_ref ({LAYOUT_OF[name]} layout)")
    if bug is None:
        assert data["passed"]
        return
    result = check_against(getattr(MODULES[name], scope)(bug), T=T)
    assert [f["summary"] for f in data["findings"]] == [f.summary for f in result.findings]
    assert_located(result, name, bug, _layers(getattr(MODULES[name], scope)()))


def test_the_layout_option_reaches_a_function_that_takes_it(capsys, tmp_path):
    module = tmp_path / "any_layout.py"
    module.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'tests' / 'oracle')!r})\n"
        "from oracle_helpers import reference_subject\n"
        "def lstm(layout='packed', mutant=None):\n"
        "    return reference_subject(layout, L=2, mutant=mutant)\n"
    )
    for layout in ("packed", "per_gate_row", "torch"):
        code = main(["lstm", "--against", f"{module}:lstm", "--layout", layout, "--format", "json"])
        data = json.loads(capsys.readouterr().out)
        assert code == 0
        assert data["options"]["layout"] == layout
    code = main(["lstm", "--against", f'{module}:lstm(mutant="swap_f_o")', "--layout", "torch"])
    out = capsys.readouterr().out
    assert code == 1
    assert "weight_ih_l0" not in out  # the helper names the torch weights layer{k}.{key}
    assert "layer1.weight_hh" in out


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_runs_as_a_script(name):
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / f"{name}.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].endswith("correct: passed")
    assert sum("FAILED" in line for line in lines) == sum(
        1 for _, scope, bug in CASES if _ == name and bug is not None
    )
