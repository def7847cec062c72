"""Argument checks for the public functions: dtypes, dimensions and shapes.

Every public entry point validates its arguments once, here, and then calls unchecked
internal code. Messages name the argument, what it is, and what it must be in N/T/D/H/C
terms, so that the common mistakes (a transposed weight, a batch-major/time-major mix-up,
an integer array) are obvious from the message alone.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ._errors import ArgumentError, DTypeError, ShapeError
from ._types import Array, IntArray

__all__ = [
    "SUPPORTED_DTYPES",
    "check_choice",
    "check_dims",
    "check_labels",
    "check_same_dtype",
    "check_shape",
    "float_array",
]

#: The dtypes lstm_ref computes in. Complex dtypes exist for complex-step differentiation.
SUPPORTED_DTYPES: tuple[np.dtype[Any], ...] = (
    np.dtype(np.float32),
    np.dtype(np.float64),
    np.dtype(np.complex64),
    np.dtype(np.complex128),
)


def float_array(name: str, value: object) -> Array:
    """Return ``value`` if it is a numpy array of a supported float dtype, else raise.

    Raises
    ------
    DTypeError
        If ``value`` is not an ndarray, or its dtype is integer, bool, object, float16,
        longdouble or any other unsupported dtype.
    """
    if not isinstance(value, np.ndarray):
        raise DTypeError(
            f"{name} must be a numpy array, got {type(value).__name__}; "
            f"wrap it with np.asarray({name}, dtype=np.float64)"
        )
    dtype = value.dtype
    if dtype not in SUPPORTED_DTYPES:
        if dtype.kind in "biu":
            hint = f"; cast it with {name}.astype(np.float64)"
        elif dtype.kind in "fc":
            hint = "; cast it to float64 (or float32)"
        else:
            hint = ""
        raise DTypeError(
            f"{name} has dtype {dtype}, but float arguments must be float32, float64, "
            f"complex64 or complex128{hint}"
        )
    return value


def check_same_dtype(reference: tuple[str, Array], *others: tuple[str, Array]) -> None:
    """Raise DTypeError unless every array in ``others`` has the reference array's dtype."""
    ref_name, ref = reference
    for name, arr in others:
        if arr.dtype != ref.dtype:
            raise DTypeError(
                f"{name} has dtype {arr.dtype} but {ref_name} has dtype {ref.dtype}; all "
                f"float arguments of one call must share a dtype (nothing is cast "
                f"silently): use {name}.astype({ref_name}.dtype) or the reverse"
            )


def check_dims(name: str, arr: Array, symbolic: str) -> None:
    """Raise ShapeError unless ``arr`` has one axis per letter of ``symbolic``.

    ``symbolic`` is the shape in letters, e.g. ``"(N, T, D)"`` or ``"(4H,)"``. Every axis
    must also be non-empty.
    """
    ndim = _ndim_of(symbolic)
    if arr.ndim != ndim:
        raise ShapeError(f"{name} must be {ndim}-D with shape {symbolic} but has shape {arr.shape}")
    if 0 in arr.shape:
        raise ShapeError(
            f"{name} has shape {arr.shape} with an empty axis; every axis of "
            f"{symbolic} must be at least 1"
        )


@functools.lru_cache(maxsize=64)
def _ndim_of(symbolic: str) -> int:
    return len([part for part in symbolic.strip("()").split(",") if part.strip()])


def check_shape(
    name: str, arr: Array, expected: tuple[int, ...], symbolic: str, because: str
) -> None:
    """Raise ShapeError unless ``arr.shape == expected``.

    The message reads ``"{name} has shape {shape} but {because}, so {name} must be
    {symbolic} = {expected}"``.
    """
    if arr.shape != expected:
        raise ShapeError(
            f"{name} has shape {arr.shape} but {because}, so {name} must be {symbolic} = {expected}"
        )


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise ArgumentError unless ``value`` is one of the strings in ``choices``."""
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ArgumentError(f"{name} must be one of {options}, got {value!r}")


def check_labels(
    name: str, y: object, expected: tuple[int, ...], symbolic: str, C: int, because: str
) -> IntArray:
    """Return ``y`` if it is an integer array of shape ``expected`` with values in [0, C).

    ``because`` says where the expected shape comes from, e.g. ``"scores has shape (2, 3)"``.
    """
    if not isinstance(y, np.ndarray) or y.dtype.kind not in "iu":
        kind = y.dtype if isinstance(y, np.ndarray) else type(y).__name__
        raise DTypeError(
            f"{name} must be an integer array of class labels {symbolic}, got {kind}; "
            f"for regression targets use the mse objective"
        )
    if y.shape != expected:
        raise ShapeError(
            f"{name} has shape {y.shape} but {because}, so {name} must be {symbolic} = {expected}"
        )
    if y.size and (int(y.min()) < 0 or int(y.max()) >= C):
        raise ArgumentError(
            f"{name} has labels in [{int(y.min())}, {int(y.max())}] but there are C={C} "
            f"classes, so labels must lie in [0, {C - 1}]"
        )
    return y
