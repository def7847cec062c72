"""Heatmaps of the error relative to its threshold, one per input (matplotlib Figure API, Agg).

No pyplot: each figure is a standalone :class:`matplotlib.figure.Figure` rendered to PNG bytes,
so nothing touches matplotlib's global state or needs a display.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._breakdown import excess
from .._result import InputResult, Status
from ._deps import require

#: the colour scale spans 10**-LOG_SPAN .. 10**LOG_SPAN times the threshold
LOG_SPAN = 4.0
#: cells smaller than this (pixels) get marks of a fixed size drawn over them
MARK_CELL = 6.0
#: more mismatches (or kinks) than this are shown by their colour only
MAX_MARKS = 2000
_GRID_WIDTH = 680  # largest width of the grid, pixels
_GRID_HEIGHT = 520  # largest height of the grid, pixels
_DPI = 100  # CSS pixels per inch of the figures
#: the PNG holds SCALE x SCALE pixels per displayed pixel
SCALE = 2


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


def _pool(ex: NDArray[np.float64], fy: int, fx: int) -> NDArray[np.float64]:
    """The largest excess of each ``fy x fx`` block (NaN where no element was checked)."""
    if fy == fx == 1:
        return ex
    rows, cols = ex.shape
    padded = np.full((-(-rows // fy) * fy, -(-cols // fx) * fx), np.nan)
    padded[:rows, :cols] = ex
    blocks = padded.reshape(padded.shape[0] // fy, fy, padded.shape[1] // fx, fx)
    out: NDArray[np.float64] = np.fmax.reduce(np.fmax.reduce(blocks, axis=3), axis=1)
    return out


@dataclass(frozen=True)
class Heatmap:
    """A rendered heatmap: the PNG, its display size in CSS pixels, and a caption."""

    png: bytes
    width: int
    height: int
    note: str


def heatmap_png(r: InputResult) -> Heatmap | None:
    """A PNG heatmap of ``log10(|analytic - numeric| / threshold)`` for one input.

    Unchecked elements are grey, mismatches marked with a cross and kinks with a circle (when
    the cells are large enough to hold a mark); block boundaries of annotated axes are drawn.
    An input with more rows or columns than the image has pixels shows the worst element of
    each block of elements. The PNG holds :data:`SCALE` pixels per displayed pixel, for sharp
    text on high-density screens. Returns None when no element was checked.
    """
    drawn = heatmap_figure(r)
    if drawn is None:
        return None
    fig, note = drawn
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=SCALE * _DPI, metadata={"Software": None})
    width, height = (round(float(v) * _DPI) for v in fig.get_size_inches())
    return Heatmap(buf.getvalue(), width, height, note)


def heatmap_figure(r: InputResult) -> tuple[Any, str] | None:
    """The :class:`matplotlib.figure.Figure` of :func:`heatmap_png` and its caption."""
    if r.checked == 0:
        return None
    figure_mod = require("matplotlib.figure", "the HTML report")
    colors = require("matplotlib.colors", "the HTML report")
    ticker = require("matplotlib.ticker", "the HTML report")
    cm = require("matplotlib", "the HTML report").colormaps

    ex, status = _grid(r)
    n_rows, n_cols = ex.shape
    fy, fx = math.ceil(n_rows / _GRID_HEIGHT), math.ceil(n_cols / _GRID_WIDTH)
    pooled = _pool(ex, fy, fx)
    note = f"each pixel shows the worst of a block of {fy} x {fx} elements" if fy * fx > 1 else ""
    with np.errstate(divide="ignore"):
        value = np.log10(pooled)
    value = np.ma.masked_invalid(np.clip(value, -LOG_SPAN, LOG_SPAN))
    value.mask = np.isnan(pooled)

    # fixed margins in pixels (no layout engine: it would cost more than the drawing)
    cell = min(28.0, _GRID_WIDTH / pooled.shape[1])
    cell_y = min(cell, _GRID_HEIGHT / pooled.shape[0])
    grid_w, grid_h = pooled.shape[1] * cell, pooled.shape[0] * cell_y
    bar_h = max(grid_h, 90.0)
    gap = 12.0 + (24.0 if _row_blocks(r) else 0.0)
    left, top, bottom, right = 62.0, 26.0, 42.0, gap + 12.0 + 62.0
    width = float(math.ceil(left + grid_w + right))  # whole pixels: the PNG's size is exact
    height = float(math.ceil(top + bar_h + bottom))
    fig: Any = figure_mod.Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    ax = fig.add_axes(
        (left / width, (height - top - grid_h) / height, grid_w / width, grid_h / height)
    )
    cax = fig.add_axes(
        ((left + grid_w + gap) / width, (height - top - bar_h) / height, 12 / width, bar_h / height)
    )
    cmap = cm["RdBu_r"].with_extremes(bad="#d9d9d9")
    norm = colors.Normalize(vmin=-LOG_SPAN, vmax=LOG_SPAN)
    image = ax.imshow(
        value,
        cmap=cmap,
        norm=norm,
        aspect="auto",
        interpolation="nearest",
        extent=(-0.5, n_cols - 0.5, n_rows - 0.5, -0.5),  # axes in element indices
    )
    bar = fig.colorbar(image, cax=cax)
    bar.set_label("log10(error / threshold)", fontsize=9)
    bar.ax.tick_params(labelsize=8)
    bar.ax.axhline(0.0, color="black", linewidth=1.0)

    bad = np.argwhere(status == Status.MISMATCH)
    kinks = np.argwhere(status == Status.KINK)
    # on large cells a white cross inside each mismatching cell; on small cells (a large input)
    # a black cross of fixed size over it, so a lone mismatch among many elements still shows
    small = min(cell, cell_y) < MARK_CELL
    size = 30.0 if small else min(60.0, (0.55 * min(cell, cell_y)) ** 2)
    if len(bad) and len(bad) <= MAX_MARKS:
        ax.scatter(
            bad[:, 1],
            bad[:, 0],
            marker="x",
            s=size,
            c="black" if small else "white",
            linewidths=1.1,
            label="mismatch",
        )
    if len(kinks) and len(kinks) <= MAX_MARKS:
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
    ax.set_xlabel(names[-1] if names else "", fontsize=9)
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True, nbins=12))
    if len(r.shape) > 2:
        # rows are the first axis' entries, each a band of the middle axes: tick the bands
        stride = math.prod(r.shape[1:-1])
        every = max(1, math.ceil(r.shape[0] / 12))
        firsts = range(0, r.shape[0], every)
        ax.set_yticks([(i + 0.5) * stride - 0.5 for i in firsts])
        ax.set_yticklabels([str(i) for i in firsts])
        ax.set_ylabel(f"{names[0]} (each band: {' × '.join(names[1:-1])})", fontsize=9)
    elif n_rows > 1:
        ax.set_ylabel(names[0], fontsize=9)
        ax.yaxis.set_major_locator(ticker.MaxNLocator(integer=True, nbins=8))
    else:
        ax.set_yticks([])
    ax.tick_params(labelsize=8)
    ax.set_xlim(-0.5, n_cols - 0.5)
    ax.set_ylim(n_rows - 0.5, -0.5)
    return fig, note


def _row_blocks(r: InputResult) -> bool:
    """Whether a labelled axis maps onto the rows of the grid (its labels go on the right)."""
    ann = r.annotation
    return (
        ann is not None and len(r.shape) >= 2 and bool(ann.axes) and ann.axes[0].labels is not None
    )


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
            top.set_xticklabels(list(info.labels), fontsize=9)
            top.tick_params(length=0)
        elif a == 0:
            stride = math.prod(r.shape[1:-1]) if ndim > 2 else 1
            rows = width * stride
            for b in range(1, len(info.labels)):
                ax.axhline(b * rows - 0.5, color="black", linewidth=1.2)
            right = ax.secondary_yaxis("right")
            right.set_ticks([(b + 0.5) * rows - 0.5 for b in range(len(info.labels))])
            right.set_yticklabels(list(info.labels), fontsize=9)
            right.tick_params(length=0)
    if ndim > 2 and r.shape[0] > 1 and (ann.axes[0].labels is None):
        stride = math.prod(r.shape[1:-1])
        for i in range(1, r.shape[0]):
            ax.axhline(i * stride - 0.5, color="white", linewidth=0.8)
