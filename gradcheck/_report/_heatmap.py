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

#: the colour scale starts at 10**LOG_FLOOR times the threshold (smaller errors share its colour)
LOG_FLOOR = -4.0
#: the colour scale ends at the decade above the worst error, and at least at 10**MIN_TOP
MIN_TOP = 1.0
#: colours from 10**LOG_FLOOR up to the threshold (blues), then from the threshold to the top
#: of the scale (oranges to red: no near-black, so a failing cell never looks like a line or mark)
BELOW = ("#08306b", "#2171b5", "#6baed6", "#c6dbef")
ABOVE = ("#fdbe85", "#fd8d3c", "#e6550d", "#b30000")
#: elements not checked element-wise
UNCHECKED = "#d9d9d9"
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


def _plain(text: str) -> str:
    """``text`` drawn as written: a ``$`` would start matplotlib's math mode (and an unmatched
    one makes drawing fail)."""
    return text.replace("$", r"\$")


def _axis_names(r: InputResult) -> list[str]:
    ann = r.annotation
    if ann is not None and ann.axes:
        return [_plain(a.name or f"axis {i}") for i, a in enumerate(ann.axes)]
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


def scale_top(r: InputResult) -> float:
    """The top of the input's colour scale: ``log10`` of the decade above its worst finite excess.

    The scale is not clipped at a fixed multiple of the threshold, so an error 1e4 times over the
    threshold and one 1e9 times over it get different colours.
    """
    ex = excess(r)
    finite = ex[np.isfinite(ex)]
    worst = float(np.max(finite)) if finite.size else 0.0
    if worst <= 1.0:
        return MIN_TOP
    return max(MIN_TOP, float(math.ceil(math.log10(worst))))


def scale_position(excess: float, top: float) -> float:
    """Where ``excess`` sits on a colour scale from 10**LOG_FLOOR to 10**top, from 0 to 1."""
    if math.isnan(excess) or excess <= 0:
        return 0.0
    value = min(max(math.log10(excess), LOG_FLOOR), top) if math.isfinite(excess) else top
    return (value - LOG_FLOOR) / (top - LOG_FLOOR)


def _colormap(colors: Any, top: float) -> Any:
    """Blues below the threshold, oranges to red above it, the break where log10(excess) = 0."""
    split = -LOG_FLOOR / (top - LOG_FLOOR)
    below = np.linspace(0.0, split, len(BELOW))
    above = np.linspace(split, 1.0, len(ABOVE))
    below[-1] = above[0] = split  # the same break on both sides, whatever the rounding
    above[-1] = 1.0
    stops = [*zip(below.tolist(), BELOW, strict=True), *zip(above.tolist(), ABOVE, strict=True)]
    cmap = colors.LinearSegmentedColormap.from_list("gradcheck_excess", stops, N=1024)
    return cmap.with_extremes(bad=UNCHECKED)


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
    effects = require("matplotlib.patheffects", "the HTML report")

    ex, status = _grid(r)
    n_rows, n_cols = ex.shape
    fy, fx = math.ceil(n_rows / _GRID_HEIGHT), math.ceil(n_cols / _GRID_WIDTH)
    pooled = _pool(ex, fy, fx)
    notes = (
        [f"each pixel shows the worst of a block of {fy} x {fx} elements"] if fy * fx > 1 else []
    )
    top = scale_top(r)
    infinite = int(np.sum(np.isinf(ex)))
    if infinite:
        notes.append(
            f"{infinite} element{'s' if infinite > 1 else ''} with a zero threshold and a nonzero "
            "error (infinitely over it) drawn at the top of the scale"
        )
    with np.errstate(divide="ignore"):
        value = np.log10(pooled)
    value = np.ma.masked_invalid(np.clip(value, LOG_FLOOR, top))
    value.mask = np.isnan(pooled)

    bad = np.argwhere(status == Status.MISMATCH)
    kinks = np.argwhere(status == Status.KINK)
    blocks = _has_blocks(r)
    cmap = _colormap(colors, top)
    entries = _legend_entries(value, pooled, bad, kinks, blocks)

    # fixed margins in pixels (no layout engine: it would cost more than the drawing)
    cell = min(28.0, _GRID_WIDTH / pooled.shape[1])
    cell_y = min(cell, _GRID_HEIGHT / pooled.shape[0])
    grid_w, grid_h = pooled.shape[1] * cell, pooled.shape[0] * cell_y
    bar_h = max(grid_h, 200.0)  # room for the colour bar's label
    gap = 12.0 + (24.0 if _row_blocks(r) else 0.0)
    left, top_margin, right = 62.0, 26.0, gap + 12.0 + 86.0
    width = float(math.ceil(left + grid_w + right))  # whole pixels: the PNG's size is exact
    # the legend goes under the grid's axis label, left of the colour bar
    per_row = max(1, int((left + grid_w - 8) // _LEGEND_ENTRY))
    legend_rows = math.ceil(len(entries) / per_row)
    legend_top = top_margin + grid_h + 40.0
    height = float(math.ceil(max(top_margin + bar_h + 24.0, legend_top + 18.0 * legend_rows + 6.0)))
    fig: Any = figure_mod.Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    ax = fig.add_axes(
        (left / width, (height - top_margin - grid_h) / height, grid_w / width, grid_h / height)
    )
    cax = fig.add_axes(
        (
            (left + grid_w + gap) / width,
            (height - top_margin - bar_h) / height,
            12 / width,
            bar_h / height,
        )
    )
    norm = colors.Normalize(vmin=LOG_FLOOR, vmax=top)
    image = ax.imshow(
        value,
        cmap=cmap,
        norm=norm,
        aspect="auto",
        interpolation="nearest",
        extent=(-0.5, n_cols - 0.5, n_rows - 0.5, -0.5),  # axes in element indices
    )
    bar = fig.colorbar(image, cax=cax, extend="min")
    bar.set_label("|analytic − numeric| / threshold", fontsize=9)
    step = max(1, math.ceil((top - LOG_FLOOR) / 8))
    ticks = [t for t in range(int(LOG_FLOOR), int(top) + 1) if t % step == 0 or t == 0]
    bar.set_ticks(ticks)
    bar.set_ticklabels(["1 = limit" if t == 0 else f"1e{t:+d}" for t in ticks])
    bar.ax.tick_params(labelsize=8)
    bar.ax.axhline(0.0, color="black", linewidth=1.2)

    # on large cells a white cross with a dark outline inside each mismatching cell (the cell's
    # colour shows around it); on small cells (a large input) a square of fixed size filled with
    # the cell's own colour and outlined, so a lone mismatch shows and keeps its colour
    small = min(cell, cell_y) < MARK_CELL
    size = 42.0 if small else min(70.0, (0.55 * min(cell, cell_y)) ** 2)
    outline = [effects.withStroke(linewidth=2.6, foreground="#1f2328")]
    if len(bad) and len(bad) <= MAX_MARKS:
        if small:
            ax.scatter(
                bad[:, 1],
                bad[:, 0],
                marker="s",
                s=size,
                c=_marker_colours(cmap, norm, ex, bad, top),
                edgecolors="#1f2328",
                linewidths=1.0,
                label="mismatch",
            )
        else:
            marks = ax.scatter(
                bad[:, 1],
                bad[:, 0],
                marker="x",
                s=size,
                c="white",
                linewidths=1.3,
                label="mismatch",
            )
            marks.set_path_effects(outline)
    if len(kinks) and len(kinks) <= MAX_MARKS:
        ax.scatter(
            kinks[:, 1],
            kinks[:, 0],
            marker="o",
            s=size,
            facecolors=_marker_colours(cmap, norm, ex, kinks, top) if small else "none",
            edgecolors="#1f2328",
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
    anchor = (8 / width, 1 - legend_top / height)
    _legend(fig, entries, cmap, norm, top, small, outline, per_row, anchor)
    return fig, "; ".join(notes)


#: width in pixels of one entry of the legend under the heatmap
_LEGEND_ENTRY = 116.0


def _marker_colours(
    cmap: Any, norm: Any, ex: NDArray[np.float64], where: NDArray[np.intp], top: float
) -> Any:
    """The colour of each marked element's cell (its own excess on the colour scale)."""
    values = ex[where[:, 0], where[:, 1]]
    with np.errstate(divide="ignore"):
        logs = np.clip(np.log10(values), LOG_FLOOR, top)
    logs = np.where(np.isnan(values), LOG_FLOOR, logs)
    return cmap(norm(logs))


def _legend_entries(
    value: Any,
    pooled: NDArray[np.float64],
    bad: NDArray[np.intp],
    kinks: NDArray[np.intp],
    blocks: bool,
) -> list[str]:
    """The legend's entries: every colour and mark that the figure shows."""
    entries = []
    if np.any(~np.isnan(pooled) & (pooled <= 1)):
        entries.append("below threshold")
    if np.any(pooled > 1):
        entries.append("over threshold")
    if np.any(np.isnan(pooled)):
        entries.append("not checked")
    if len(bad) and len(bad) <= MAX_MARKS:
        entries.append("mismatch")
    if len(kinks) and len(kinks) <= MAX_MARKS:
        entries.append("kink")
    if blocks:
        entries.append("block boundary")
    return entries


def _legend(
    fig: Any,
    entries: list[str],
    cmap: Any,
    norm: Any,
    top: float,
    small: bool,
    outline: list[Any],
    per_row: int,
    anchor: tuple[float, float],
) -> None:
    """A legend under the heatmap: a swatch or mark per entry of :func:`_legend_entries`."""
    if not entries:
        return
    patches = require("matplotlib.patches", "the HTML report")
    lines = require("matplotlib.lines", "the HTML report")
    over = cmap(norm(min(top, max(0.5, top / 2))))
    handles = {
        "below threshold": patches.Patch(facecolor=cmap(norm(-2.0)), edgecolor="#8c959f"),
        "over threshold": patches.Patch(facecolor=over, edgecolor="#8c959f"),
        "not checked": patches.Patch(facecolor=UNCHECKED, edgecolor="#8c959f"),
        "mismatch": (
            lines.Line2D(
                [], [], marker="s", linestyle="", markerfacecolor=over, markeredgecolor="#1f2328"
            )
            if small
            else lines.Line2D(
                [],
                [],
                marker="x",
                linestyle="",
                color="white",
                markeredgewidth=1.3,
                path_effects=outline,
            )
        ),
        "kink": lines.Line2D(
            [], [], marker="o", linestyle="", markerfacecolor="none", markeredgecolor="#1f2328"
        ),
        "block boundary": lines.Line2D([], [], color="black", linewidth=1.2),
    }
    fig.legend(
        [handles[e] for e in entries],
        entries,
        loc="upper left",
        bbox_to_anchor=anchor,
        ncol=per_row,
        frameon=False,
        fontsize=8,
        handlelength=1.4,
        handletextpad=0.5,
        columnspacing=1.2,
        borderaxespad=0.0,
    )


def _has_blocks(r: InputResult) -> bool:
    """Whether block boundaries are drawn (a labelled axis on the grid's columns or rows)."""
    ann = r.annotation
    if ann is None or not ann.axes:
        return False
    last = len(r.shape) - 1
    return any(
        info.labels is not None and len(info.labels) > 1 and a in (0, last)
        for a, info in enumerate(ann.axes)
    )


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
            top.set_xticklabels([_plain(label) for label in info.labels], fontsize=9)
            top.tick_params(length=0)
        elif a == 0:
            stride = math.prod(r.shape[1:-1]) if ndim > 2 else 1
            rows = width * stride
            for b in range(1, len(info.labels)):
                ax.axhline(b * rows - 0.5, color="black", linewidth=1.2)
            right = ax.secondary_yaxis("right")
            right.set_ticks([(b + 0.5) * rows - 0.5 for b in range(len(info.labels))])
            right.set_yticklabels([_plain(label) for label in info.labels], fontsize=9)
            right.tick_params(length=0)
    if ndim > 2 and r.shape[0] > 1 and (ann.axes[0].labels is None):
        stride = math.prod(r.shape[1:-1])
        for i in range(1, r.shape[0]):
            ax.axhline(i * stride - 0.5, color="white", linewidth=0.8)
