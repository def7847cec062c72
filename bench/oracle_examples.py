"""What ``lstm_ref.oracle.check_against`` says about the hand-written LSTMs of examples/.

For every example (one per layout, in the style of one document), every way it can be run
(the LSTM alone and the whole model) and every planted bug (and the correct code), it runs the
oracle once and prints a Markdown table: the verdict, where the findings place the difference
(gate, time step, layer, or the factor), the number of calls of the user's code and the time.

Run: ``python bench/oracle_examples.py`` (a few seconds).
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from lstm_ref.oracle import check_against

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("lstm_doc000", "lstm_doc001", "lstm_doc002", "lstm_doc003", "lstm_doc004", "lstm_torch")


def _module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def where(result: Any) -> str:
    """The place the findings give, in a few words."""
    parts = []
    for f in result.findings:
        e = f.evidence
        if f.kind == "wrong_input" and "source_gate" in e:
            parts.append(f"layer {e['layer']} bias gate {e['gate']} = gate {e['source_gate']}")
        elif f.kind == "time_range" and "steps_counted" in e:
            parts.append(f"layer {e['layer']} {e['part']}: only step(s) {e['steps_counted']}")
        elif f.kind == "time_range" and "first_step" in e:
            parts.append(f"forward differs from step {e['first_step']}")
        elif f.kind == "constant_ratio" and e.get("factor") is not None:
            parts.append(f"every gradient x {e['factor']}")
        elif f.kind in ("missing_term", "block") and "first_failing_steps" in e:
            top = max(e["gates"], key=int) if e["gates"] else None
            gates = ",".join(e["gates"][top]) if top is not None else "-"
            parts.append(f"from {e['first_failing_steps']} steps on, top layer gates {gates}")
    unique = list(dict.fromkeys(parts))
    return "; ".join(unique[:3]) or "-"


def main() -> None:
    rows = []
    times = []
    for name in EXAMPLES:
        module = _module(name)
        for scope in module.SUBJECTS:
            for bug in (None, *module.BUGS):
                if scope != "model" and bug in ("mean_loss_summed_grads", "forget_gate_unused"):
                    continue
                subject = getattr(module, scope)(bug)
                start = time.perf_counter()
                result = check_against(subject)
                times.append(time.perf_counter() - start)
                verdict = "passed" if result.passed else "FAILED"
                rows.append(
                    f"| {name} | {subject.layout} | {scope} | {bug or 'correct'} | {verdict} | "
                    f"{where(result)} | {result.calls} |"
                )
    print("python bench/oracle_examples.py")
    print(f"{sys.version.split()[0]}, numpy {np.__version__}; N=3, T=4, seed 0\n")
    print("| example | layout | runs | bug | verdict | where the findings place it | calls |")
    print("|---|---|---|---|---|---|---:|")
    print("\n".join(rows))
    print(
        f"\n{len(rows)} checks; time per check: median {statistics.median(times) * 1e3:.1f} ms, "
        f"max {max(times) * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    main()
