"""The checking core (private): evaluation, numerics, methods, modes and their orchestration.

Layout (see docs/architecture.md):

``evaluator``  owns the user's function, the working copies of the inputs and the call count;
``numerics``   pure numerical primitives on explicit values (estimates, error models, verdicts);
``state``      the state of one check, through which methods and modes work;
``lines``      the batches of lines (elements, random directions) finite differences evaluate;
``methods``    the numerical methods, registered by name (central, richardson, complex);
``modes``      the modes, registered by name (full, sample, directional, auto);
``results``    per-input results assembled from the recorded verdicts;
``check``      the orchestrator, :func:`run_check`.
"""

from __future__ import annotations

from .check import run_check
from .evaluator import check_picklable
from .methods import METHODS
from .modes import MODES
from .state import Budget, Options

__all__ = ["METHODS", "MODES", "Budget", "Options", "check_picklable", "run_check"]
