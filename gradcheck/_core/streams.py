"""Random streams of a check, keyed so that they cannot coincide with the caller's data.

Users draw their data with ``np.random.default_rng(seed)`` for small seeds; a cotangent drawn the
same way would equal an input (``dout == x``), and a backward pass that uses ``x`` where it should
use ``dout``, or a transposed square weight gradient (``x.T @ x`` is symmetric), would pass. Every
stream here is a child of ``SeedSequence(seed)`` with a spawn key made of a purpose tag and a hash
of the input names: a different sequence from any ``default_rng(seed)`` or its ``spawn()``
children, and still reproducible from ``seed``.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

#: purpose tags of the streams (the first word of each spawn key)
PURPOSES = {
    "cotangents": 0x67636F74,
    "directions": 0x67646972,
    "analytic": 0x67616E61,
    "nearby": 0x676E6561,
}


def stream(seed: int, purpose: str, names: Sequence[str]) -> np.random.Generator:
    """The generator of ``purpose`` for a check of inputs ``names`` seeded with ``seed``."""
    key = zlib.crc32("\x1f".join(names).encode("utf-8", "surrogatepass"))
    return np.random.default_rng(
        np.random.SeedSequence(entropy=seed, spawn_key=(PURPOSES[purpose], key))
    )


def collinear(a: np.ndarray, b: np.ndarray, limit: float = 0.99) -> bool:
    """Whether ``a`` and ``b`` (same size, at least 2 elements) point along one line."""
    if a.size != b.size or a.size < 2:
        return False
    fa = np.asarray(a, dtype=np.float64).ravel()
    fb = np.asarray(b, dtype=np.complex128 if np.iscomplexobj(b) else np.float64).ravel()
    na, nb = float(np.linalg.norm(fa)), float(np.linalg.norm(fb))
    if na == 0 or nb == 0 or not np.isfinite(nb):
        return False
    return abs(complex(np.vdot(fa, fb))) > limit * na * nb
