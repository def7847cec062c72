"""Per-thread scratch buffers reused from call to call.

The large temporaries of one forward or backward pass (the input projection, the
pre-activation gradients of all steps, ...) die at the end of the call. Allocating them
afresh each time makes the kernel map and zero new pages, one fault per 4 KiB: for the
benchmark's (N, T, D, H) = (32, 50, 128, 128) layer that was about a sixth of the run
time. Each thread therefore keeps the last array it used under each name and hands it out
again when the shape and dtype match (a call with other shapes replaces it, so at most
one array per name is held). Scratch arrays never leave the call that takes them:
results and cached arrays are always fresh.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ._types import Array

__all__ = ["scratch"]


class _Buffers(threading.local):
    def __init__(self) -> None:
        self.arrays: dict[str, Array] = {}


_LOCAL = _Buffers()


def scratch(name: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Array:
    """An uninitialised array for temporary use, reused by later calls in this thread.

    The caller must not let it escape: the next request of ``name`` returns the same
    memory.
    """
    arr = _LOCAL.arrays.get(name)
    if arr is None or arr.shape != shape or arr.dtype != dtype:
        arr = np.empty(shape, dtype=dtype)
        _LOCAL.arrays[name] = arr
    return arr
