"""Heatmaps of the error relative to its threshold, one per input (matplotlib Figure API, Agg).

No pyplot: each figure is a standalone :class:`matplotlib.figure.Figure` rendered to PNG bytes,
so nothing touches matplotlib's global state or needs a display.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._breakdown import excess
from .._result import InputResult, Status
from ._deps import require

#: the colour scale spans 10**-LOG_SPAN .. 10**LOG_SPAN times the threshold
LOG_SPAN = 4.0
#: largest number of elements marked individually (mismatches, kinks)
MAX_MARKERS = 4000
_PX_WIDTH = 860  # target width of the image, pixels
_PX_HEIGHT = 520  # largest height of the grid, pixels
_DPI = 100


def _grid(r: InputResult) -> tuple[NDArray[np.float64], NDArray[np.int8]]:
    """The excess and the status as 2-D arrays: rows = all axes but the last, columns = last."""
    ex = excess(r)
    status = r.status
    if ex.ndim == 0:
        return ex.reshape(1, 1), status.reshape(1, 1)
    if ex.ndim == 1:
        return ex.reshape(1, -1), status.reshape(1, -1)
    cols = ex.shape[-1]
    return ex.reshape(-1, cols), status.reshape(-1, cols)


def _axis_names(r: InputResult) -> list[str]:
    ann = r.annotation
    if ann is not None and ann.axes:
        return [a.name or f"axis {i}" for i, a in enumerate(ann.axes)]
    return [f"axis {i}" for i in range(len(r.shape))]


def heatmap_png(r: InputResult) -> bytes | None:
    """A PNG heatmap of ``log10(|analytic - numeric| / threshold)`` for one input.

    Unchecked elements are grey, mismatches marked with a cross and kinks with a circle; block
    boundaries of annotated axes are drawn. Returns None when no element was checked.
    """
    fig = heatmap_figure(r)
    if fig is None:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def heatmap_figure(r: InputResult) -> Any:
    """The :class:`matplotlib.figure.Figure` of :func:`heatmap_png` (None if nothing checked)."""
    if r.checked == 0:
        return None
    figure_mod = require("matplotlib.figure", "the HTML report")
    colors = require("matplotlib.colors", "the HTML report")
    ticker = require("matplotlib.ticker", "the HTML report")
    cm = require("matplotlib", "the HTML report").colormaps

    ex, status = _grid(r)
    n_rows, n_cols = ex.shape
    with np.errstate(divide="ignore"):
        value = np.log10(ex)
    value = np.ma.masked_invalid(np.clip(value, -LOG_SPAN, LOG_SPAN))
    value.mask = np.isnan(ex)

    cell = min(28.0, max(3.0, (_PX_WIDTH - 180) / n_cols))
    cell_y = min(cell, max(2.0, _PX_HEIGHT / n_rows))
    width = (n_cols * cell + 180) / _DPI
    height = (n_rows * cell_y + 110) / _DPI
    fig: Any = figure_mod.Figure(figsize=(width, max(height, 1.6)), dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    cmap = cm["RdBu_r"].with_extremes(bad="#d9d9d9")
    norm = colors.Normalize(vmin=-LOG_SPAN, vmax=LOG_SPAN)
    image = ax.imshow(value, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    bar = fig.colorbar(image, ax=ax, shrink=0.9 if n_rows > 4 else 1.0, pad=0.02)
    bar.set_label("log10(error / threshold)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    bar.ax.axhline(0.0, color="black", linewidth=1.0)

    bad = np.argwhere(status == Status.MISMATCH)
    kinks = np.argwhere(status == Status.KINK)
    size = max(4.0, min(60.0, (0.55 * min(cell, cell_y)) ** 2))
    if 0 < len(bad) <= MAX_MARKERS:
        ax.scatter(
            bad[:, 1], bad[:, 0], marker="x", s=size, c="white", linewidths=1.1, label="mismatch"
        )
    if 0 < len(kinks) <= MAX_MARKERS:
        ax.scatter(
            kinks[:, 1],
            kinks[:, 0],
            marker="o",
            s=size,
            facecolors="none",
            edgecolors="black",
            linewidths=1.0,
            label="kink",
        )

    names = _axis_names(r)
    _blocks(ax, r)
    ax.set_xlabel(names[-1] if names else "", fontsize=8)
    if len(names) >= 2:
        ax.set_ylabel(" × ".join(names[:-1]), fontsize=8)
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True, nbins=12))
    if n_rows > 1:
        ax.yaxis.set_major_locator(ticker.MaxNLocator(integer=True, nbins=8))
    else:
        ax.set_yticks([])
    ax.tick_params(labelsize=7)
    ax.set_xlim(-0.5, n_cols - 0.5)
    ax.set_ylim(n_rows - 0.5, -0.5)
    return fig


def _blocks(ax: Any, r: InputResult) -> None:
    """Block boundaries and labels of the labelled axes that map onto the grid's columns/rows."""
    ann = r.annotation
    if ann is None or not ann.axes:
        return
    ndim = len(r.shape)
    last = ndim - 1
    for a, info in enumerate(ann.axes):
        if info.labels is None:
            continue
        width = r.shape[a] // len(info.labels)
        if a == last:
            for b in range(1, len(info.labels)):
                ax.axvline(b * width - 0.5, color="black", linewidth=1.2)
            top = ax.secondary_xaxis("top")
            top.set_ticks([(b + 0.5) * width - 0.5 for b in range(len(info.labels))])
            top.set_xticklabels(list(info.labels), fontsize=8)
            top.tick_params(length=0)
        elif a == 0:
            stride = math.prod(r.shape[1:-1]) if ndim > 2 else 1
            rows = width * stride
            for b in range(1, len(info.labels)):
                ax.axhline(b * rows - 0.5, color="black", linewidth=1.2)
            right = ax.secondary_yaxis("right")
            right.set_ticks([(b + 0.5) * rows - 0.5 for b in range(len(info.labels))])
            right.set_yticklabels(list(info.labels), fontsize=8)
            right.tick_params(length=0)
    if ndim > 2 and r.shape[0] > 1 and (ann.axes[0].labels is None):
        stride = math.prod(r.shape[1:-1])
        for i in range(1, r.shape[0]):
            ax.axhline(i * stride - 0.5, color="white", linewidth=0.8)
