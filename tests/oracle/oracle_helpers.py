"""Subjects for the oracle tests: lstm_ref itself (or one of its mutants) in any layout, and
the hand-written LSTMs of examples/ loaded from their files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

import lstm_ref as lr
from lstm_ref import LSTMSubject, Run
from lstm_ref.mutants import MUTANTS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("lstm_doc000", "lstm_doc001", "lstm_doc002", "lstm_doc003", "lstm_doc004", "lstm_torch")
#: the layout of each example
LAYOUT_OF = {
    "lstm_doc000": "packed",
    "lstm_doc001": "per_gate_col",
    "lstm_doc002": "concat_xh",
    "lstm_doc003": "concat_hx",
    "lstm_doc004": "per_gate_row",
    "lstm_torch": "torch",
}


def example(name):
    """The module examples/<name>.py."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_subject(
    layout="packed",
    *,
    L=1,
    D=3,
    H=4,
    C=3,
    N=3,
    head=None,
    objective="softmax",
    dtype=np.float64,
    mutant=None,
    states=False,
    seed=0,
):
    """lstm_ref (or ``mutant``'s backward) as an LSTM in ``layout``.

    A stack (``head=None``) or lstm_ref's model; ``states=True`` makes the initial states
    parameters (N rows).
    """
    lay = lr.get_layout(layout)
    packed = lr.init_params(np.random.default_rng(seed), N=N, D=D, H=H, C=C, L=L, dtype=dtype)
    unpacked = lay.unpack(packed)
    keep = [n for n in unpacked if not n.startswith("fc.") and n.split(".")[1] not in ("h0", "c0")]
    if states:
        keep += [f"layer{k}.{s}" for k in range(L) for s in ("h0", "c0")]
    if head is not None:
        keep += ["fc.W", "fc.b"]
    params = {n: unpacked[n] for n in keep}
    bug = MUTANTS[mutant] if mutant is not None else None

    def full(p, x):
        out = lay.pack({n: v for n, v in p.items()})
        for k in range(L):
            for s in ("h0", "c0"):
                out.setdefault(f"layer{k}.{s}", np.zeros((x.shape[0], H), x.dtype))
        return out

    def run_stack(p, x, dh):
        q = full(p, x)
        h, cache = lr.stacked_lstm_forward(x, q)
        backward = lr.lstm_backward if bug is None else bug.lstm_backward
        g, grads = dh, {}
        for k in reversed(range(L)):
            layer = cache.layers[k]
            dx, dh0, dWx, dWh, db, dc0 = backward(g, layer)
            grads.update({f"layer{k}.Wx": dWx, f"layer{k}.Wh": dWh, f"layer{k}.b": db})
            grads[f"layer{k}.h0"], grads[f"layer{k}.c0"] = dh0, dc0
            g = dx
        layout_grads = lay.unpack_grads(grads)
        outputs = {"h": h}
        for k, layer in enumerate(cache.layers):
            outputs[f"layer{k}.hT"], outputs[f"layer{k}.cT"] = layer.hT, layer.cT
        return Run(outputs, {**{n: layout_grads[n] for n in p}, "x": g})

    def run_model(p, x, y):
        q = full(p, x)
        fn = lr.loss if bug is None else bug.loss
        value, grads = fn(q, x, y, head=head, objective=objective)
        layout_grads = lay.unpack_grads(grads)
        return Run({"loss": value}, {n: layout_grads[n] for n in p})

    return LSTMSubject(
        run_stack if head is None else run_model,
        params,
        layout,
        head=head,
        objective=objective,
        label=f"lstm_ref ({layout}{', ' + mutant if mutant else ''})",
    )


def finding(result, kind, **evidence):
    """The first finding of ``kind`` whose evidence has these items, or None."""
    for f in result.findings:
        if f.kind == kind and all(f.evidence.get(k) == v for k, v in evidence.items()):
            return f
    return None
