"""Reports rendered from a :class:`~gradcheck.CheckResult`: text, JSON, Markdown and HTML.

The checker itself stays silent; these functions only format a result. Text and JSON need
nothing beyond numpy; HTML needs the ``report`` extra (jinja2 and matplotlib), imported on use.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .._errors import InvalidArgumentError
from .._result import CheckResult

__all__ = ["FORMATS", "report", "write_report"]

#: the report formats
FORMATS = ("text", "json", "markdown", "html")

_SUFFIXES = {
    ".txt": "text",
    ".text": "text",
    ".log": "text",
    ".json": "json",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
}


def _renderer(format: str) -> Callable[[CheckResult, str | None], str]:
    if format == "text":
        from .._format import format_text

        return lambda result, title: format_text(result, notes=True, title=title) + "\n"
    if format == "json":
        from ._json import render_json

        return render_json
    if format == "markdown":
        from ._markdown import render_markdown

        return render_markdown
    from ._html import render_html

    return render_html


def _check(result: object, format: object) -> None:
    if not isinstance(result, CheckResult):
        raise InvalidArgumentError(
            f"Expected a gradcheck.CheckResult for result, but got result={result!r} "
            f"(type={type(result).__name__})"[:300]
        )
    if format not in FORMATS:
        raise InvalidArgumentError(
            f"format must be one of {', '.join(map(repr, FORMATS))}, got format={format!r}"
        )


def report(result: CheckResult, format: str = "text", *, title: str | None = None) -> str:
    """Render a check result as a report.

    Parameters
    ----------
    result : CheckResult
        What a ``check_*`` function returned.
    format : {"text", "json", "markdown", "html"}
        ``"text"``: the terminal table with the breakdown, likely causes and notes.
        ``"json"``: strict JSON (non-finite numbers as the strings ``"nan"``, ``"inf"``,
        ``"-inf"``) following the schema shipped as ``gradcheck/schema/report.schema.json``.
        ``"markdown"``: for CI job summaries and review comments. ``"html"``: a self-contained
        page with a heatmap per input (needs ``pip install "gradcheck[report]"``).
    title : str, optional
        What was checked, shown at the top of the report.

    Returns
    -------
    str

    Examples
    --------
    >>> import json, numpy as np
    >>> import gradcheck
    >>> result = gradcheck.check_grad(lambda x: float(np.sum(x**2)), lambda x: (2 * x,),
    ...                               {"x": np.arange(3.0)})
    >>> gradcheck.report(result).splitlines()[2].split()[:3]
    ['input', 'shape', 'checked']
    >>> data = json.loads(gradcheck.report(result, "json"))
    >>> data["schema_version"], data["passed"], data["inputs"][0]["checked"]
    ('2.3', True, 3)
    """
    _check(result, format)
    if title is not None and not isinstance(title, str):
        raise InvalidArgumentError(f"title must be a string, got title={title!r}")
    return _renderer(format)(result, title)


def format_for(path: str | os.PathLike[str], *, option: str = "format=") -> str:
    """The report format that the suffix of ``path`` asks for.

    ``option`` is how the error tells the caller to name the format instead (``--format`` on
    the command line).
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InvalidArgumentError(
            f"cannot tell the report format from the suffix of {str(path)!r}; use one of "
            f"{', '.join(sorted(_SUFFIXES))} or give {option} (one of {', '.join(FORMATS)})"
        )
    return _SUFFIXES[suffix]


def write_report(
    result: CheckResult,
    path: str | os.PathLike[str],
    format: str | None = None,
    *,
    title: str | None = None,
) -> Path:
    """Write a report of ``result`` to ``path`` (UTF-8); the format defaults to the suffix's.

    ``.txt``/``.log`` is text, ``.json`` JSON, ``.md`` Markdown and ``.html`` HTML. Parent
    directories are created. Returns the path written.

    Examples
    --------
    >>> import json, tempfile, pathlib, numpy as np
    >>> import gradcheck
    >>> result = gradcheck.check_grad(lambda x: float(np.sum(x**2)), lambda x: (2 * x,),
    ...                               {"x": np.arange(3.0)})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = gradcheck.write_report(result, pathlib.Path(tmp) / "check.json")
    ...     json.loads(path.read_text())["passed"]
    True
    """
    if not isinstance(path, str | os.PathLike):
        raise InvalidArgumentError(
            f"Expected a file path for path, but got path={path!r} (type={type(path).__name__})"
        )
    fmt = format_for(path) if format is None else format
    _check(result, fmt)
    text = report(result, fmt, title=title)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
