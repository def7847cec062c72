"""The HTML report: self-contained, escaped, one heatmap per checked input, marks drawn."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys

import numpy as np
import pytest
import rep_helpers as H

import gradcheck as gc
from gradcheck._report._heatmap import heatmap_figure

mpl_image = pytest.importorskip("matplotlib.image")
pytest.importorskip("jinja2")

IMG = re.compile(
    r'<img class="heatmap" alt="([^"]*)" width="(\d+)" height="(\d+)" '
    r'src="data:image/png;base64,([^"]+)"'
)


def _images(html):
    """(alt text, RGBA array) of every heatmap in the page."""
    out = []
    for alt, width, height, data in IMG.findall(html):
        png = base64.b64decode(data, validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        rgba = mpl_image.imread(io.BytesIO(png), format="png")
        # rendered at twice the displayed size, for high-density screens
        assert rgba.shape[:2] == (2 * int(height), 2 * int(width))
        out.append((alt, rgba))
    return out


def _grid(rgba, r):
    """The pixels of the heatmap's grid (not the colour bar or legend, which span the scale)."""
    fig, _ = heatmap_figure(r)
    box = fig.axes[0].get_position()
    height, width = rgba.shape[:2]
    rows = slice(round((1 - box.y1) * height) + 2, round((1 - box.y0) * height) - 2)
    cols = slice(round(box.x0 * width) + 2, round(box.x1 * width) - 2)
    return rgba[rows, cols]


def _red_pixels(rgba):
    """Strongly red or orange pixels: the colours over the threshold."""
    r, b = rgba[..., 0], rgba[..., 2]
    return int(np.sum((r - b > 0.3) & (r > 0.6)))


def _legend(fig):
    return [t.get_text() for t in fig.legends[0].get_texts()] if fig.legends else []


@pytest.fixture(scope="module")
def failing_html():
    return gc.report(H.with_finding(), "html", title="my <layer> & co")


def test_page_is_self_contained(failing_html):
    assert failing_html.startswith("<!DOCTYPE html>")
    assert not re.search(r"https?://", failing_html)
    assert "<script" not in failing_html
    assert "<link" not in failing_html
    srcs = re.findall(r'src="([^"]*)"', failing_html)
    assert srcs
    assert all(s.startswith("data:image/png;base64,") for s in srcs)


def test_one_heatmap_per_checked_input_failed_first(failing_html):
    images = _images(failing_html)
    assert [alt.split()[5] for alt, _ in images] == ["w", "b"]  # the failed input comes first
    (_, w), (_, b) = images
    assert w.shape[2] == 4
    assert w.shape[0] > 50
    assert w.shape[1] > 200
    # red where the error exceeds its threshold: only in the failing input's heatmap
    result = H.with_finding()
    assert _red_pixels(_grid(w, result.inputs["w"])) > 100
    assert _red_pixels(_grid(b, result.inputs["b"])) == 0
    assert failing_html.index('id="failed"') < failing_html.index('id="passed"')


def test_text_is_escaped(failing_html):
    assert "my &lt;layer&gt; &amp; co" in failing_html
    assert "<b>bold</b>" not in failing_html
    assert "&lt;b&gt;bold&lt;/b&gt;" in failing_html
    assert "Likely causes" in failing_html
    assert "Look at the forget gate&#39;s derivative." in failing_html
    assert "confidence high, score 0.90" in failing_html


def test_a_finding_names_its_alternative_kind():
    page = gc.report(H.with_two_kinds(), "html")
    assert '<span class="kind">time_range or wrong_input</span>' in page


def test_input_names_are_escaped():
    x = np.linspace(-1, 1, 3)
    result = gc.check_grad(
        lambda v: float(np.sum(v**2)), lambda v: (2 * v,), {"<script>alert(1)</script>": x}
    )
    html = gc.report(result, "html")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_breakdown_table_and_bars(failing_html):
    table = failing_html[failing_html.index('<table class="breakdown">') :]
    table = table[: table.index("</table>")]
    labels = re.findall(r"<tr class=\"(failed)?\">\s*<td>(\w)</td>", table)
    assert labels == [("", "i"), ("failed", "f"), ("", "o"), ("", "g")]
    widths = [float(w) for w in re.findall(r'style="width: ([\d.]+)%"', table)]
    (threshold_at,) = set(map(float, re.findall(r'<i style="left: ([\d.]+)%">', table)))
    # the scale runs from 1e-4 to the decade above the worst error
    worst = H.with_finding().inputs["w"].worst.excess
    top = 4 + np.ceil(np.log10(worst))
    assert threshold_at == pytest.approx(100 * 4 / top, abs=0.1)
    assert widths[1] == pytest.approx(100 * (4 + np.log10(worst)) / top, abs=0.5)
    assert all(w < threshold_at for w in widths[:1] + widths[2:])


def test_marks_on_mismatches_and_kinks():
    r = H.failing_block().inputs["w"]
    fig, note = heatmap_figure(r)
    assert note == ""
    ax = fig.axes[0]
    (marks,) = [c for c in ax.collections if c.get_label() == "mismatch"]
    cells = {(int(row), int(col)) for col, row in marks.get_offsets()}
    assert cells == set(r.mismatch_indices())
    k = H.with_kink().inputs["x"]
    fig, _ = heatmap_figure(k)
    (kinks,) = [c for c in fig.axes[0].collections if c.get_label() == "kink"]
    assert {(int(row), int(col)) for col, row in kinks.get_offsets()} == set(k.kinks)
    # block boundaries of the gate axis: 3 vertical lines between 4 blocks
    assert len([line for line in ax.get_lines() if line.get_xdata()[0] in (1.5, 3.5, 5.5)]) == 3


def test_unchecked_elements_are_grey_and_directional_inputs_have_no_image():
    html = gc.report(H.sampled_failing(), "html")
    ((_, img),) = _images(html)
    grey = np.all(np.abs(img[..., :3] - 0xD9 / 255) < 0.01, axis=-1)
    assert grey.sum() > 1000  # 43 of 48 cells unchecked
    html = gc.report(H.directional_failing(), "html")
    assert _images(html) == []
    assert "Checked along 3 random directions only" in html


def test_large_inputs_pool_blocks_and_keep_the_worst():
    # more columns and rows than the image has pixels: each pixel is the worst of a block, so a
    # few sampled mismatches among a million elements still show in red
    w = np.random.default_rng(6).standard_normal((530, 700))
    result = gc.check_grad(
        H._sin_sum, lambda w: (np.cos(w) + 0.5,), {"w": w}, mode="sample", samples=6
    )
    fig, note = heatmap_figure(result.inputs["w"])
    assert note == "each pixel shows the worst of a block of 2 x 2 elements"
    # squares of a fixed size over cells too small for a cross, filled with the cell's colour
    (marks,) = fig.axes[0].collections
    assert len(marks.get_offsets()) == result.inputs["w"].mismatches
    for r, _, b, _ in marks.get_facecolor():
        assert r > 0.6
        assert r - b > 0.3  # over the threshold: red/orange, not black
    html = gc.report(result, "html")
    assert note in html
    ((_, img),) = _images(html)
    assert _red_pixels(_grid(img, result.inputs["w"])) > 0


def test_passing_report(tmp_path):
    path = gc.write_report(H.passing(), tmp_path / "ok.html")
    html = path.read_text(encoding="utf-8")
    assert '<div class="banner ok"' in html
    assert "gradcheck passed" in html
    assert 'id="failed"' not in html
    ((_, img),) = _images(html)
    assert _red_pixels(_grid(img, H.passing().inputs["w"])) == 0


def test_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "jinja2", None)
    with pytest.raises(ImportError, match=r'pip install "gradcheck\[report\]"') as info:
        gc.report(H.passing(), "html")
    assert isinstance(info.value, gc.GradcheckError)


def test_rendering_does_not_touch_pyplot():
    code = (
        "import sys, numpy as np, gradcheck as gc\n"
        "r = gc.check_grad(lambda x: float(np.sum(x**2)), lambda x: (3 * x,), {'x': np.ones(3)})\n"
        "html = gc.report(r, 'html')\n"
        "assert 'data:image/png;base64,' in html\n"
        "print(sorted(m for m in ('matplotlib.pyplot', 'matplotlib', 'jinja2') "
        "if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "['jinja2', 'matplotlib']"


def _graded():
    """Columns 6-11 of w wrong by 1e-8 ... 1e2: errors from below the threshold to ~1e10 x it."""
    w = np.random.default_rng(0).standard_normal((6, 12))

    def grad(w):
        g = np.cos(w)
        g[:, 6:] += np.logspace(-8, 2, 6)
        return (g,)

    return gc.check_grad(H._sin_sum, grad, {"w": w}).inputs["w"]


def _cell_colours(r):
    fig, _ = heatmap_figure(r)
    image = fig.axes[0].images[0]
    return fig, image.to_rgba(image.get_array())[..., :3]


def test_severity_stays_visible_far_over_the_threshold():
    r = _graded()
    excess = np.abs(r.analytic - r.numeric)[0, 7:] / r.threshold[0, 7:]
    assert excess.min() > 10
    assert excess.max() > 1e9  # far past the old scale's end at 1e4
    fig, colours = _cell_colours(r)
    row = [tuple(c) for c in colours[0, 7:]]
    assert len(set(row)) == len(row)  # one colour per decade, none saturated
    darkness = [-sum(c) for c in row]
    assert darkness == sorted(darkness)  # darker as the error grows
    bar = fig.axes[1]
    assert bar.get_ylim()[1] >= np.log10(excess.max())


def test_failing_cells_keep_their_colour_under_the_crosses():
    r = H.failing_block().inputs["w"]
    png = gc._report._heatmap.heatmap_png(r).png
    rgba = mpl_image.imread(io.BytesIO(png), format="png")
    grid = _grid(rgba, r)
    rows, cols = r.shape
    height, width = grid.shape[0] / rows, grid.shape[1] / cols
    for i, j in r.mismatch_indices():
        cell = grid[int(i * height) : int((i + 1) * height), int(j * width) : int((j + 1) * width)]
        corner = cell[2:6, 2:6, :3].reshape(-1, 3)  # off the cross
        assert np.all(corner[:, 0] > 0.6)
        assert np.all(corner[:, 0] - corner[:, 2] > 0.3)  # red/orange
        assert cell[..., :3].max(axis=-1).mean() > 0.5  # not a dark cell


def test_the_legend_names_every_colour_and_mark_shown():
    cases = {
        "failing_block": (
            H.failing_block().inputs["w"],
            ["below threshold", "over threshold", "mismatch", "block boundary"],
        ),
        "passing": (H.passing().inputs["w"], ["below threshold", "block boundary"]),
        "sampled": (
            H.sampled_failing().inputs["w"],
            ["over threshold", "not checked", "mismatch"],
        ),
        "kink": (H.with_kink().inputs["x"], ["below threshold", "kink"]),
    }
    for name, (r, expected) in cases.items():
        fig, _ = heatmap_figure(r)
        assert _legend(fig) == expected, name


def test_an_infinite_excess_is_drawn_at_the_top_and_said():
    w = np.random.default_rng(7).standard_normal((3, 4))
    result = gc.check_grad(H._sin_sum, lambda w: (np.cos(w) + 1e-3,), {"w": w}, atol=0.0, rtol=0.0)
    r = result.inputs["w"]
    assert np.all(r.threshold == 0)
    fig, note = heatmap_figure(r)
    assert note == "12 elements with a zero threshold and a nonzero error (infinitely over it) " + (
        "drawn at the top of the scale"
    )
    html = gc.report(result, "html")
    assert note in html


def test_evidence_is_a_readable_table(failing_html):
    start = failing_html.index('<table class="evidence">')
    table = failing_html[start : failing_html.index("</table>", start)]
    rows = re.findall(r"<tr><th>([^<]*)</th><td class=\"num\">([^<]*)</td></tr>", table)
    assert rows == [("block", "f"), ("ratio", "2"), ("nan", "nan"), ("items", "1, 2")]


def test_evidence_of_a_real_diagnosis_reads_as_words_and_numbers():
    from gradcheck._format import evidence_items

    evidence = {
        "relative_error_by_block": {"i": 0.6642365964196512, "f": 8.713627975113792e-10},
        "exact": True,
        "inputs": ["layer0.b", "layer1.b"],
        "residual_in_place": [1.1095937187364078, 1.109593718866995],
        "pairs": [["a", "b"], ["c", "d"]],
    }
    assert evidence_items(evidence) == [
        ("relative error by block", "i: 0.6642, f: 8.714e-10"),
        ("exact", "yes"),
        ("inputs", "layer0.b, layer1.b"),
        ("residual in place", "1.11, 1.11"),
        ("pairs", "(a, b), (c, d)"),
    ]


def test_labels_that_look_like_math_are_drawn_as_written():
    # matplotlib reads $...$ as math: an unmatched or invalid one used to make drawing fail
    w = np.ones((2, 4))
    notes = {"w": {"axes": ["$x^$", ("$\\frac$", ("$a", "b$$"))]}}
    result = gc.check_grad(
        lambda w: float(np.sum(w**2)), lambda w: (2 * w + 1,), {"w": w}, annotations=notes
    )
    fig, _ = heatmap_figure(result.inputs["w"])
    fig.canvas.draw()  # raises on invalid math text
    assert fig.axes[0].get_ylabel() == "\\$x^\\$"
    assert "data:image/png;base64," in gc.report(result, "html")
