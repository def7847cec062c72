"""Which dtypes a check differentiates: numpy's real floats and the extension floats of
``ml_dtypes`` (bfloat16 and its kin, which numpy sees as opaque 2-byte records)."""

from __future__ import annotations

from typing import Any

import numpy as np


def is_float(dtype: np.dtype[Any]) -> bool:
    """Whether ``dtype`` is a real floating type (float16/32/64, longdouble, bfloat16...)."""
    if dtype.kind == "f":
        return True
    if dtype.kind != "V" or dtype.fields is not None:
        return False
    try:  # ml_dtypes registers np.finfo for its types
        np.finfo(dtype)
    except (TypeError, ValueError):
        return False
    return True


def is_low_precision(dtype: np.dtype[Any]) -> bool:
    """Float16, bfloat16 and narrower: fewer than 12 bits of mantissa."""
    return is_float(dtype) and np.finfo(dtype).nmant < 12
