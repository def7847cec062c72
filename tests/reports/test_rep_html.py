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


def _red_pixels(rgba):
    """Strongly red pixels left of the colour bar (which spans the whole scale)."""
    rgba = rgba[:, : int(0.7 * rgba.shape[1])]
    r, g, b = rgba[..., 0], rgba[..., 1], rgba[..., 2]
    return int(np.sum(r - np.maximum(g, b) > 0.25))


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
    assert _red_pixels(w) > 100
    assert _red_pixels(b) == 0
    assert failing_html.index('id="failed"') < failing_html.index('id="passed"')


def test_text_is_escaped(failing_html):
    assert "my &lt;layer&gt; &amp; co" in failing_html
    assert "<b>bold</b>" not in failing_html
    assert "&lt;b&gt;bold&lt;/b&gt;" in failing_html
    assert "Likely causes" in failing_html
    assert "Look at the forget gate&#39;s derivative." in failing_html
    assert "confidence high, score 0.90" in failing_html


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
    assert widths[1] == 100.0
    assert all(w < 50 for w in widths[:1] + widths[2:])


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
    (marks,) = fig.axes[0].collections  # crosses of a fixed size over cells too small for them
    assert len(marks.get_offsets()) == result.inputs["w"].mismatches
    assert tuple(marks.get_facecolor()[0][:3]) == (0.0, 0.0, 0.0)
    html = gc.report(result, "html")
    assert note in html
    ((_, img),) = _images(html)
    assert _red_pixels(img) > 0


def test_passing_report(tmp_path):
    path = gc.write_report(H.passing(), tmp_path / "ok.html")
    html = path.read_text(encoding="utf-8")
    assert '<div class="banner ok"' in html
    assert "gradcheck passed" in html
    assert 'id="failed"' not in html
    ((_, img),) = _images(html)
    assert _red_pixels(img) == 0


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
