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

from ._annotations import Annotation, AxisInfo
from ._api import CheckOptions, check_grad, check_layer, check_loss, check_module, check_vjp
from ._errors import (
    ComplexStepError,
    GradcheckError,
    GradientCheckFailure,
    InputMutationError,
    InvalidArgumentError,
    InvalidGradientError,
    InvalidOutputError,
    NondeterminismError,
    NonFiniteError,
    UserCodeError,
)
from ._report import report, write_report
from ._result import CheckResult, DirectionCheck, ElementCheck, Finding, InputResult, Status

__version__ = "0.1.0"

__all__ = [
    "Annotation",
    "AxisInfo",
    "CheckOptions",
    "CheckResult",
    "ComplexStepError",
    "DirectionCheck",
    "ElementCheck",
    "Finding",
    "GradcheckError",
    "GradientCheckFailure",
    "InputMutationError",
    "InputResult",
    "InvalidArgumentError",
    "InvalidGradientError",
    "InvalidOutputError",
    "NonFiniteError",
    "NondeterminismError",
    "Status",
    "UserCodeError",
    "check_grad",
    "check_layer",
    "check_loss",
    "check_module",
    "check_vjp",
    "report",
    "write_report",
]
