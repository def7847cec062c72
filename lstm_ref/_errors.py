"""Exceptions raised by lstm_ref when it is called with bad arguments.

All of them derive from :class:`LSTMRefError`, so ``except LSTMRefError`` catches every
validation failure of the package, while each also derives from the built-in exception a
caller would expect (``ValueError`` for shapes and values, ``TypeError`` for dtypes).
"""

from __future__ import annotations

__all__ = ["ArgumentError", "DTypeError", "LSTMRefError", "ShapeError"]


class LSTMRefError(Exception):
    """Base class of the errors raised by lstm_ref's argument validation."""


class ShapeError(LSTMRefError, ValueError):
    """An array has the wrong number of dimensions or the wrong shape.

    The message names the argument, its shape, and the expected shape in N/T/D/H/C/L terms,
    for example ``Wx has shape (3, 8) but x has D=4 features and h0 has H=2 units, so Wx
    must be (D, 4H) = (4, 8)``.
    """


class DTypeError(LSTMRefError, TypeError):
    """An array is not a supported floating dtype, or two float arguments disagree.

    Supported dtypes are float32, float64, complex64 and complex128; integer, bool and
    object arrays are refused for float arguments, and all float arguments of one call must
    share a single dtype (nothing is cast silently).
    """


class ArgumentError(LSTMRefError, ValueError):
    """An argument has an invalid value that is not about shape or dtype.

    For example an unknown layout name, a missing or unexpected parameter name, a class
    label outside ``[0, C)``, or torch bias gradients that disagree.
    """
