"""plotext's drawn cells straight to screen lines, without its ANSI text; round axis ticks.

textual-plotext asks plotext for an ANSI string, parses it back into a rich Text and lets Textual
cut that into lines: three passes over every cell, two-thirds of a chart redraw here. plotext
keeps its cells in four grids (character, foreground, background, style); this reads them once
and makes a Segment of each run of equally styled cells. plotext is pinned below 6, where those
grids live on `figure.monitor.matrix`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from plotext import _utility as plotext_utility
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

# plotext's SGR style codes, as rich Style flags.
_STYLE_FLAGS = {
    1: "bold", 2: "dim", 3: "italic", 4: "underline", 5: "blink", 7: "reverse", 9: "strike"
}  # fmt: skip


def _color(value) -> Color | None:
    if value == plotext_utility.no_color:
        return None
    if plotext_utility.is_rgb_color(value):
        return Color.from_rgb(*value)
    if plotext_utility.is_integer_color(value):
        return Color.from_ansi(value)
    if plotext_utility.is_string_color(value):
        return Color.from_ansi(plotext_utility.get_color_code(value))
    raise ValueError(f"unknown plotext color {value!r}")


def _style(fullground, background, style) -> Style:
    flags = {}
    if style != plotext_utility.no_color and plotext_utility.is_style(style):
        flags = {
            _STYLE_FLAGS[code]: True
            for code in plotext_utility.get_style_codes(style)
            if code in _STYLE_FLAGS
        }
    return Style(color=_color(fullground), bgcolor=_color(background), **flags)


def build_matrix(figure):
    """Lay out and draw `figure` (already sized) into its cell grids; return them."""
    figure._set_sizes()
    figure._build_matrix()
    return figure.monitor.matrix


@dataclass(frozen=True)
class PlotArea:
    """Where plotext put the inside of its frame in the cell grids (rows count from the bottom,
    as plotext keeps them), and how x and y values map onto its cells."""

    left: int  # the frame's columns and rows: the inside lies between them
    right: int
    bottom: int
    top: int
    x0: float
    x1: float
    y0: float = 0.0
    y1: float = 1.0

    def column(self, x: float) -> int:
        inner = self.right - self.left - 1
        share = (x - self.x0) / (self.x1 - self.x0) if self.x1 > self.x0 else 0.0
        return self.left + 1 + round(min(1.0, max(0.0, share)) * (inner - 1))

    def row(self, y: float) -> int:
        inner = self.top - self.bottom - 1
        share = (y - self.y0) / (self.y1 - self.y0) if self.y1 > self.y0 else 0.0
        return self.bottom + 1 + round(min(1.0, max(0.0, share)) * (inner - 1))


def plot_area(matrix, x0: float, x1: float, y0: float = 0.0, y1: float = 1.0) -> PlotArea | None:
    """The plot's framed area (found by its corners), for limits (x0, x1) and (y0, y1); None
    when plotext drew no frame (no room)."""
    rows = matrix.marker  # bottom row first
    tops = [i for i, row in enumerate(rows) if "┌" in row]
    bottoms = [i for i, row in enumerate(rows) if "└" in row]
    if not tops or not bottoms or "┐" not in rows[tops[-1]]:
        return None
    top, bottom = tops[-1], bottoms[0]
    left, right = rows[top].index("┌"), rows[top].index("┐")
    return PlotArea(left, right, bottom, top, x0, x1, y0, y1)


def write_cells(matrix, row: int, col: int, cells: list[str], color) -> None:
    """Write text into the grids, one string a cell ("" for the second cell of a wide
    grapheme), over what is there but keeping its background."""
    for n, cell in enumerate(cells):
        matrix.marker[row][col + n] = cell
        matrix.fullground[row][col + n] = color


def shade_spans(matrix, spans: list[tuple[float, float]], x0: float, x1: float, color) -> None:
    """Tint the background of the plot area over each x span, behind every mark: plotext's own
    fill would draw over lines drawn before it and cost a cell insertion per shaded cell."""
    area = plot_area(matrix, x0, x1)
    if not spans or area is None or x1 <= x0:
        return
    for start, end in spans:
        first, last = area.column(start), area.column(end)
        for row in matrix.background[area.bottom + 1 : area.top]:
            row[first : last + 1] = [color] * (last + 1 - first)


def matrix_lines(matrix, width: int, height: int, base: Style) -> list[Strip]:
    """The grids' rows as `height` lines `width` cells wide, plotext's colours over `base`."""
    styles: dict[tuple, Style] = {}
    lines = []
    rows = zip(matrix.marker, matrix.fullground, matrix.background, matrix.style, strict=True)
    # plotext keeps the bottom row first.
    for chars, fullgrounds, backgrounds, cell_styles in reversed(list(rows)):
        segments = []
        run_key, run_start = None, 0
        keys = list(zip(fullgrounds, backgrounds, cell_styles, strict=True))
        for x, key in enumerate([*keys, None]):
            if key != run_key:
                if run_key is not None:
                    if run_key not in styles:
                        styles[run_key] = base + _style(*run_key)
                    segments.append(Segment("".join(chars[run_start:x]), styles[run_key]))
                run_key, run_start = key, x
        lines.append(Strip(segments).adjust_cell_length(width, base))
    blank = Strip.blank(width, base)
    return (lines + [blank] * height)[:height]


def nice_ticks(
    low: float, high: float, count: int = 5, min_span: float = 1.0
) -> tuple[list[float], list[str]]:
    """Round tick positions (1, 2 or 5 × 10^k apart) and short labels such as 1.5k."""
    span = max(high - low, min_span)
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    ticks = [step * i for i in range(math.ceil(low / step), math.floor(high / step) + 1)]
    return ticks, [_short(t) for t in ticks]


def log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Ticks for a log10 axis from `low` to `high` (real values): their log10 positions and
    round labels (powers of ten, then 1, 2, 5, then 3, then finer, until at least three fit)."""
    low, high = max(low, 1e-9), max(high, 2e-9)
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    ticks: list[float] = []
    for mantissas in ((1,), (1, 2, 5), (1, 2, 3, 5), (1, 1.5, 2, 3, 4, 5, 7)):
        ticks = [m * 10**e for e in decades for m in mantissas if low <= m * 10**e <= high]
        if len(ticks) >= 3:
            break
    if len(ticks) < 2:  # a narrow range, such as 1.1 to 1.3: round linear steps
        ticks, _ = nice_ticks(low, high, min_span=0.0)
        ticks = [t for t in ticks if t > 0]
    return [math.log10(t) for t in ticks], [f"{t:.4g}" for t in ticks]


def _short(value: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:g}{suffix}"
    return f"{value:g}"
