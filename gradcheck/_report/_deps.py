"""Lazy imports of optional dependencies, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from .._errors import MissingDependencyError

#: the extra of the package that provides each optional module
EXTRAS = {"matplotlib": "report", "jinja2": "report", "tqdm": "progress"}


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra = EXTRAS.get(top, "report")
        raise MissingDependencyError(
            f"{what} needs {top}, which is not installed; install it with "
            f'pip install "gradcheck[{extra}]"'
        ) from exc
