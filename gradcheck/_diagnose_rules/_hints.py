"""The hints of the diagnosis, as data: one plain-language template per pattern.

Rules pick a template by key and fill in the names and numbers with :func:`hint`; the templates
use ``str.format`` fields. A field spelled with a capital letter (``{Block}``) is the same value
with its first letter capitalised, for the start of a sentence; input names are never
capitalised. Every hint is one or two sentences ending with a full stop.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_HINTS: dict[str, str] = {
    # zeros
    "zero.group": (
        "Every input of {groups} gets a zero gradient: no gradient reaches {these} at all. The "
        "upstream gradient is not passed into it (dropped, or replaced by zeros, before its "
        "backward pass runs)."
    ),
    "zero.never": (
        "A gradient that is never accumulated: initialised to zero and never added to, returned "
        "before the loop that fills it, or accumulated into a copy instead of the returned array."
    ),
    "unmasked": (
        "The gradient flows where the forward pass blocks it: a mask applied in the forward pass "
        "(dropout, padding, a causal or attention mask, ReLU's x > 0) is missing from the "
        "backward pass."
    ),
    "zeroed": (
        "The gradient is cut off where the forward pass lets it through: a mask or branch in the "
        "backward pass that the forward pass does not have (ReLU's mask on a leaky ReLU, a clip "
        "applied to the wrong elements), or the contribution of those elements left out."
    ),
    # constant ratios
    "ratio.N": (
        "A sum where a mean belongs: the loss averages over the batch but this gradient was not "
        "divided by N (the 1/N of the mean is missing from the loss gradient)."
    ),
    "ratio.1/N": (
        "A mean over the batch where a sum belongs: this gradient was divided by N once too "
        "often (np.mean over the batch axis in the backward pass, or 1/N applied twice)."
    ),
    "ratio.T": (
        "A sum over time where a mean belongs: the loss averages over the time steps but this "
        "gradient was not divided by T."
    ),
    "ratio.1/T": (
        "A mean over time where a sum belongs: this gradient averages the per-step "
        "contributions instead of summing them (or divides by T twice)."
    ),
    "ratio.N*T": (
        "The loss averages over batch and time but this gradient was divided by neither N nor T."
    ),
    "ratio.1/(N*T)": (
        "A mean over batch and time where a sum belongs: this gradient was divided by N*T once "
        "too often."
    ),
    "ratio.size": (
        "Too large by {name} = {value}: the forward pass divides by {name} (a mean over {name} "
        "elements, a scale 1/{name}) and this gradient does not."
    ),
    "ratio.1/size": (
        "Too small by {name} = {value}: this gradient divides by {name} where the forward pass "
        "does not (a mean where a sum belongs), or divides by it twice."
    ),
    "ratio.sqrt": (
        "Off by a factor sqrt({name}): a scale such as 1/sqrt({name}) (attention's 1/sqrt(d)) is "
        "applied in the forward pass and left out of the backward pass, or applied twice."
    ),
    "ratio.2": (
        "Twice the true gradient: a term counted twice (accumulated in two places), or the "
        "derivative of a square taken as 2x where the loss has a factor 1/2."
    ),
    "ratio.1/2": (
        "Half the true gradient: a factor 2 is missing (the derivative of x**2 taken as x), or "
        "one of two equal contributions is left out."
    ),
    "ratio.-1": (
        "The sign is flipped: the gradient of the negated loss, a residual taken as "
        "(target - prediction), or a subtraction where an addition belongs."
    ),
    "ratio.other": (
        "A constant factor {value} is wrong: a scale, a normalisation or a hyper-parameter "
        "multiplied into the gradient (or missing from it)."
    ),
    # a ratio that varies but stays on one side of 1
    "partial.below": (
        "Part of the gradient is missing: a term left out of a sum (a sum over only some of the "
        "time steps or rows, a carry through time dropped, one of two paths into the same "
        "variable left out), or, less often, a factor between 0 and 1 applied once too often."
    ),
    "partial.above": (
        "The gradient is too large everywhere by a varying factor: a factor between 0 and 1 "
        "missing from the product (an activation derivative, a gate value, a normalisation), "
        "or a term counted twice."
    ),
    # relations between inputs
    "relation.exchanged": (
        "The gradients of {a} and {b} are returned in the wrong order (or stored under each "
        "other's names); same-shaped arrays let it pass every shape check."
    ),
    "relation.one_way": (
        "{a}'s gradient is {b}'s: the right formula applied to the wrong operand (a line copied "
        "from {b}'s gradient, or {b}'s gradient returned in its place)."
    ),
    "relation.groups": (
        "The gradients of {first} and {second} are exchanged: each is stored under the other's "
        "name or index (a loop over groups counting the wrong way, k where L-1-k belongs)."
    ),
    "copy.one_way": (
        "{a}'s gradient is {b}'s: it is computed by {b}'s line (a copy-paste slip where the "
        "line for {a} reuses {b}'s delta or operand), or {b}'s array is returned in its place."
    ),
    "copy.both": (
        "One of the two is computed by the other's line: a copy-paste slip where the line for "
        "one gradient reuses the other's delta or operand."
    ),
    "transposed": (
        "A transposed gradient: x.T @ dy written as dy.T @ x, or a formula for column vectors "
        "pasted into row-vector code; square arrays let it through every shape check."
    ),
    "reversed": (
        "An index runs the wrong way: a kernel flipped (a convolution written where the forward "
        "pass computes a cross-correlation, or the reverse), or a loop that stores step t at "
        "position T-1-t."
    ),
    # labelled blocks
    "blocks.swapped": (
        "{First} and {second} are exchanged: the backward pass writes each one's gradient where "
        "the other's belongs (the {axis} order of the backward pass or of the gradient layout "
        "differs from the forward's)."
    ),
    "blocks.zero_path": (
        "No gradient reaches {blocks}: blocks that share an upstream quantity all get nothing, "
        "so a term of the chain rule into that shared quantity is missing (a path from an "
        "output into an intermediate state never added)."
    ),
    "block.zero": (
        "{Block} never gets its gradient: the block is left at zero (a missing assignment or "
        "accumulation for that block)."
    ),
    "block.copied_numeric": (
        "{Block}'s gradient is copied from {source}'s: a copy-paste slip where the line for "
        "{block} reuses {source}'s delta."
    ),
    "block.copied_analytic": (
        "A copy-paste slip: the line for one of {first} and {second} reuses the other's delta, "
        "so both get the same gradient."
    ),
    "block.slip": (
        "A slip specific to {block}: its local derivative (the activation derivative or the "
        "factor multiplying its delta) is wrong while the shared parts of the backward pass are "
        "right; smaller errors elsewhere are where its gradient flows on."
    ),
    # elements, slices and time steps
    "elements": (
        "A slip confined to these elements: a repeated index whose contributions are not all "
        "added (x[idx] += v keeps one of the repeats; np.add.at adds them all), a special case "
        "or off-by-one at a boundary, or one term written for the wrong index."
    ),
    "slice": (
        "A slip confined to these indices of {axis}: an off-by-one or a special case in a loop "
        "over that axis, a part of a packed array computed with the wrong formula, or repeated "
        "indices whose contributions are not all added (np.add.at adds them all)."
    ),
    "time.last": (
        "Only the last step is wrong: the code for the final step differs (the initial upstream "
        "gradient, the output head applied at the last step only)."
    ),
    "time.all-but-last": (
        "Right at the last step and wrong before it: what is carried back from step t+1 to step "
        "t is missing or wrong (the gradient of a recurrent state carried through time)."
    ),
    "time.first": (
        "Only the first step is wrong: the handling of the initial state (a t == 0 special case, "
        "h0 or c0) is wrong."
    ),
    "time.start": (
        "The early steps are wrong and the late ones right: a carry through time that breaks "
        "partway, or a loop over steps that stops early."
    ),
    "time.end": (
        "The late steps are wrong and the early ones right: a loop over steps that starts late, "
        "or a per-step contribution added only from some step on."
    ),
    # groups, weights and biases
    "group.only": (
        "The mistake is in what differs for {group}: a special case for the first or last group "
        "(what it reads as input, whether it receives the upstream gradient) or an index "
        "computed from the group number."
    ),
    "weight_bias.short": (
        "{bias} sums the same deltas and is right, so the deltas are right and {weight} combines "
        "them wrongly with its inputs: either it sums over only some of the steps or rows (a "
        "partial sum, e.g. only the last time step's delta instead of every step's), or each "
        "delta is paired with the wrong operand (the state at step t instead of t-1). Weight "
        "data cannot tell the two apart; its size points to the first."
    ),
    "weight_bias.operand": (
        "{bias} sums the same deltas and is right, so the deltas are right and {weight} combines "
        "them wrongly with its inputs: either each delta is paired with the wrong operand (the "
        "state at step t instead of t-1, another layer's input, x where the normalised x "
        "belongs), or it sums over only some of the steps or rows (a partial sum). Weight data "
        "cannot tell the two apart; its size points to the first."
    ),
    # the error spreads
    "spread.many": (
        "An error that spreads over everything upstream of some point, with no simpler pattern, "
        "is what a missing or wrong term of the chain rule does (a carry through time or between "
        "layers dropped, a second path into the same variable left out, a wrong local "
        "derivative), and also what an upstream gradient passed down over only some of the "
        "steps or rows does (a head that passes down only the last step's gradient); several "
        "independent mistakes can look the same. Look between the right inputs and the wrong "
        "ones."
    ),
    "spread.one": (
        "The mistake is on the path to {name} alone, and most of its gradient is right: a term "
        "of {name}'s gradient is missing or wrong (a quantity treated as a constant although it "
        "depends on {name}, such as a mean or a variance; a wrong local derivative), or "
        "{name}'s own line pairs the upstream gradient with the wrong operand (x where the "
        "normalised x belongs)."
    ),
}

#: every hint template, by key (read-only)
HINTS: Mapping[str, str] = MappingProxyType(_HINTS)


def hint(key: str, **fields: str) -> str:
    """The hint ``key`` with its fields filled in (and their capitalised ``{Field}`` forms)."""
    upper = {k[0].upper() + k[1:]: v[:1].upper() + v[1:] for k, v in fields.items()}
    return HINTS[key].format(**fields, **upper)
