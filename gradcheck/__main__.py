"""``python -m gradcheck``: the command line (see ``gradcheck --help``)."""

from __future__ import annotations

from ._cli import main

raise SystemExit(main())
