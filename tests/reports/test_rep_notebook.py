"""How a result shows in a notebook: IPython's display formatter finds HTML and Markdown."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
import rep_helpers as H

from gradcheck._report._notebook import MAX_ROWS

formatters = pytest.importorskip("IPython.core.formatters")


class _Cells(HTMLParser):
    """The text of every table row, and whether the markup is well nested."""

    def __init__(self):
        super().__init__()
        self.rows, self.row, self.cell, self.stack = [], None, None, []

    def handle_starttag(self, tag, attrs):
        if tag not in ("br",):
            self.stack.append(tag)
        if tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        assert self.stack.pop() == tag, f"</{tag}> closes something else"
        if tag in ("td", "th"):
            self.row.append(self.cell)
            self.cell = None
        elif tag == "tr":
            self.rows.append(self.row)

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def _display(result):
    data, _ = formatters.DisplayFormatter().format(result)
    return data


def _rows(html):
    parser = _Cells()
    parser.feed(html)
    parser.close()
    assert parser.stack == []
    return parser.rows


@pytest.mark.parametrize("make", list(H.ALL.values()), ids=list(H.ALL))
def test_display_formatter_finds_compact_html_and_markdown(make):
    result = make()
    data = _display(result)
    assert {"text/plain", "text/html", "text/markdown"} <= set(data)
    html = data["text/html"]
    assert len(html) < 8000  # compact: no image, no page
    assert "<img" not in html
    assert "<script" not in html
    rows = _rows(html)
    assert rows[0][0] == "input"
    names = [row[0] for row in rows[1:] if len(row) > 1]
    assert names == list(result.inputs)
    verdict = "gradcheck passed" if result.passed else "gradcheck FAILED"
    assert verdict in html
    assert data["text/markdown"].startswith("### ✅" if result.passed else "### ❌")
    # the plain repr is one short line, not the dataclass with every array
    assert len(data["text/plain"]) < 300
    assert "\n" not in data["text/plain"]


def test_failed_input_row_names_the_verdict_and_breakdown():
    html = _display(H.failing_block())["text/html"]
    rows = {row[0]: row for row in _rows(html) if len(row) > 1}
    assert rows["w"][-1] == "FAIL 6"
    assert rows["b"][-1] == "ok"
    assert "w by gate: i " in html
    excess = H.failing_block().inputs["w"].worst.excess
    assert f"f {excess:.2g} FAIL 6/6" in html


def test_text_is_escaped():
    html = _display(H.with_finding())["text/html"]
    assert "<b>bold</b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "Look at the forget gate" in html


def test_many_inputs_show_failed_ones_and_a_count_of_the_rest():
    import numpy as np

    import gradcheck as gc

    n = MAX_ROWS + 15
    inputs = {f"p{k}": np.full(2, 0.1 * k) for k in range(n)}

    def fn(*xs):
        return float(sum(np.sum(x**2) for x in xs))

    def grad(*xs):
        return tuple(2 * x + (0.5 if k == n - 1 else 0.0) for k, x in enumerate(xs))

    result = gc.check_grad(fn, grad, inputs)
    html = _display(result)["text/html"]
    names = [row[0] for row in _rows(html)[1:]]
    assert len(names) == MAX_ROWS
    assert names[-1] == f"p{n - 1}"  # the failed input is shown although it comes last
    assert "and 15 more inputs that passed" in html
