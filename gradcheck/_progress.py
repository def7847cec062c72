"""Progress bars fed by the checker's ``progress(done, total)`` callback.

``progress=True`` in a ``check_*`` call becomes a :class:`ProgressBar` (tqdm, the ``progress``
extra), closed when the check ends; the command line uses the same bar, and :class:`Hint` when
tqdm is missing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Any

from ._report._deps import require

__all__ = ["Hint", "ProgressBar", "close", "progress_option"]

#: what the command line prints once when a check runs long in a terminal without tqdm
HINT = (
    "gradcheck: this check takes a while; "
    'pip install "gradcheck[progress]" shows a progress bar (--no-progress hides this note)'
)


class ProgressBar:
    """A tqdm bar of function calls, its total following the check's current plan."""

    def __init__(
        self, stream: IO[str] | None = None, *, delay: float = 0.0, what: str, owned: bool = False
    ) -> None:
        tqdm = require("tqdm.auto", what)
        #: opened by ``progress=True`` for one check, which closes it
        self.owned = owned
        self.bar: Any = tqdm.tqdm(
            total=0,
            unit="call",
            file=stream if stream is not None else sys.stderr,
            delay=delay,
            leave=False,
            dynamic_ncols=True,
        )

    def __call__(self, done: int, total: int) -> None:
        if total != self.bar.total:
            self.bar.total = total
            self.bar.refresh()
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


class Hint:
    """Says :data:`HINT` once on ``stream`` when a check has run longer than ``delay`` seconds."""

    def __init__(self, stream: IO[str], delay: float) -> None:
        self.stream = stream
        self.deadline = time.monotonic() + delay
        self.said = False

    def __call__(self, done: int, total: int) -> None:
        if not self.said and time.monotonic() >= self.deadline:
            self.said = True
            print(HINT, file=self.stream, flush=True)

    def close(self) -> None:
        """Nothing to close (for symmetry with :class:`ProgressBar`)."""


def progress_option(value: object) -> Callable[[int, int], None] | None:
    """The ``progress`` option: None/False for none, True for a tqdm bar, or a callable."""
    if value is None or value is False:
        return None
    if value is True:
        return ProgressBar(what="progress=True (a progress bar)", owned=True)
    if not callable(value):
        raise TypeError  # the caller words the error, with the option's name
    fn: Callable[[int, int], None] = value
    return fn


def close(progress: object) -> None:
    """Close a bar that ``progress=True`` opened (a callable passed in is left alone)."""
    if isinstance(progress, ProgressBar) and progress.owned:
        progress.close()
