"""``gradcheck check MODULE:NAME``: user-supplied layers, the spec format and the exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import rep_helpers as H

from gradcheck._cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "check_spec.py"


@pytest.fixture(autouse=True)
def _restore_imports(monkeypatch):
    """The command imports user modules and extends sys.path: undo it after each test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith(("gradcheck_user_", "userspec")):
            del sys.modules[name]


def _check(capsys, *argv):
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _module(tmp_path, body, name="userspec.py"):
    path = tmp_path / name
    header = "import numpy as np\n"
    path.write_text(header + textwrap.dedent(body), encoding="utf-8")
    return path


def test_the_example_passes(capsys):
    code, out, err = _check(capsys, f"{EXAMPLE}:spec")
    assert code == 0, err
    assert out.splitlines()[0] == "vanilla RNN layer (examples/check_spec.py)"
    assert "gradcheck passed" in out
    assert "[sequence]" in out
    assert "[weights]" in out


def test_the_example_bug_fails_and_shows_the_time_steps(capsys):
    code, out, _ = _check(capsys, f"{EXAMPLE}:buggy_spec")
    assert code == 1
    line = H.logical_line(out, "x by time:")
    parts = line.split(": ", 1)[1].split(", ")
    assert [("FAIL" in p) for p in parts] == [True] * 5 + [False]


def test_overrides_from_the_command_line(capsys):
    code, out, _ = _check(
        capsys, f"{EXAMPLE}:spec", "--mode", "sample", "--seed", "3", "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert (data["mode_used"], data["options"]["seed"]) == ("sample", 3)
    assert data["title"] == "vanilla RNN layer (examples/check_spec.py)"


SPECS = {
    "grad": """
        def spec():
            return {"kind": "grad", "fn": lambda x: float(np.sum(x**3)),
                    "grad": lambda x: (3 * x**2,), "inputs": {"x": np.linspace(-1, 1, 5)}}
    """,
    "vjp": """
        def spec():
            return {"kind": "vjp", "fn": np.sin, "vjp": lambda d, x: d * np.cos(x),
                    "inputs": {"x": np.linspace(0, 1, 4)}, "options": {"method": "complex"}}
    """,
    "loss": """
        def spec():
            def loss_fn(p):
                return float(np.sum(p["w"] ** 2)), {"w": 2 * p["w"]}
            return {"kind": "loss", "loss_fn": loss_fn, "params": {"w": np.ones((2, 3))}}
    """,
    "module": """
        class Scale:
            def __init__(self):
                self.params, self.grads = {"a": np.array([1.5, -0.5])}, {}
            def forward(self, x):
                self.x = x
                return x * self.params["a"]
            def backward(self, dout):
                self.grads["a"] = dout * self.x
                return dout * self.params["a"]
        def spec():
            return {"kind": "module", "layer": Scale(), "inputs": {"x": np.array([0.3, 2.0])}}
    """,
    "jvp": """
        def spec():
            return {"kind": "jvp", "fn": np.sin, "jvp": lambda u, x: u * np.cos(x),
                    "vjp": lambda d, x: d * np.cos(x), "inputs": {"x": np.linspace(0, 1, 4)}}
    """,
    "hvp": """
        def spec():
            return {"kind": "hvp", "grad": lambda x: np.exp(x), "hvp": lambda u, x: u * np.exp(x),
                    "inputs": {"x": np.linspace(0, 1, 4)}}
    """,
    "gradgrad": """
        def spec():
            return {"kind": "gradgrad", "fn": np.sin, "vjp": lambda d, x: d * np.cos(x),
                    "vjp_jvp": lambda u, d, x: -d * np.sin(x) * u,
                    "inputs": {"x": np.linspace(0, 1, 4)}}
    """,
    "complex": """
        def spec():
            return {"kind": "vjp", "fn": lambda z: z * z,
                    "vjp": lambda v, z: v * np.conj(2 * z),
                    "inputs": {"z": np.array([1 + 2j, -0.5 + 0.3j])}}
    """,
}


@pytest.mark.parametrize("kind", list(SPECS))
def test_every_kind_of_spec(capsys, tmp_path, kind):
    path = _module(tmp_path, SPECS[kind], f"spec_{kind}.py")
    code, out, err = _check(capsys, f"{path}:spec")
    assert code == 0, out + err
    assert out.splitlines()[0] == f"{path}:spec"  # the default title
    assert "gradcheck passed" in out
    if kind in ("jvp", "hvp", "gradgrad"):  # the report names the check and its own calls
        assert f"(check_{kind}, method central" in out
        assert "(adjoint)" in out if kind == "jvp" else "(symmetry)" in out


def test_a_wrong_jvp_exits_1_and_replays(capsys, tmp_path):
    path = _module(
        tmp_path,
        """
        def spec():
            return {"kind": "jvp", "fn": np.sin, "jvp": lambda u, x: 1.01 * u * np.cos(x),
                    "vjp": lambda d, x: d * np.cos(x), "inputs": {"x": np.linspace(0, 1, 4)}}
        """,
        "spec_badjvp.py",
    )
    bundle = tmp_path / "jvp.npz"
    code, out, err = _check(capsys, f"{path}:spec", "--save-bundle", str(bundle))
    assert code == 1, out + err
    assert "x (adjoint)" in out
    assert "FAIL" in out
    assert main(["replay", str(bundle)]) == 1
    assert "same verdict and numbers as recorded" in capsys.readouterr().err


def test_a_dotted_module_on_the_path(capsys, tmp_path, monkeypatch):
    _module(tmp_path, SPECS["grad"], "userspec_dotted.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, _ = _check(capsys, "userspec_dotted:spec", "--format", "markdown")
    assert code == 0
    assert out.startswith("### ✅")


GOOD = """
    def forward(x):
        return x**2, x
    def backward(dout, x):
        return (2 * dout * x,)
    INPUTS = {"x": np.linspace(-1, 1, 3)}
"""

USAGE_ERRORS = {
    "no-colon": ("{path}", "expected MODULE:NAME"),
    "no-file": ("{tmp}/absent.py:spec", "no such file"),
    "no-module": ("no_such_module_xyz:spec", "no module named 'no_such_module_xyz'"),
    "no-name": ("{path}:absent", "has no attribute 'absent'; its functions are ['as_list'"),
    "not-callable": ("{path}:INPUTS", "expected a function returning a check spec"),
    "not-a-dict": ("{path}:as_list", "expected a dict with a 'kind' key"),
    "bad-kind": ("{path}:bad_kind", "'kind' must be one of 'layer', 'vjp'"),
    "unknown-key": ("{path}:unknown_key", "unknown keys ['extra'] for kind 'layer'"),
    "missing-key": ("{path}:missing_key", "kind 'layer' needs the keys ['backward']"),
    "bad-option": ("{path}:bad_option", "method must be one of"),
    "bad-title": ("{path}:bad_title", "'title' must be a string"),
}

SPEC_FUNCTIONS = (
    GOOD
    + """
    def as_list():
        return [forward, backward]
    def bad_kind():
        return {"kind": "jacobian", "forward": forward}
    def unknown_key():
        return {"kind": "layer", "forward": forward, "backward": backward, "inputs": INPUTS,
                "extra": 1}
    def missing_key():
        return {"kind": "layer", "forward": forward, "inputs": INPUTS}
    def bad_option():
        return {"kind": "layer", "forward": forward, "backward": backward, "inputs": INPUTS,
                "options": {"method": "forward"}}
    def bad_title():
        return {"kind": "layer", "forward": forward, "backward": backward, "inputs": INPUTS,
                "title": 3}
    def raises():
        raise RuntimeError("no data today")
    def forward_raises():
        def fwd(x):
            raise ZeroDivisionError("boom")
        return {"kind": "layer", "forward": fwd, "backward": backward, "inputs": INPUTS}
    def wrong_shape():
        return {"kind": "layer", "forward": forward, "backward": lambda d, x: (x[:2],),
                "inputs": INPUTS}
    def wrong_gradient():
        return {"kind": "layer", "forward": forward, "backward": lambda d, x: (3 * d * x,),
                "inputs": INPUTS}
"""
)


@pytest.mark.parametrize("case", list(USAGE_ERRORS))
def test_usage_errors_exit_2(capsys, tmp_path, case):
    path = _module(tmp_path, SPEC_FUNCTIONS)
    target, message = USAGE_ERRORS[case]
    code, out, err = _check(capsys, target.format(path=path, tmp=tmp_path))
    assert code == 2, err
    assert message in err
    assert out == ""


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("raises", "spec.py:raises() raised RuntimeError: no data today"),
        ("forward_raises", "raised ZeroDivisionError: boom"),
        ("wrong_shape", "InvalidGradientError: the gradient for 'x' has shape (2,)"),
    ],
)
def test_errors_of_the_users_code_exit_3(capsys, tmp_path, name, message):
    path = _module(tmp_path, SPEC_FUNCTIONS)
    code, out, err = _check(capsys, f"{path}:{name}")
    assert code == 3
    assert message in err
    assert out == ""
    if name != "wrong_shape":
        assert "Traceback" in err  # the user's own traceback, to find the line


def test_a_module_that_fails_to_import_exits_3(capsys, tmp_path):
    path = _module(tmp_path, "import numpy.no_such_submodule\n", "broken.py")
    code, _, err = _check(capsys, f"{path}:spec")
    assert code == 3
    assert "importing" in err
    assert "ModuleNotFoundError" in err


def test_a_wrong_gradient_exits_1(capsys, tmp_path):
    path = _module(tmp_path, SPEC_FUNCTIONS)
    code, out, _ = _check(capsys, f"{path}:wrong_gradient")
    assert code == 1
    assert "gradcheck FAILED: 1 of 1 inputs" in out


# sys.exit in the checked code is never a verdict: whatever its code, it exits 3

EXITING = (
    GOOD
    + """
    import sys
    X0 = INPUTS["x"][0]
    def exits_in_spec():
        sys.exit(0)
    def exits_in_forward():
        def fwd(x):
            sys.exit(0)
        return {"kind": "layer", "forward": fwd, "backward": backward, "inputs": INPUTS}
    def exits_1_in_backward():
        def bwd(dout, x):
            sys.exit(1)
        return {"kind": "layer", "forward": forward, "backward": bwd, "inputs": INPUTS}
    def exits_when_perturbed():
        def fn(x):
            if x[0] != X0:
                sys.exit(0)
            return float(np.sum(x**2))
        return {"kind": "grad", "fn": fn, "grad": lambda x: (2 * x,), "inputs": INPUTS}
    def exits_with_a_message_in_the_loss():
        def loss_fn(p):
            sys.exit("giving up")
        return {"kind": "loss", "loss_fn": loss_fn, "params": INPUTS}
"""
)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("exits_in_spec", "spec.py:exits_in_spec() called sys.exit(0)"),
        ("exits_in_forward", "the checked code called sys.exit(0) during the check"),
        ("exits_1_in_backward", "the checked code called sys.exit(1) during the check"),
        ("exits_when_perturbed", "the checked code called sys.exit(0) during the check"),
        ("exits_with_a_message_in_the_loss", "called sys.exit('giving up') during the check"),
    ],
)
def test_checked_code_that_exits_is_exit_3_not_a_verdict(capsys, tmp_path, name, message):
    path = _module(tmp_path, EXITING)
    code, out, err = _check(capsys, f"{path}:{name}")
    assert code == 3
    assert message in err
    assert "Traceback" in err  # where the exit was called
    assert out == ""


@pytest.mark.parametrize("exit_code", [0, 1])
def test_a_module_that_exits_on_import_is_exit_3(capsys, tmp_path, monkeypatch, exit_code):
    body = GOOD + f"    import sys\n    sys.exit({exit_code})\n"
    path = _module(tmp_path, body, "exits_on_import.py")
    code, _, err = _check(capsys, f"{path}:forward")
    assert code == 3
    assert f"importing {path} called sys.exit({exit_code})" in err
    _module(tmp_path, body, "userspec_exits.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, err = _check(capsys, "userspec_exits:forward")
    assert code == 3
    assert f"importing userspec_exits called sys.exit({exit_code})" in err


def test_the_command_exits_3_when_the_forward_pass_calls_sys_exit_0(tmp_path):
    """As the shell sees it: the process's exit status, not main()'s return value."""
    path = _module(tmp_path, EXITING)
    run = subprocess.run(
        [sys.executable, "-m", "gradcheck", "check", f"{path}:exits_in_forward"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 3, run.stderr
    assert "called sys.exit(0) during the check" in run.stderr
    assert run.stdout == ""
