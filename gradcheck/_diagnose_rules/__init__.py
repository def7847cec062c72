"""The rules of the diagnosis, one module per family; each reads the gradients and returns
candidate findings.

Every rule is generic: it knows shapes, axis names (``"time"``, ``"batch"``...), labelled blocks
(``("gate", ("i", "f", "o", "g"))``) and group labels (``"layer 1"``), never a particular model.

==================  ==========================================================================
``_zeros``          all_zero; unmasked (nonzero where the numeric gradient is zero); zeroed
``_ratio``          constant_ratio; a ratio on one side of 1 (missing_term)
``_relations``      wrong_input, copies, swapped groups, transposed, reversed
``_blocks``         labelled blocks: swapped, copied, zero, one standing out
``_slices``         wrong_elements; confinement along axes (block); time ranges
``_groups``         one group wrong; a weight wrong while its bias is right
``_spread``         the fallback: an error that spreads (missing_term)
==================  ==========================================================================

Qualities and confidences are documented in each module; ``gradcheck._diagnose`` merges and
ranks the candidates. Hints live in ``_hints`` as data.
"""

from __future__ import annotations

from collections.abc import Callable

from ._base import Candidate, Context, Grad, residual
from ._blocks import rule_blocks
from ._groups import rule_groups, rule_weight_bias
from ._ratio import rule_constant_ratio, rule_one_side
from ._relations import rule_copies, rule_relations, rule_reversed, rule_transposed
from ._slices import rule_slices, rule_time, rule_wrong_elements
from ._spread import fallback
from ._zeros import rule_all_zero, rule_unmasked, rule_zeroed

#: every rule, in the order candidates are gathered (the order breaks no tie)
RULES: tuple[Callable[[Context], list[Candidate]], ...] = (
    rule_all_zero,
    rule_unmasked,
    rule_zeroed,
    rule_constant_ratio,
    rule_copies,
    rule_relations,
    rule_transposed,
    rule_reversed,
    rule_blocks,
    rule_wrong_elements,
    rule_slices,
    rule_time,
    rule_groups,
    rule_weight_bias,
    rule_one_side,
)

__all__ = ["RULES", "Candidate", "Context", "Grad", "fallback", "residual"]
