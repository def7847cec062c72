"""Type aliases shared by the lstm_ref modules."""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

__all__ = ["Array", "IntArray"]

#: A float or complex array: float32, float64, complex64 or complex128 at run time (checked
#: at the public boundary). The dtype parameter is left open because numpy's stubs do not
#: type in-place arithmetic between arrays of abstract inexact dtypes.
Array: TypeAlias = NDArray[Any]
#: An integer array (class labels).
IntArray: TypeAlias = NDArray[np.integer[Any]]
