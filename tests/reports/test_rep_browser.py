"""The HTML report in a real (headless) browser: it renders, every heatmap decodes.

Needs Chromium (Debian: ``apt-get install -y chromium``); skipped when it is absent.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
import rep_helpers as H

import gradcheck as gc

mpl_image = pytest.importorskip("matplotlib.image")
pytest.importorskip("jinja2")

BROWSER = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no headless Chromium (Debian: apt-get install -y chromium)"
)

# after the load event, record each image's decoded width on <body> for --dump-dom to show
PROBE = (
    "<script>window.addEventListener('load', () => document.body.setAttribute('data-images', "
    "Array.from(document.images).map(i => i.complete ? i.naturalWidth : -1).join(',')));"
    "</script>"
)


def _chromium(tmp_path, *args):
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    return subprocess.run(
        [BROWSER, *flags, *args], capture_output=True, text=True, timeout=120, check=True
    )


@pytest.fixture(scope="module")
def failing_page(tmp_path_factory):
    path = tmp_path_factory.mktemp("html") / "failing.html"
    gc.write_report(H.with_finding(), path, title="failing layer")
    return path


def test_browser_renders_every_heatmap(failing_page, tmp_path):
    probe = tmp_path / "probe.html"
    probe.write_text(
        failing_page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
        encoding="utf-8",
    )
    dom = _chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", probe.as_uri()).stdout
    widths = re.search(r'data-images="([^"]*)"', dom)
    assert widths is not None, dom[:500]
    decoded = [int(w) for w in widths.group(1).split(",")]
    assert len(decoded) == 2
    assert all(w > 100 for w in decoded)
    assert '<table id="inputs">' in dom
    assert dom.count('<section class="input failed"') == 1
    assert "Likely causes" in dom


def test_screenshot_shows_a_red_banner_for_a_failing_check(failing_page, tmp_path):
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1000,900", failing_page.as_uri())
    img = mpl_image.imread(shot)
    assert img.shape[:2] == (900, 1000)
    banner = np.median(img[30:60, 60:400, :3].reshape(-1, 3), axis=0)  # text is white
    assert np.allclose(banner, np.array([0xCF, 0x22, 0x2E]) / 255, atol=0.15), banner
