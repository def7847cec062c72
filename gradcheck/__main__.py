"""``python -m gradcheck``: the command line (see ``gradcheck --help``)."""

from __future__ import annotations

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
