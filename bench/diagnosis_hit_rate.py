"""How often the diagnosis names the planted bug, over lstm_ref's mutant catalogue.

Run: ``python bench/diagnosis_hit_rate.py`` (about 10 s per seed and shape on one core).

For every mutant of :data:`lstm_ref.mutants.MUTANTS` it checks the whole model's loss with
:func:`gradcheck.check_loss` (all parameters, ``annotations=lstm_ref.annotations(params)``) at a
shape where the mutant shows (``N, T, L > 1``, ``D != H`` unless the mutant needs ``D == H``,
the head and objective its ``reveals`` asks for) and judges the top finding against the mutant's
planted ``finding`` (and the second kind ``bench/_judge.py``'s ``ALSO_ACCEPTED`` gives two
mutants, with its reason) and against the measured truth (the elements where the mutant's
gradients differ from the reference's), as ``bench/_judge.py`` says: *named* (a kind the finding
names is accepted, nothing contradicted), *wrong* (otherwise; counted also by confidence) or
*none*. It counts the named findings that needed the alternative a finding names beside its
kind, or the second accepted kind. Every finding, not only the top one, is checked against the
truth. Then it checks the correct model over the same seeds, every head and objective, twice:
as is (the check must pass, so no finding) and with a tolerance far below the numerical error
(``rtol=1e-12, atol=0``), which makes the check fail on rounding alone; the diagnosis must find
nothing there either.

A second table checks the mutants that have a buggy ``lstm_backward`` at the layer level, with
:func:`gradcheck.check_layer` on ``lstm_forward`` (inputs ``x, h0, Wx, Wh, b, c0``; a random
upstream gradient at every step): there the input sequence ``x`` and its time axis are visible.

Options: ``--seeds 0 1 2`` and ``--shapes 3,4,2,3,2,2 2,5,3,4,2,2`` (N,T,D,H,C,L) run more
configurations; ``--verbose`` prints every finding of every mutant.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import gradcheck
import lstm_ref as lr
from lstm_ref.mutants import MUTANTS, Mutant

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _judge import accepted_kinds, contradicted, differences, outcome, via  # noqa: E402

DEFAULT_SHAPE = (3, 4, 2, 3, 2, 2)  # N, T, D, H, C, L


def case(
    seed: int, N: int, T: int, D: int, H: int, C: int, L: int, head: str, objective: str
) -> tuple[dict[str, Any], Any, Any]:
    """Random parameters, input and target (a local generator per seed)."""
    rng = np.random.default_rng(seed)
    params = lr.init_params(rng, N=N, D=D, H=H, C=C, L=L)
    x = rng.normal(size=(N, T, D))
    if objective == "softmax":
        y = rng.integers(0, C, size=(N,) if head == "last" else (N, T))
    else:
        y = rng.normal(size=(N, C) if head == "last" else (N, T, C))
    return params, x, y


def config_for(mutant: Mutant, shape: Sequence[int]) -> tuple[dict[str, int], str, str]:
    """The shape, head and objective at which the mutant shows."""
    N, T, D, H, C, L = shape
    head = "every" if "head=every" in mutant.reveals else "last"
    objective = "mse" if "objective=mse" in mutant.reveals else "softmax"
    sizes = {"N": N, "T": T, "D": D, "H": H, "C": C, "L": L}
    if not mutant.visible(**sizes, head=head, objective=objective):
        sizes["D"] = H  # the only atom the default shape leaves false
    if not mutant.visible(**sizes, head=head, objective=objective):
        raise SystemExit(f"{mutant.name} does not show at {sizes}, head={head}")
    return sizes, head, objective


def check(
    loss: Any, seed: int, sizes: dict[str, int], head: str, objective: str, **options: Any
) -> gradcheck.CheckResult:
    params, x, y = case(seed, **sizes, head=head, objective=objective)

    def loss_fn(p: dict[str, Any]) -> Any:
        return loss(p, x, y, head=head, objective=objective)

    return gradcheck.check_loss(loss_fn, params, annotations=lr.annotations(params), **options)


GATES = ("gate", ("i", "f", "o", "g"))
LAYER_NOTES = {
    "x": {"axes": ["batch", "time", "input"], "group": "input"},
    "h0": {"axes": ["batch", "hidden"], "group": "state"},
    "Wx": {"axes": ["input", GATES], "group": "layer"},
    "Wh": {"axes": ["hidden", GATES], "group": "layer"},
    "b": {"axes": [GATES], "group": "layer"},
    "c0": {"axes": ["batch", "hidden"], "group": "state"},
}


def model_truth(
    mutant: Mutant, seed: int, sizes: dict[str, int], head: str, objective: str
) -> dict[str, np.ndarray]:
    """Per parameter, the elements where the mutant's gradient differs from the reference's."""
    params, x, y = case(seed, **sizes, head=head, objective=objective)
    ok = lr.loss(params, x, y, head=head, objective=objective)[1]
    bad = mutant.loss(params, x, y, head=head, objective=objective)[1]
    return differences(ok, bad)


def check_sequence_layer(
    mutant: Mutant | None, seed: int, shape: Sequence[int], *, like: Mutant | None = None
) -> gradcheck.CheckResult:
    """The mutant's ``lstm_backward`` against ``lstm_forward``, with ``x`` checked too.

    ``mutant=None`` checks the reference backward pass at the shape ``like`` would use.
    """
    N, T, D, H, _, _ = shape
    shown = mutant or like
    assert shown is not None
    if not shown.visible(N=N, T=T, D=D, H=H, L=1):
        D = H
    rng = np.random.default_rng(seed)
    inputs = {
        "x": rng.normal(size=(N, T, D)),
        "h0": 0.5 * rng.normal(size=(N, H)),
        "Wx": rng.normal(size=(D, 4 * H)) / np.sqrt(D),
        "Wh": rng.normal(size=(H, 4 * H)) / np.sqrt(H),
        "b": 0.5 * rng.normal(size=4 * H),
        "c0": 0.5 * rng.normal(size=(N, H)),
    }
    backward = lr.lstm_backward if mutant is None else mutant.lstm_backward
    assert backward is not None

    def forward(x: Any, h0: Any, Wx: Any, Wh: Any, b: Any, c0: Any) -> Any:
        return lr.lstm_forward(x, h0, Wx, Wh, b, c0)

    def layer_backward(dh: Any, cache: Any) -> Any:
        return backward(dh, cache)

    return gradcheck.check_layer(forward, layer_backward, inputs, annotations=LAYER_NOTES)


class Tally:
    """Outcomes of the top findings (named, wrong, none) and the contradicted findings."""

    def __init__(self) -> None:
        self.counts = {"named": 0, "wrong": 0, "none": 0}
        self.findings = self.contradicted = self.firm_wrong = 0
        self.misses: dict[str, int] = {}
        self.via = {"kind": 0, "alternative": 0, "also accepted": 0}

    def add(
        self,
        name: str,
        planted: str,
        result: gradcheck.CheckResult,
        truth: dict[str, np.ndarray],
        verbose: bool,
    ) -> None:
        top = result.findings[0] if result.findings else None
        kind = "/".join(top.kinds) if top else "-"
        said = outcome(result.findings, accepted_kinds(name, planted), truth)
        self.counts[said] += 1
        if said == "named" and top is not None:
            self.via[via(top, {planted})] += 1
        self.findings += len(result.findings)
        self.contradicted += contradicted(result.findings, truth)
        if said != "named":
            self.misses[name] = self.misses.get(name, 0) + 1
        self.firm_wrong += said == "wrong" and top is not None and top.confidence != "low"
        score = f"{top.score:.2f}" if top else "  - "
        level = f" [{top.confidence}]" if top else ""
        print(f"  {name:24s} {planted:15s} {kind:26s} {score}  {said}{level}")
        if verbose:
            for f in result.findings:
                kinds = "/".join(f.kinds)
                print(f"      {kinds} [{f.confidence}] {f.score:.2f} {f.input}: {f.summary}")

    def merge(self, other: Tally) -> None:
        for k, v in other.counts.items():
            self.counts[k] += v
        self.findings += other.findings
        self.contradicted += other.contradicted
        self.firm_wrong += other.firm_wrong
        for k, v in other.via.items():
            self.via[k] += v
        for k, v in other.misses.items():
            self.misses[k] = self.misses.get(k, 0) + v

    def line(self) -> str:
        total = sum(self.counts.values())
        named, wrong = self.counts["named"], self.counts["wrong"]
        return (
            f"named {named}/{total} = {named / total:.1%}, wrong top finding {wrong}/{total} "
            f"({self.firm_wrong} at exact or high confidence), no finding "
            f"{self.counts['none']}; {self.findings} findings, "
            f"{self.contradicted} contradicted by the measured truth; named through an "
            f"alternative {self.via['alternative']}, through the second accepted kind "
            f"{self.via['also accepted']}"
        )


def parse_shape(text: str) -> tuple[int, ...]:
    values = tuple(int(v) for v in re.split(r"[,x ]+", text.strip()))
    if len(values) != 6:
        raise argparse.ArgumentTypeError(f"a shape is N,T,D,H,C,L, got {text!r}")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--shapes", type=parse_shape, nargs="+", default=[DEFAULT_SHAPE])
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    tally = Tally()
    for shape in args.shapes:
        for seed in args.seeds:
            print(f"shape N,T,D,H,C,L = {','.join(map(str, shape))}, seed {seed}")
            print(f"  {'mutant':24s} {'planted':15s} {'top finding':26s} score  outcome")
            run = Tally()
            for name, mutant in MUTANTS.items():
                sizes, head, objective = config_for(mutant, shape)
                result = check(mutant.loss, seed, sizes, head, objective)
                truth = model_truth(mutant, seed, sizes, head, objective)
                run.add(name, mutant.finding, result, truth, args.verbose)
            print(f"  {run.line()}")
            tally.merge(run)
    print(f"overall: {tally.line()}")
    if tally.misses:
        print("not named: " + ", ".join(f"{k} ({v}x)" for k, v in sorted(tally.misses.items())))

    layer = Tally()
    for shape in args.shapes:
        for seed in args.seeds:
            print(
                f"layer level (x visible), N,T,D,H = {','.join(map(str, shape[:4]))}, seed {seed}"
            )
            for name, mutant in MUTANTS.items():
                if mutant.lstm_backward is None:
                    continue
                result = check_sequence_layer(mutant, seed, shape)
                ok = check_sequence_layer(None, seed, shape, like=mutant)
                truth = differences(
                    {k: r.analytic for k, r in ok.inputs.items()},
                    {k: r.analytic for k, r in result.inputs.items()},
                )
                layer.add(name, mutant.finding, result, truth, args.verbose)
    print(f"layer level: {layer.line()}")

    passed_findings = strict_findings = strict_failed = runs = 0
    for shape in args.shapes:
        N, T, D, H, C, L = shape
        sizes = {"N": N, "T": T, "D": D, "H": H, "C": C, "L": L}
        for seed in args.seeds:
            for head in lr.HEADS:
                for objective in lr.OBJECTIVES:
                    runs += 1
                    ok = check(lr.loss, seed, sizes, head, objective)
                    passed_findings += len(ok.findings) + (not ok.passed)
                    strict = check(lr.loss, seed, sizes, head, objective, rtol=1e-12, atol=0.0)
                    strict_failed += not strict.passed
                    strict_findings += len(strict.findings)
    print(
        f"correct code, {runs} checks: {passed_findings} failures or findings; with "
        f"rtol=1e-12 ({strict_failed} of {runs} checks fail on rounding): "
        f"{strict_findings} findings"
    )
    print(f"wall time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
