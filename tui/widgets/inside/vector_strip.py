"""A vector as a one-line colour strip: one cell per value (or per bucket of values), coloured by
sign and size, so a vector of 32 or 50,257 numbers reads at a glance.

Positive values blend from the theme's surface towards its primary colour, negative ones towards
its accent, on the square-root scale the heatmap uses, relative to the largest |value| shown
together (so the strip shows the pattern; the norm beside it says how big). A masked score (-inf)
is a dim dot: the causal mask's "not allowed to look here".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.color import Color

from tui.widgets.drawing import ColorScale, theme_color

MASKED = None  # a cell whose values are all -inf


def buckets(values: Sequence[float], width: int) -> list[float | None]:
    """`values` fitted to `width` cells: each value spread over one or more cells when there
    are few, else each cell the value of largest magnitude in its bucket (a spike must not vanish
    into an average); None where every value is -inf."""
    n = len(values)
    if n == 0 or width <= 0:
        return []
    if n <= width:  # value i fills cells i·width/n up to (i+1)·width/n
        return [_finite_or_none(values[cell * n // width]) for cell in range(width)]
    cells: list[float | None] = []
    for cell in range(width):
        chunk = values[cell * n // width : (cell + 1) * n // width]
        finite = [v for v in chunk if math.isfinite(v)]
        cells.append(max(finite, key=abs) if finite else MASKED)
    return cells


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else MASKED


class StripColours:
    """The theme's colours for strips, made once per render; one Style object per colour level."""

    LEVELS = 16  # per sign: finer steps are not told apart in a cell, and cost a style each

    def __init__(self, variables: dict[str, str]) -> None:
        surface = Color.parse(theme_color(variables, "surface"))
        positive = ColorScale(surface, Color.parse(theme_color(variables, "primary")))
        negative = ColorScale(surface, Color.parse(theme_color(variables, "accent")))
        self.muted = Style(color=theme_color(variables, "foreground-muted"))
        steps = [level / self.LEVELS for level in range(self.LEVELS + 1)]
        self._positive = [Style(bgcolor=positive(w * w)) for w in steps]  # ColorScale takes √
        self._negative = [Style(bgcolor=negative(w * w)) for w in steps]

    def cell(self, value: float | None, largest: float) -> tuple[str, Style]:
        if value is None:
            return "·", self.muted
        weight = math.sqrt(min(1.0, abs(value) / largest)) if largest > 0 else 0.0
        styles = self._positive if value >= 0 else self._negative
        return " ", styles[round(weight * self.LEVELS)]


def largest(vectors: Sequence[Sequence[float]]) -> float:
    """The largest finite |value| across vectors drawn on one scale."""
    return max((abs(v) for vector in vectors for v in vector if math.isfinite(v)), default=0.0)


def strip_segments(
    vectors: Sequence[Sequence[float]],
    width: int,
    colours: StripColours,
    scale: float | None = None,
) -> list[Segment]:
    """One line of `width` cells: the vectors side by side (one per head), split by a thin bar.

    Neighbouring cells of one colour share a segment: fewer segments, less to draw."""
    if not vectors or width <= 0:
        return []
    top = largest(vectors) if scale is None else scale
    cells: list[tuple[str, Style]] = []
    gaps = len(vectors) - 1
    room = max(len(vectors), width - gaps)
    for i, vector in enumerate(vectors):
        if i:
            cells.append(("│", colours.muted))
        count = room * (i + 1) // len(vectors) - room * i // len(vectors)
        cells += [colours.cell(value, top) for value in buckets(vector, count)]
    cells += [(" ", Style())] * (width - len(cells))
    segments: list[Segment] = []
    text, style = "", None
    for char, cell_style in cells:
        if cell_style is not style and text:
            segments.append(Segment(text, style))
            text = ""
        text, style = text + char, cell_style
    if text:
        segments.append(Segment(text, style))
    return segments


def strip(
    vectors: Sequence[Sequence[float]],
    width: int,
    colours: StripColours,
    scale: float | None = None,
) -> Text:
    """strip_segments as a Rich Text, to join other text."""
    out = Text(no_wrap=True, overflow="crop")
    for segment in strip_segments(vectors, width, colours, scale):
        out.append(segment.text, segment.style)
    return out
