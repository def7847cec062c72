"""Exceptions raised by gradcheck.

Every error a caller can cause derives from :class:`GradcheckError`, so one ``except`` clause
catches them all. Errors about arguments also derive from the matching built-in (``TypeError`` or
``ValueError``), and a failed check raises :class:`GradientCheckFailure`, an ``AssertionError``,
so pytest shows it as a test failure rather than an error.
"""

from __future__ import annotations

__all__ = [
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
]


def _show(value: object, limit: int = 80) -> str:
    """``repr(value)`` for an error message, shortened to about ``limit`` characters; never raises
    (an int beyond Python's limit on printed digits, a user object whose ``__repr__`` fails)."""
    try:
        text = repr(value)
    except Exception:
        if isinstance(value, int):
            return f"<an int of {value.bit_length()} bits>"
        return f"<a {type(value).__name__} whose repr() fails>"
    if len(text) > limit:
        text = f"{text[: max(limit - 25, 10)]}...{text[-20:]}"
    return text


class GradcheckError(Exception):
    """Base class of every error gradcheck raises.

    Every gradcheck error pickles with its message and attributes, so that an error raised in a
    worker process (``executor=`` a process pool) reaches the caller as itself.
    """

    def __reduce__(self) -> tuple[object, ...]:
        # Exception's own __reduce__ calls cls(*args) with the message alone, which fails for
        # the errors whose constructor takes more (during, names, difference, result)
        state = dict(self.__dict__)
        if isinstance(self, ImportError):  # kept in slots, not in __dict__
            state.update(name=self.name, path=self.path)
        return _rebuild, (type(self), self.args, state)


def _rebuild(
    cls: type[GradcheckError], args: tuple[object, ...], state: dict[str, object]
) -> GradcheckError:
    """Unpickle a gradcheck error without calling its constructor (see ``__reduce__``)."""
    error = cls.__new__(cls, *args)
    error.args = args
    for key, value in state.items():
        setattr(error, key, value)
    return error


class InvalidArgumentError(GradcheckError, ValueError):
    """An argument or option given to a check function is not what it expects.

    Raised before any user code runs. Also a ``ValueError`` (and, for wrong types, the message says
    which type was expected).
    """


class InvalidOutputError(GradcheckError, ValueError):
    """The function being checked returned something of the wrong kind (count, type, shape)."""


class InvalidGradientError(GradcheckError, ValueError):
    """The analytic gradients returned by the user's backward pass are malformed.

    Wrong count, a non-array, a wrong shape or dtype, or missing or extra names.
    """


class NonFiniteError(GradcheckError, ValueError):
    """NaN or infinity in an input, an output, a gradient or a perturbed evaluation."""


class NondeterminismError(GradcheckError):
    """Two evaluations of the function at the same point gave different results.

    Finite differences of a non-deterministic function measure its noise, not its slope, so no
    gradient is judged. ``difference`` holds the absolute difference observed.
    """

    def __init__(self, message: str, difference: float) -> None:
        super().__init__(message)
        self.difference = difference


class InputMutationError(GradcheckError):
    """The function being checked changed one of its input arrays in place.

    ``names`` lists the inputs that changed; ``during`` says which call changed them.
    """

    def __init__(self, message: str, names: tuple[str, ...], during: str) -> None:
        super().__init__(message)
        self.names = names
        self.during = during


class ComplexStepError(GradcheckError):
    """``method="complex"`` was asked for, but the function does not support complex input."""


class UserCodeError(GradcheckError):
    """The user's forward, backward or loss function raised an exception.

    The original exception is chained as ``__cause__``; ``during`` says which call raised.
    """

    def __init__(self, message: str, during: str) -> None:
        super().__init__(message)
        self.during = during


class GradientCheckFailure(GradcheckError, AssertionError):
    """Raised by :meth:`CheckResult.raise_for_failure` when analytic and numeric gradients differ.

    The message is a readable table of the failing inputs; ``result`` is the full result.
    """

    def __init__(self, message: str, result: object) -> None:
        super().__init__(message)
        self.result = result


class ExecutorError(GradcheckError, RuntimeError):
    """The executor given with ``executor=`` failed: it refused work (shut down?), a worker died,
    or the function could not be loaded in a worker. The original exception is the ``__cause__``.
    """


class MissingDependencyError(GradcheckError, ImportError):
    """An optional dependency is not installed; the message names the extra that provides it."""


for _cls in (
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
):
    _cls.__module__ = "gradcheck"  # tracebacks and pytest show gradcheck.<Error>
