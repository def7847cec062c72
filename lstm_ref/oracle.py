"""Run a hand-written LSTM against the reference: ``check_against`` (needs gradcheck).

Finite differences only say that a backward pass matches its own forward pass, to the
accuracy of a difference quotient (about 1e-5 relative in float64). The reference says
more: the forward pass must give the reference's outputs, every gradient must equal the
reference's exact gradient up to rounding (a bound of ``K * eps * m`` per element, ``m``
the magnitude of the terms the element is made of, ``K`` measured per dtype:
:data:`ROUNDING`), and where something differs, which gate, time step and layer.

:func:`check_against` runs a user's LSTM (an :class:`~lstm_ref.LSTMSubject`, usually built
by ``lstm_ref.adapters``) on random data in its own layout and dtype, compares

* the forward outputs: the top layer's hidden states ``h (forward)`` (or the model's
  ``loss (forward)``) and the final states the user's code exposes;
* every gradient: each parameter's, the input's (``x``) and the initial states' when the
  code returns them;

with the reference (lstm_ref in float64), then checks by finite differences (gradcheck's
``check_loss``) what the reference cannot cover: parameters it does not know, and, when
the forward pass differs from the reference, every gradient against that forward pass.
The result is gradcheck's :class:`~gradcheck.CheckResult`: ``analytic`` is the user's value,
``numeric`` the reference's, ``threshold`` the rounding bound; the findings say where the
differences are, in terms of gates i/f/o/g, time steps and layers.

This is the only module of lstm_ref that imports gradcheck.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np

import gradcheck
from gradcheck import CheckResult, Confidence, Finding, FindingKind, InputResult

from ._layouts import _LAYER_NAME, Layout, _unpack, get_layout
from ._locate import Context, Located, Sweep, gate_table, locate
from ._lstm import augment
from ._model import model_backward, stacked_backward_cols, stacked_forward_cols
from ._rounding import bounds as rounding_bounds
from ._subject import LSTMSubject, Run
from ._types import Array

__all__ = ["FD_MODES", "ROUNDING", "check_against"]

#: ``K`` per dtype of the user's parameters: an element may differ from the reference by
#: ``K * eps * m`` (``m``: the magnitude of its terms, see ``lstm_ref._rounding``). Measured
#: with ``python bench/oracle_bounds.py --seeds $(seq 0 49)`` on correct implementations
#: (12.7 million compared elements per dtype, docs/oracle.md): the largest
#: ``|value - reference| / (eps * m)`` seen was 0.32 in float64 and 0.54 in float32; these
#: are 12 and 15 times that.
ROUNDING: Mapping[str, float] = {"float32": 8.0, "float64": 4.0}
#: Values of ``check_against(fd=...)``.
FD_MODES = ("auto", "all", "none")

_FORWARD = " (forward)"
_FD = " (fd)"


@dataclass
class _Problem:
    """The subject, its sizes and the data of one comparison."""

    subject: LSTMSubject
    lay: Layout
    L: int
    D: int
    H: int
    C: int
    N: int
    dtype: np.dtype[Any]
    weights: list[str]  # normal names the reference knows (layer weights, states, head)
    extras: list[str]  # normal names it does not know
    states: bool

    @property
    def model(self) -> bool:
        return self.subject.head is not None

    def display(self, normal: str) -> str:
        if normal == "x":
            return "x"
        if normal in ("h", "loss") or normal.endswith((".hT", ".cT")):
            short = normal.split(".", 1)[1] if self.L == 1 and "." in normal else normal
            return short + _FORWARD
        return self.subject.name(normal)

    # the reference ----------------------------------------------------------------------

    def packed(self, params: Mapping[str, Array]) -> dict[str, Array]:
        """lstm_ref params in float64 from the user's (normal names)."""
        out: dict[str, Array] = {}
        for k in range(self.L):
            layer = {
                key: np.asarray(params[f"layer{k}.{key}"], dtype=np.float64)
                for key in self.lay.keys
            }
            Wx, Wh, b = self.lay.pack_layer(layer)
            out[f"layer{k}.Wx"], out[f"layer{k}.Wh"], out[f"layer{k}.b"] = Wx, Wh, b
            for state in ("h0", "c0"):
                name = f"layer{k}.{state}"
                out[name] = (
                    np.asarray(params[name], dtype=np.float64)
                    if self.states
                    else np.zeros((self.N, self.H))
                )
        if self.model:
            W = np.asarray(params["fc.W"], dtype=np.float64)
            out["fc.W"] = np.ascontiguousarray(W.T) if self.subject.head_transposed else W
            out["fc.b"] = np.asarray(params["fc.b"], dtype=np.float64).reshape(self.C)
        return out

    def reference(
        self, params: Mapping[str, Array], x: Array, upstream: Array
    ) -> tuple[dict[str, Array], dict[str, Array], dict[str, Array]]:
        """Reference values, magnitudes and per-step contributions, in normal names."""
        packed = self.packed(params)
        x64 = np.asarray(x, dtype=np.float64)
        N, T, _ = x64.shape
        values: dict[str, Array] = {}
        if self.model:
            head, objective = self.subject.head, self.subject.objective
            assert head is not None
            y = upstream if objective == "softmax" else np.asarray(upstream, dtype=np.float64)
            value, grads, dx = model_backward(packed, x64, y, self.L, head, objective, want_dx=True)
            values["loss"] = np.asarray(value, dtype=np.float64)
            bounds = rounding_bounds(packed, x64, y=y, head=head, objective=objective)
        else:
            caches = stacked_forward_cols(augment(x64.transpose(1, 0, 2)), N, T, packed, self.L)
            values["h"] = caches[-1].h[1:].transpose(2, 0, 1).copy()
            for k, cache in enumerate(caches):
                values[f"layer{k}.hT"] = cache.hT.copy()
                values[f"layer{k}.cT"] = cache.cT.copy()
            dh = np.asarray(upstream, dtype=np.float64)
            dx_rows, grads = stacked_backward_cols(
                np.ascontiguousarray(dh.transpose(1, 2, 0)), caches, want_dx=True
            )
            dx = cast(Array, dx_rows).reshape(T, N, self.D).transpose(1, 0, 2).copy()
            bounds = rounding_bounds(packed, x64, dh=dh)
        values["x"] = cast(Array, dx)
        mags = {name: bounds.magnitudes[name] for name in values}
        for k in range(self.L):
            p = f"layer{k}."
            for target, source in ((values, grads), (mags, bounds.magnitudes)):
                target.update(
                    {
                        p + key: arr
                        for key, arr in _unpack(
                            self.lay,
                            source[p + "Wx"],
                            source[p + "Wh"],
                            source[p + "b"],
                            grads=True,
                        ).items()
                    }
                )
                if self.states:
                    target[p + "h0"], target[p + "c0"] = source[p + "h0"], source[p + "c0"]
        if self.model:
            for target, source in ((values, grads), (mags, bounds.magnitudes)):
                W = source["fc.W"]
                target["fc.W"] = np.ascontiguousarray(W.T) if self.subject.head_transposed else W
                target["fc.b"] = source["fc.b"].reshape(np.shape(params["fc.b"]))
        return values, mags, bounds.steps

    # the user's code ----------------------------------------------------------------------

    def run(self, params: Mapping[str, Array], x: Array, upstream: Array) -> Run:
        copies = {name: np.array(value, copy=True) for name, value in params.items()}
        try:
            result = self.subject.run(copies, x.copy(), upstream.copy())
        except gradcheck.GradcheckError:
            raise
        except Exception as exc:
            raise gradcheck.UserCodeError(
                f"running {self.subject.label} raised {type(exc).__name__}: {exc}", during="run"
            ) from exc
        return self._validate(result, params, x)

    def _validate(self, result: object, params: Mapping[str, Array], x: Array) -> Run:
        who = self.subject.label
        if not isinstance(result, Run):
            raise gradcheck.InvalidOutputError(
                f"the run function of {who} must return lstm_ref.Run(outputs, grads), got "
                f"{type(result).__name__}"
            )
        N, T, D = x.shape
        expected: dict[str, tuple[int, ...]] = {"loss": ()} if self.model else {"h": (N, T, self.H)}
        for k in range(self.L):
            expected[f"layer{k}.hT"] = expected[f"layer{k}.cT"] = (N, self.H)
        outputs = {}
        for name, value in result.outputs.items():
            if name not in expected:
                raise gradcheck.InvalidOutputError(
                    f"{who} returned the output {name!r}; the outputs are {sorted(expected)}"
                )
            arr = np.asarray(value)
            if arr.shape != expected[name]:
                raise gradcheck.InvalidOutputError(
                    f"{who} returned {self.display(name)} of shape {arr.shape}, expected "
                    f"{expected[name]}"
                )
            outputs[name] = arr
        needed = "loss" if self.model else "h"
        if needed not in outputs:
            raise gradcheck.InvalidOutputError(f"{who} did not return the output {needed!r}")
        grads = {}
        missing = [self.display(n) for n in params if n not in result.grads]
        if missing:
            raise gradcheck.InvalidGradientError(f"{who} returned no gradient for {missing}")
        for name, value in result.grads.items():
            shape = (N, T, D) if name == "x" else np.shape(params.get(name, ()))
            if name != "x" and name not in params:
                raise gradcheck.InvalidGradientError(
                    f"{who} returned a gradient for {name!r}, which is not a parameter"
                )
            arr = np.asarray(value)
            if arr.shape != shape:
                raise gradcheck.InvalidGradientError(
                    f"{who} returned the gradient of {self.display(name)} with shape "
                    f"{arr.shape}, expected {shape}"
                )
            if arr.dtype.kind not in "fiu":
                raise gradcheck.InvalidGradientError(
                    f"{who} returned the gradient of {self.display(name)} with dtype "
                    f"{arr.dtype}, expected a real float array"
                )
            grads[name] = arr
        return Run(outputs, grads)


def _problem(subject: object, N: int | None) -> _Problem:
    if not isinstance(subject, LSTMSubject):
        raise gradcheck.InvalidArgumentError(
            f"Expected an lstm_ref.LSTMSubject (built by lstm_ref.adapters), but got "
            f"{type(subject).__name__}"
        )
    try:
        lay = get_layout(subject.layout)
    except Exception as exc:
        raise gradcheck.InvalidArgumentError(f"subject.layout: {exc}") from None
    params = dict(subject.params)
    numbered = [_LAYER_NAME.fullmatch(n) for n in params]
    layers = sorted({int(m[1]) for m in numbered if m is not None})
    L = len(layers)
    if layers != list(range(L)) or L == 0:
        raise gradcheck.InvalidArgumentError(
            f"the parameters of {subject.label} must be layer0.* .. layer{{L-1}}.*, got "
            f"layers {layers}"
        )
    weights, extras = [], []
    states = "layer0.h0" in params
    for name, match in zip(params, numbered, strict=True):
        key = match[2] if match is not None else ""
        in_layer = match is not None and (key in lay.keys or key in ("h0", "c0"))
        in_head = name in ("fc.W", "fc.b") and subject.head is not None
        if in_layer or in_head:
            weights.append(name)
        else:
            extras.append(name)
    for k in range(L):
        for key in (*lay.keys, *(("h0", "c0") if states else ())):
            if f"layer{k}.{key}" not in params:
                raise gradcheck.InvalidArgumentError(
                    f"{subject.label} has no parameter layer{k}.{key} (layout {lay.name})"
                )
    arrays = [np.asarray(params[n]) for n in weights]
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) != 1 or next(iter(dtypes)) not in (np.float32, np.float64):
        raise gradcheck.InvalidArgumentError(
            f"the LSTM parameters of {subject.label} must all be float32 or all float64, got "
            f"{sorted(map(str, dtypes))}"
        )
    dtype = next(iter(dtypes))
    try:
        D, H = lay.sizes({key: params[f"layer0.{key}"] for key in lay.keys})
        for k in range(1, L):
            Dk, Hk = lay.sizes({key: params[f"layer{k}.{key}"] for key in lay.keys})
            if (Dk, Hk) != (H, H):
                raise gradcheck.InvalidArgumentError(
                    f"layer {k} of {subject.label} has D={Dk}, H={Hk}; above layer 0 both must "
                    f"be layer 0's H={H}"
                )
    except gradcheck.GradcheckError:
        raise
    except Exception as exc:
        raise gradcheck.InvalidArgumentError(f"the weights of {subject.label}: {exc}") from None
    if states:
        N_states = int(np.shape(params["layer0.h0"])[0])
        if N is not None and N_states != N:
            raise gradcheck.InvalidArgumentError(
                f"N={N} but the initial states of {subject.label} have N={N_states} rows"
            )
        N = N_states
    C = 0
    if subject.head is not None:
        if "fc.W" not in params or "fc.b" not in params:
            raise gradcheck.InvalidArgumentError(f"the model {subject.label} has no fc.W, fc.b")
        W = np.asarray(params["fc.W"])
        if W.ndim != 2 or W.shape[1 if subject.head_transposed else 0] != H:
            want = "(C, H)" if subject.head_transposed else "(H, C)"
            raise gradcheck.InvalidArgumentError(
                f"the output weight {subject.name('fc.W')} has shape {W.shape}, expected "
                f"{want} with H={H}"
            )
        C = W.shape[0 if subject.head_transposed else 1]
        if np.size(params["fc.b"]) != C:
            raise gradcheck.InvalidArgumentError(
                f"the output bias {subject.name('fc.b')} has shape {np.shape(params['fc.b'])}, "
                f"expected C={C} entries"
            )
    return _Problem(subject, lay, L, D, H, C, N or 3, dtype, weights, extras, states)


def _data(problem: _Problem, T: int, seed: int) -> tuple[Array, Array]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((problem.N, T, problem.D)).astype(problem.dtype)
    if not problem.model:
        return x, rng.standard_normal((problem.N, T, problem.H)).astype(problem.dtype)
    shape = (problem.N,) if problem.subject.head == "last" else (problem.N, T)
    if problem.subject.objective == "softmax":
        return x, rng.integers(0, problem.C, size=shape)
    return x, rng.standard_normal((*shape, problem.C)).astype(problem.dtype)


def _bounds(problem: _Problem, mags: Mapping[str, Array]) -> dict[str, Array]:
    eps = float(np.finfo(problem.dtype).eps)
    k = ROUNDING[problem.dtype.name]
    tiny = float(np.finfo(problem.dtype).tiny)
    return {name: k * eps * m + tiny for name, m in mags.items()}


def _mismatches(
    run: Run, values: Mapping[str, Array], bounds: Mapping[str, Array]
) -> dict[str, Array]:
    out = {}
    for group in (run.outputs, run.grads):
        for name, value in group.items():
            if name in values:
                with np.errstate(invalid="ignore"):
                    err = np.abs(np.asarray(value, dtype=np.float64) - values[name])
                out[name] = ~(err <= bounds[name])
    return out


def _annotations(problem: _Problem, names: list[str]) -> dict[str, object]:
    """Axis names and groups for the compared names (normal names)."""
    out: dict[str, object] = {}
    for name in names:
        if name == "h":
            out[name] = {"axes": ["batch", "time", "hidden"], "group": "forward"}
        elif name == "loss":
            out[name] = {"axes": [], "group": "forward"}
        elif name.endswith((".hT", ".cT")):
            out[name] = {"axes": ["batch", "hidden"], "group": "forward"}
        elif name == "x":
            out[name] = {"axes": ["batch", "time", "input"], "group": "input"}
        elif name == "fc.W":
            axes = ["class", "hidden"] if problem.subject.head_transposed else ["hidden", "class"]
            out[name] = {"axes": axes, "group": "fc"}
        elif name == "fc.b":
            shape = np.shape(problem.subject.params["fc.b"])
            out[name] = {
                "axes": ["class" if s == problem.C else None for s in shape],
                "group": "fc",
            }
        else:
            layer, key = name.split(".", 1)
            group = f"layer {int(layer[5:])}"
            if key in ("h0", "c0"):
                out[name] = {"axes": ["batch", "hidden"], "group": group}
            else:
                out[name] = {"axes": list(problem.lay.param(key).axes), "group": group}
    return out


def _finding(located: Located) -> Finding:
    # read off exact differences from the reference, not inferred from a pattern
    return Finding(
        kind=FindingKind(located.kind),
        confidence=Confidence.EXACT,
        input=located.input,
        summary=located.summary,
        hint=located.hint,
        evidence=located.evidence,
        score=located.score,
    )


def check_against(
    lstm: LSTMSubject,
    *,
    N: int | None = None,
    T: int = 4,
    seed: int = 0,
    fd: str = "auto",
    **options: Any,
) -> CheckResult:
    """Run a hand-written LSTM against lstm_ref: outputs, exact gradients, and where they differ.

    Parameters
    ----------
    lstm : LSTMSubject
        The LSTM layer, stack or model under test, usually from ``lstm_ref.adapters``
        (:func:`~lstm_ref.adapters.stepwise`, :func:`~lstm_ref.adapters.sequence`,
        :func:`~lstm_ref.adapters.model`). Its own parameter values are used.
    N, T : int
        Batch size (default 3, or the rows of the initial states it takes) and sequence
        length of the random data.
    seed : int
        Seeds the data (inputs, upstream gradient or targets) and the finite-difference check.
    fd : {"auto", "all", "none"}
        Finite differences of the user's own function: ``"auto"`` checks the parameters the
        reference does not know and, when the forward pass differs from the reference's,
        every parameter; ``"all"`` every parameter; ``"none"`` nothing. Parameters checked
        both ways appear twice, the second time named ``"<name> (fd)"``.
    **options
        gradcheck options of the finite-difference check (``method``, ``mode``, ``budget``,
        ``progress``...; see :class:`gradcheck.CheckOptions`).

    Returns
    -------
    gradcheck.CheckResult
        ``method="reference"``; one input per compared array: the forward outputs
        (``"h (forward)"``, ``"loss (forward)"``, ``"hT (forward)"``...), every parameter's
        gradient under the user's name, and ``"x"``; findings locate differences by gate,
        time step and layer.

    Raises
    ------
    gradcheck.InvalidArgumentError
        For a subject that is not an LSTMSubject, an unknown layout, inconsistent shapes or
        dtypes, or bad options.
    gradcheck.UserCodeError
        When the user's code raises (chained as ``__cause__``).
    gradcheck.InvalidOutputError, gradcheck.InvalidGradientError
        When it returns outputs or gradients of the wrong names or shapes.

    Examples
    --------
    >>> import numpy as np
    >>> import lstm_ref
    >>> from lstm_ref import LSTMSubject, Run
    >>> from lstm_ref.oracle import check_against
    >>> rng = np.random.default_rng(0)
    >>> params = {"layer0.Wx": rng.normal(size=(3, 8)), "layer0.Wh": rng.normal(size=(2, 8)),
    ...           "layer0.b": np.zeros(8)}
    >>> def run(p, x, dh):  # the reference itself, in the normal form
    ...     h, cache = lstm_ref.lstm_forward(x, np.zeros((x.shape[0], 2)), *p.values())
    ...     dx, _, dWx, dWh, db, _ = lstm_ref.lstm_backward(dh, cache)
    ...     return Run({"h": h}, {"layer0.Wx": dWx, "layer0.Wh": dWh, "layer0.b": db, "x": dx})
    >>> result = check_against(LSTMSubject(run, params, "packed"))
    >>> result.passed, result.method, list(result.inputs)
    (True, 'reference', ['h (forward)', 'layer0.Wx', 'layer0.Wh', 'layer0.b', 'x'])
    """
    start = time.perf_counter()
    if fd not in FD_MODES:
        raise gradcheck.InvalidArgumentError(
            f"fd must be one of {', '.join(map(repr, FD_MODES))}, got fd={fd!r}"
        )
    for name, value, low in (("T", T, 1), ("seed", seed, 0)) + (
        (("N", N, 1),) if N is not None else ()
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise gradcheck.InvalidArgumentError(
                f"Expected an integer >= {low} for {name}, but got {name}={value!r}"
            )
    problem = _problem(lstm, N)
    params = {name: np.asarray(value) for name, value in lstm.params.items()}
    x, upstream = _data(problem, T, seed)
    values, mags, steps = problem.reference(params, x, upstream)
    run = problem.run(params, x, upstream)
    bounds = _bounds(problem, mags)
    calls = 1

    compared = [n for n in run.outputs if n in values]
    compared += [n for n in params if n in problem.weights]
    if "x" in run.grads:
        compared.append("x")
    user = {**run.outputs, **run.grads}
    display = {n: problem.display(n) for n in compared}

    own: list[Finding] = []

    def explain(inputs: Mapping[str, InputResult]) -> list[Finding]:
        nonlocal calls
        masks = {n: inputs[display[n]].status == gradcheck.Status.MISMATCH for n in compared}
        sweep = None
        if T > 1:
            sweep = Sweep(first=None)
            for tau in range(1, T):
                xs = np.ascontiguousarray(x[:, :tau])
                up = upstream
                if not problem.model or problem.subject.head == "every":
                    up = np.ascontiguousarray(upstream[:, :tau])
                v, m, _ = problem.reference(params, xs, up)
                shorter = problem.run(params, xs, up)
                calls += 1
                bad = _mismatches(shorter, v, _bounds(problem, m))
                if any(mask.any() for mask in bad.values()):
                    sweep = Sweep(
                        first=tau,
                        gates=gate_table(problem.lay, bad, problem.L, problem.D, problem.H),
                        outputs=any(bad[n].any() for n in bad if n in shorter.outputs),
                    )
                    break
        ctx = Context(
            layout=problem.lay,
            L=problem.L,
            D=problem.D,
            H=problem.H,
            N=problem.N,
            T=T,
            user={n: np.asarray(user[n]) for n in compared},
            reference={n: values[n] for n in compared},
            masks=masks,
            steps=steps,
            display=problem.display,
            sweep=sweep,
        )
        own.extend(_finding(found) for found in locate(ctx))
        return own

    eps = float(np.finfo(problem.dtype).eps)
    layers = f"{problem.L} layer{'s' if problem.L > 1 else ''}"
    notes = [
        f"compared with lstm_ref ({problem.lay.name} layout, {layers}, N={problem.N} T={T} "
        f"D={problem.D} H={problem.H}{f' C={problem.C}' if problem.model else ''}, "
        f"{problem.dtype.name}): 'analytic' is the value under test, 'numeric' the reference's, "
        f"the threshold {ROUNDING[problem.dtype.name]:g} * eps * (magnitude of the terms), "
        f"eps = {eps:.3g}"
    ]
    exact = gradcheck.check_reference(
        {display[n]: user[n] for n in compared},
        {display[n]: values[n] for n in compared},
        {display[n]: bounds[n] for n in compared},
        estimates={display[n]: eps * mags[n] for n in compared},
        annotations={display[n]: a for n, a in _annotations(problem, compared).items()},
        explain=explain,
        notes=notes,
        calls=1,
        backward_calls=1,
        options={"reference": "lstm_ref", "layout": problem.lay.name, "N": problem.N, "T": T,
                 "seed": seed, "fd": fd, "rounding_factor": ROUNDING[problem.dtype.name]},
    )  # fmt: skip
    # the generic diagnosis reads a forward output like a gradient (a scalar loss always
    # has a "constant ratio"): its findings there say nothing
    kept = tuple(f for f in exact.findings if f in own or not f.input.endswith(_FORWARD))
    exact = replace(
        exact, calls=calls, backward_calls=calls, wall_time=time.perf_counter() - start,
        findings=kept,
    )  # fmt: skip

    forward_differs = any(not exact.inputs[display[n]].passed for n in compared if n in run.outputs)
    fd_names = list(problem.extras)
    if fd == "all" or (fd == "auto" and forward_differs):
        fd_names = list(params)
    if not fd_names:
        return exact
    fd_result = _finite_differences(problem, params, x, upstream, fd_names, seed, options)
    note = (
        f"checked by finite differences ({fd_result.method}, mode {fd_result.mode_used}): "
        + ", ".join(fd_result.inputs)
    )
    return gradcheck.merge_results(exact, fd_result, notes=[note])


def _finite_differences(
    problem: _Problem,
    params: Mapping[str, Array],
    x: Array,
    upstream: Array,
    names: list[str],
    seed: int,
    options: Mapping[str, Any],
) -> CheckResult:
    """gradcheck.check_loss on the user's own function, for the parameters ``names``."""
    shown = {n: problem.display(n) + (_FD if n in problem.weights else "") for n in params}
    back = {label: n for n, label in shown.items()}
    dh = None if problem.model else np.asarray(upstream, dtype=np.float64)

    def loss_fn(p: dict[str, Array]) -> tuple[float, dict[str, Array]]:
        normal = {back[label]: value for label, value in p.items()}
        run = problem.run(normal, x, upstream)
        if dh is None:
            value = float(np.asarray(run.outputs["loss"], dtype=np.float64))
        else:
            value = math.fsum((np.asarray(run.outputs["h"], dtype=np.float64) * dh).ravel())
        return value, {shown[n]: run.grads[n] for n in normal}

    annotations = {
        shown[n]: a
        for n, a in _annotations(problem, [n for n in params if n in problem.weights]).items()
    }
    opts = {"seed": seed, **options, "annotations": annotations}
    return gradcheck.check_loss(
        loss_fn, {shown[n]: params[n] for n in params}, wrt=[shown[n] for n in names], **opts
    )
