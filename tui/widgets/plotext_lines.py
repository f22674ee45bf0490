"""plotext's drawn cells straight to screen lines, without its ANSI text; round axis ticks.

textual-plotext asks plotext for an ANSI string, parses it back into a rich Text and lets Textual
cut that into lines: three passes over every cell, two-thirds of a chart redraw here. plotext
keeps its cells in four grids (character, foreground, background, style); this reads them once
and makes a Segment of each run of equally styled cells. plotext is pinned below 6, where those
grids live on `figure.monitor.matrix`.
"""

from __future__ import annotations

import math

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


def shade_spans(matrix, spans: list[tuple[float, float]], x0: float, x1: float, color) -> None:
    """Tint the background of the plot area over each x span, behind every mark: plotext's own
    fill would draw over lines drawn before it and cost a cell insertion per shaded cell."""
    rows = matrix.marker  # bottom row first
    tops = [i for i, row in enumerate(rows) if "┌" in row]
    bottoms = [i for i, row in enumerate(rows) if "└" in row]
    if not spans or not tops or not bottoms or x1 <= x0:
        return
    top, bottom = tops[-1], bottoms[0]
    left, right = rows[top].index("┌"), rows[top].index("┐")
    inner = right - left - 1

    def column(x: float) -> int:
        return left + 1 + round(min(1.0, max(0.0, (x - x0) / (x1 - x0))) * (inner - 1))

    for start, end in spans:
        first, last = column(start), column(end)
        for row in matrix.background[bottom + 1 : top]:
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
