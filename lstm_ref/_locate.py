"""Where a user's LSTM differs from the reference: gate, time step and layer.

Reading the element-wise verdicts of a comparison with the reference the way an LSTM
author would: which gate blocks of which layer differ (through the layout table, whatever
the user's layout), whether a weight gradient is the reference's with some time steps
left out (a least-squares fit on the reference's per-step contributions), whether a gate's
gradient is another gate's, whether every gradient is off by the same factor (N for a mean
loss with summed gradients), and from how many time steps on the difference appears (the
oracle re-runs shorter prefixes of the sequence). The result is plain data
(:class:`Located`); ``lstm_ref.oracle`` turns it into gradcheck findings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._layouts import GATES, Layout, _pack
from ._types import Array

__all__ = ["Context", "Located", "Sweep", "gate_table", "locate"]

PARTS = ("Wx", "Wh", "b")
_PART_TEXT = {"Wx": "input weights", "Wh": "recurrent weights", "b": "bias"}
#: relative residual under which a fitted relation counts as exact (above float32 rounding)
FIT_TOL = 1e-4


@dataclass(frozen=True)
class Located:
    """One reading of the differences (the fields of a gradcheck ``Finding``)."""

    kind: str
    input: str
    summary: str
    hint: str
    evidence: dict[str, Any]
    score: float


@dataclass(frozen=True)
class Sweep:
    """The differences on shorter prefixes of the sequence.

    ``first`` is the smallest number of steps at which something differs (None when every
    prefix agrees); ``gates`` the differing gate blocks per layer and part at that length.
    """

    first: int | None
    gates: dict[int, dict[str, list[str]]] = field(default_factory=dict)
    outputs: bool = False


@dataclass(frozen=True)
class Context:
    """What the comparison found, in normal names (see ``lstm_ref._subject``)."""

    layout: Layout
    L: int
    D: int
    H: int
    N: int
    T: int
    user: Mapping[str, Array]
    reference: Mapping[str, Array]
    masks: Mapping[str, Array]
    steps: Mapping[str, Array]
    display: Callable[[str], str]
    sweep: Sweep | None = None


def _layer_arrays(ctx_layout: Layout, arrays: Mapping[str, Array], k: int) -> dict[str, Array]:
    return {key: np.asarray(arrays[f"layer{k}.{key}"], dtype=np.float64) for key in ctx_layout.keys}


def _packed(
    lay: Layout, arrays: Mapping[str, Array], L: int, D: int, H: int, *, masks: bool
) -> dict[tuple[int, str], Array]:
    """Per (layer, part) the packed array; masks are OR-ed over repeated blocks."""
    out: dict[tuple[int, str], Array] = {}
    for k in range(L):
        if any(f"layer{k}.{key}" not in arrays for key in lay.keys):
            continue
        w = _layer_arrays(lay, arrays, k)
        Wx, Wh, b = _pack(lay, w, D if k == 0 else H, H, grads=not masks, check=False)
        for part, arr in zip(PARTS, (Wx, Wh, b), strict=True):
            out[k, part] = arr > 0 if masks else arr
    return out


def gate_table(
    lay: Layout, masks: Mapping[str, Array], L: int, D: int, H: int
) -> dict[int, dict[str, list[str]]]:
    """Per layer and part (``"Wx"``, ``"Wh"``, ``"b"``), the gates with a difference."""
    table: dict[int, dict[str, list[str]]] = {}
    for (k, part), mask in _packed(lay, masks, L, D, H, masks=True).items():
        gates = [g for j, g in enumerate(GATES) if mask[..., j * H : (j + 1) * H].any()]
        if gates:
            table.setdefault(k, {})[part] = gates
    return table


def _names_of(ctx: Context, k: int, part: str, gates: Sequence[str] | None = None) -> list[str]:
    """The user's names of layer k's parameters that hold ``part`` (and one of ``gates``)."""
    return [
        ctx.display(f"layer{k}.{p.key}")
        for p in ctx.layout.params
        if part in p.parts
        and (gates is None or set(p.gates) & set(gates))
        and p.key not in ctx.layout.duplicates
    ]


def _steps_text(steps: Sequence[int]) -> str:
    if not steps:
        return "no step"
    runs: list[list[int]] = []
    for t in steps:
        if runs and t == runs[-1][-1] + 1:
            runs[-1].append(t)
        else:
            runs.append([t])
    parts = [f"{r[0]}" if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs]
    return ("step " if len(steps) == 1 else "steps ") + ", ".join(parts)


def _gates_text(gates: Sequence[str]) -> str:
    return "gate " + gates[0] if len(gates) == 1 else "gates " + ", ".join(gates)


def _ratio(ctx: Context, failed: list[str]) -> Located | None:
    """Every differing gradient is c times the reference's, for one c."""
    grads = [n for n in failed if n in ctx.reference and n in ctx.user]
    if not grads:
        return None
    u = np.concatenate([np.asarray(ctx.user[n], dtype=np.float64).ravel() for n in grads])
    r = np.concatenate([np.asarray(ctx.reference[n], dtype=np.float64).ravel() for n in grads])
    rr = float(r @ r)
    if rr == 0 or not np.all(np.isfinite(u)):
        return None
    c = float(u @ r) / rr
    residual = float(np.linalg.norm(u - c * r)) / max(float(np.linalg.norm(u)), 1e-300)
    if residual > FIT_TOL or abs(c - 1) < 1e-3:
        return None
    N, T = ctx.N, ctx.T
    factors = [
        (float(N), "N"), (1 / N, "1/N"), (float(T), "T"), (1 / T, "1/T"),
        (float(N * T), "N*T"), (1 / (N * T), "1/(N*T)"), (2.0, "2"), (0.5, "1/2"), (-1.0, "-1"),
    ]  # fmt: skip
    name = next((label for value, label in factors if abs(c - value) <= 1e-3 * abs(value)), None)
    every = set(grads) >= {n for n in ctx.reference if _is_grad(n) and n != "x"}
    listed = ", ".join(ctx.display(n) for n in grads[:4])
    scope = "every gradient" if every else f"the gradients of {listed}"
    if len(grads) > 4 and not every:
        scope += f" and {len(grads) - 4} more"
    factor = f"{c:.6g}" + (f" = {name} (N={N}, T={T})" if name else "")
    hint = {
        "N": "the loss is averaged over the batch but its gradient is not divided by N "
        "(or the other way round)",
        "1/N": "the gradient is averaged over the batch where the loss sums over it",
        "T": "a mean over time steps in the loss whose gradient sums over them",
        "1/T": "the gradient is averaged over the time steps where the loss sums over them",
        "-1": "a sign: the gradient of -loss, or a subtraction the wrong way round",
    }.get(name or "", "a constant factor in the loss gradient, which every gradient inherits")
    return Located(
        "constant_ratio",
        ctx.display(grads[0]),
        f"{scope} is {factor} times the reference's",
        hint,
        {"factor": name or c, "ratio": c, "inputs": [ctx.display(n) for n in grads]},
        1.0 if name else 0.9,
    )


def _fit_steps(u: Array, contributions: Array) -> Array | None:
    """Weights w with u = sum_t w_t contributions[t], if that is well posed and fits."""
    T = contributions.shape[0]
    A = contributions.reshape(T, -1).T
    target = np.asarray(u, dtype=np.float64).ravel()
    if A.shape[0] < T or not np.all(np.isfinite(target)):
        return None
    singular = np.linalg.svd(A, compute_uv=False)
    if singular[0] == 0 or singular[-1] < 1e-8 * singular[0]:
        return None
    w, *_ = np.linalg.lstsq(A, target, rcond=None)
    residual = float(np.linalg.norm(A @ w - target))
    if residual > FIT_TOL * max(float(np.linalg.norm(target)), 1e-300):
        return None
    return np.asarray(w)


def _time_fits(ctx: Context, table: dict[int, dict[str, list[str]]]) -> list[Located]:
    out = []
    user = _packed(ctx.layout, ctx.user, ctx.L, ctx.D, ctx.H, masks=False)
    for k, parts in table.items():
        for part in parts:
            key = f"layer{k}.{part}"
            if (k, part) not in user or key not in ctx.steps or ctx.T < 2:
                continue
            w = _fit_steps(user[k, part], ctx.steps[key])
            if w is None:
                continue
            counted = [t for t in range(ctx.T) if abs(w[t] - 1) < 1e-3]
            missing = [t for t in range(ctx.T) if abs(w[t]) < 1e-3]
            if len(counted) == ctx.T or np.ptp(w) <= 1e-3 * np.abs(w).max():
                continue  # right, or the same factor at every step: a constant ratio
            names = _names_of(ctx, k, part)
            weights = ", ".join(f"{v:.3g}" for v in w)
            if len(counted) + len(missing) == ctx.T:
                summary = (
                    f"layer {k}'s {_PART_TEXT[part]} gradient ({', '.join(names)}) counts only "
                    f"{_steps_text(counted)} of the {ctx.T} steps: {_steps_text(missing)} "
                    f"{'is' if len(missing) == 1 else 'are'} left out"
                )
            else:
                summary = (
                    f"layer {k}'s {_PART_TEXT[part]} gradient ({', '.join(names)}) weighs "
                    f"the steps' contributions by {weights} instead of 1 each"
                )
            out.append(
                Located(
                    "time_range",
                    names[0],
                    summary,
                    "the gradient is summed over the wrong time steps: it is assigned "
                    "(=) instead of accumulated (+=) in the loop over steps, or computed "
                    "after the loop from one step's delta",
                    {
                        "layer": k,
                        "part": part,
                        "steps_counted": counted,
                        "steps_missing": missing,
                        "weights": [float(v) for v in w],
                    },
                    1.0,
                )
            )
    return out


def _sources(ctx: Context, table: dict[int, dict[str, list[str]]]) -> list[Located]:
    """A gate block of a gradient that equals another gate's reference block."""
    out = []
    H = ctx.H
    user = _packed(ctx.layout, ctx.user, ctx.L, ctx.D, ctx.H, masks=False)
    ref = _packed(ctx.layout, ctx.reference, ctx.L, ctx.D, ctx.H, masks=False)
    for k, parts in table.items():
        for part, gates in parts.items():
            if len(gates) == len(GATES):
                continue
            for gate in gates:
                j = GATES.index(gate)
                mine = user[k, part][..., j * H : (j + 1) * H]
                for i, other in enumerate(GATES):
                    theirs = ref[k, part][..., i * H : (i + 1) * H]
                    scale = float(np.linalg.norm(theirs))
                    if i == j or scale == 0:
                        continue
                    if float(np.linalg.norm(mine - theirs)) <= FIT_TOL * scale:
                        names = _names_of(ctx, k, part, [gate])
                        out.append(
                            Located(
                                "wrong_input",
                                names[0],
                                f"layer {k}'s {_PART_TEXT[part]} gradient of gate {gate} "
                                f"({', '.join(names)}) equals the reference gradient of gate "
                                f"{other}",
                                f"gate {gate}'s gradient is computed from gate {other}'s "
                                f"delta (document 001's bi_grad = delta_{other})",
                                {"layer": k, "part": part, "gate": gate, "source_gate": other},
                                1.0,
                            )
                        )
                        break
    return out


def _location(ctx: Context, table: dict[int, dict[str, list[str]]]) -> Located | None:
    """Which gates of which layers differ, when that is not everything."""
    if not table:
        return None
    everything = (
        all(len(parts.get(part, [])) == len(GATES) for parts in table.values() for part in PARTS)
        and len(table) == ctx.L
    )
    if everything:
        return None
    pieces = []
    for k in sorted(table):
        for part in PARTS:
            gates = table[k].get(part)
            if gates:
                names = _names_of(ctx, k, part, gates)
                pieces.append(
                    f"layer {k} {_PART_TEXT[part]} {_gates_text(gates)} ({', '.join(names)})"
                )
    first_k = min(table)
    first_part = next(p for p in PARTS if p in table[first_k])
    return Located(
        "block",
        _names_of(ctx, first_k, first_part, table[first_k][first_part])[0],
        "only these gradients differ: " + "; ".join(pieces),
        "the mistake is in the backward formulas of these gates and layers; the others agree "
        "with the reference",
        {
            "layers": sorted(table),
            "gates": {str(k): {p: g for p, g in parts.items()} for k, parts in table.items()},
        },
        0.95,
    )


def _is_grad(name: str) -> bool:
    """A gradient, not a forward output (``h``, ``loss``, ``layer{k}.hT``, ``layer{k}.cT``)."""
    return name not in ("h", "loss") and not name.endswith((".hT", ".cT"))


def _first_step(mask: Array) -> int | None:
    steps = np.flatnonzero(np.asarray(mask).any(axis=(0, 2)))
    return int(steps[0]) if steps.size else None


_FD_NOTE = (
    "; the gradients are then compared with the gradients of another function: the rows "
    "marked (fd) (finite differences of this code, fd='auto') tell whether they at least match "
    "this forward pass"
)


def _forward(ctx: Context) -> Located | None:
    h_mask = ctx.masks.get("h")
    states = [n for n in ctx.masks if n.endswith((".hT", ".cT")) and ctx.masks[n].any()]
    loss = "loss" in ctx.masks and bool(ctx.masks["loss"].any())
    first = _first_step(h_mask) if h_mask is not None else None
    if first is None and not states and not loss:
        return None
    sweep = ctx.sweep
    if first is None and loss and sweep is not None and sweep.outputs and sweep.first:
        first = sweep.first - 1  # a model: the loss of the shorter sequences tells the step
    if first is not None:
        if first > 0:
            summary = (
                f"the forward pass differs from the reference from step {first} on (it "
                f"agrees on {_steps_text(list(range(first)))})"
            )
            hint = (
                "something the forward pass carries from step to step is wrong: h_{t-1}, or "
                "c_t = f * c_{t-1} + i * g"
            )
        else:
            summary = "the forward pass differs from the reference already at step 0"
            hint = "a forward mistake within one step: a gate's formula or its weights"
    elif loss:
        summary = "the loss value differs from the reference's: the model computes another function"
        hint = (
            "the LSTM's forward pass, the output layer or the loss (a mean over the batch, "
            "summed over steps and classes) differs from lstm_ref's model"
        )
    else:
        summary = f"the final states {', '.join(map(ctx.display, states))} differ"
        hint = "the state kept after the last step is not h_T, c_T"
    name = "h (forward)" if h_mask is not None and h_mask.any() else None
    name = name or ("loss (forward)" if loss else ctx.display(states[0]))
    return Located(
        "time_range",
        name,
        summary + _FD_NOTE,
        hint,
        {"first_step": first, "states": states, "loss": loss},
        0.97,
    )


def _sweep(ctx: Context) -> Located | None:
    sweep = ctx.sweep
    if sweep is None or sweep.first is None:
        return None
    tau = sweep.first
    top = ctx.L - 1
    gates = {k: sorted({g for gs in parts.values() for g in gs}, key=GATES.index)
             for k, parts in sweep.gates.items()}  # fmt: skip
    per_layer = "; ".join(f"layer {k}: {_gates_text(gs)}" for k, gs in sorted(gates.items()))
    if sweep.outputs:
        return None  # the forward pass differs: _forward says from which step
    if tau == 1:
        summary = (
            "the gradients differ already for a sequence of one step: the mistake is within "
            "a step, not in what is carried between steps"
        )
        hint = "a gate's derivative or the gradient of a weight, bias or input in one step"
    else:
        summary = (
            f"the gradients agree for sequences of up to {tau - 1} step"
            f"{'s' if tau > 2 else ''} and differ from {tau} steps on: the mistake needs "
            f"{tau} steps to show (a carry between steps, or a sum over the steps)"
        )
        top_gates = gates.get(top, [])
        if top_gates and "o" not in top_gates and set(top_gates) <= {"i", "f", "g"}:
            hint = (
                f"at {tau} steps only gates {', '.join(top_gates)} of the top layer differ, the "
                "gates that read the cell-state gradient dc, while gate o, which reads dh, "
                "agrees: the cell-state gradient carried back from the next step "
                "(dc_{t-1} = dc_t * f_t) is missing or wrong"
            )
        else:
            hint = (
                "something across steps is wrong: the hidden-state carry dh_{t-1} = da_t Wh^T, "
                "the cell-state carry dc_{t-1} = dc_t * f_t, or a weight gradient that keeps "
                "only one step's contribution"
            )
    if per_layer:
        summary += f" (at {tau} step{'s' if tau > 1 else ''}: {per_layer})"
    return Located(
        "missing_term" if tau > 1 else "block",
        "h (forward)" if sweep.outputs else _first_input(ctx),
        summary,
        hint,
        {
            "first_failing_steps": tau,
            "gates": {str(k): gs for k, gs in gates.items()},
            "layers": sorted(gates),
        },
        0.96,
    )


def _first_input(ctx: Context) -> str:
    for name, mask in ctx.masks.items():
        if mask.any() and name in ctx.user:
            return ctx.display(name)
    return next(iter(ctx.masks), "h")


def locate(ctx: Context) -> list[Located]:
    """Every reading that applies, most specific first."""
    failed = [n for n, m in ctx.masks.items() if m.any()]
    table = gate_table(ctx.layout, ctx.masks, ctx.L, ctx.D, ctx.H)
    out: list[Located] = []
    forward = _forward(ctx)
    if forward is not None:
        out.append(forward)
    ratio = _ratio(ctx, [n for n in failed if _is_grad(n)])
    if ratio is not None:
        out.append(ratio)
        if forward is None:
            return out  # one factor explains every difference
    out += _sources(ctx, table)
    out += _time_fits(ctx, table)
    location = _location(ctx, table)
    if location is not None:
        out.append(location)
    swept = _sweep(ctx)
    if swept is not None:
        out.append(swept)
    return out
