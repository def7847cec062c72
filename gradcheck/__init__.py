"""gradcheck: a finite-difference gradient checker that points at the bug.

Check a layer's analytic gradients against numerical ones with a verdict you can trust: the
threshold comes from the numerical method's own error estimate, not from a fixed tolerance, and a
mismatch is confirmed by Richardson extrapolation before it is declared.

Examples
--------
>>> import numpy as np
>>> import gradcheck
>>> result = gradcheck.check_grad(lambda x: float(np.sum(np.sin(x))), lambda x: (np.cos(x),),
...                               {"x": np.linspace(-1, 1, 4)})
>>> result.passed
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._annotations import Annotation, AxisInfo
    from ._api import (
        CheckOptions,
        check_grad,
        check_gradgrad,
        check_hvp,
        check_jvp,
        check_layer,
        check_loss,
        check_module,
        check_vjp,
    )
    from ._bundle import Bundle, Replay, replay, save_bundle
    from ._errors import (
        ComplexStepError,
        ExecutorError,
        GradcheckError,
        GradientCheckFailure,
        InputMutationError,
        InvalidArgumentError,
        InvalidGradientError,
        InvalidOutputError,
        MissingDependencyError,
        NondeterminismError,
        NonFiniteError,
        UserCodeError,
    )
    from ._reference import check_reference, merge_results
    from ._report import report, write_report
    from ._result import (
        CheckResult,
        Confidence,
        DirectionCheck,
        ElementCheck,
        Finding,
        FindingKind,
        InputResult,
        Status,
    )

__version__ = "0.1.0"

# Public names are imported on first use (PEP 562), so that ``import gradcheck`` (and the pytest
# plugin, which every pytest session of an environment with gradcheck installed loads) is cheap.
_SOURCES = {
    "._annotations": ("Annotation", "AxisInfo"),
    "._api": (
        "CheckOptions",
        "check_grad",
        "check_gradgrad",
        "check_hvp",
        "check_jvp",
        "check_layer",
        "check_loss",
        "check_module",
        "check_vjp",
    ),
    "._bundle": ("Bundle", "Replay", "replay", "save_bundle"),
    "._errors": (
        "ComplexStepError",
        "ExecutorError",
        "GradcheckError",
        "GradientCheckFailure",
        "InputMutationError",
        "InvalidArgumentError",
        "InvalidGradientError",
        "InvalidOutputError",
        "MissingDependencyError",
        "NondeterminismError",
        "NonFiniteError",
        "UserCodeError",
    ),
    "._reference": ("check_reference", "merge_results"),
    "._report": ("report", "write_report"),
    "._result": (
        "CheckResult",
        "Confidence",
        "DirectionCheck",
        "ElementCheck",
        "Finding",
        "FindingKind",
        "InputResult",
        "Status",
    ),
}
_WHERE = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = [
    "Annotation",
    "AxisInfo",
    "Bundle",
    "CheckOptions",
    "CheckResult",
    "ComplexStepError",
    "Confidence",
    "DirectionCheck",
    "ExecutorError",
    "ElementCheck",
    "Finding",
    "FindingKind",
    "GradcheckError",
    "GradientCheckFailure",
    "InputMutationError",
    "InputResult",
    "InvalidArgumentError",
    "InvalidGradientError",
    "InvalidOutputError",
    "MissingDependencyError",
    "NonFiniteError",
    "NondeterminismError",
    "Replay",
    "Status",
    "UserCodeError",
    "check_grad",
    "check_gradgrad",
    "check_hvp",
    "check_jvp",
    "check_layer",
    "check_loss",
    "check_module",
    "check_reference",
    "check_vjp",
    "replay",
    "merge_results",
    "report",
    "save_bundle",
    "write_report",
]


#: submodules imported on first access (``gradcheck.torch`` after ``import gradcheck``): each
#: imports its framework, which plain ``import gradcheck`` must not
_SUBMODULES = ("torch", "jax")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'gradcheck' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
