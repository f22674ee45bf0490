"""One small multiple of the Learning view: a few series over steps, drawn by plotext, with guide
lines, phase-change marks and the step shown.

What it draws is one frozen Figure, made by the view from its data and the step shown: the widget
redraws only when the figure (or its size or theme) changes (KeptLines).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.color import Color
from textual_plotext import PlotextPlot

from tui.widgets.kept_lines import KeptLines
from tui.widgets.plotext_lines import build_matrix, matrix_lines, nice_ticks

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Line:
    points: tuple[tuple[int, float], ...]  # (step, value), in step order
    color: RGB


@dataclass(frozen=True)
class Figure:
    """Everything one small multiple shows."""

    lines: tuple[Line, ...] = ()
    x_range: tuple[int, int] = (0, 1)  # shared by every multiple, so that they line up
    guides: tuple[float, ...] = ()  # dashed horizontal lines (the rule of thumb)
    marks: tuple[int, ...] = ()  # steps of phase changes: vertical lines
    shown: int | None = None  # the step shown, when it is not the latest: a vertical line
    floor: float | None = None  # the y axis starts here at most (0 for a share)
    empty: str = "no readings yet"


class SmallMultiple(KeptLines, PlotextPlot):
    """A compact plotext chart of one Figure."""

    DEFAULT_CSS = "SmallMultiple { height: 1fr; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.figure = Figure()
        self.draws = 0

    def show(self, figure: Figure) -> None:
        if figure != self.figure:
            self.figure = figure
            self.refresh()

    def render_key(self):
        return self.figure

    def _rgb(self, name: str, fade: float = 0.0) -> RGB:
        variables = self.app.theme_variables
        color = Color.parse(variables.get(name, variables["foreground"]))
        if fade:
            color = color.blend(Color.parse(variables["surface"]), fade)
        return color.rgb

    def kept_render(self):
        self.draws += 1
        width, height = self.size
        plot = self._plot
        try:
            self._draw(width, height)
            plot.plotsize(width, height)
            plot._set_size(width, height)  # as PlotextPlot.render does: plotsize is not enough
            plot.theme(self._get_plotext_theme_name(self.app.theme))
            return build_matrix(plot)
        except Exception as error:  # noqa: BLE001 - a plotting glitch must not kill the app
            return f"(chart unavailable: {type(error).__name__})"

    def lines_from(self, rendered, width: int, height: int, style):
        if isinstance(rendered, str):
            return super().lines_from(rendered, width, height, style)
        return matrix_lines(rendered, width, height, style.rich_style)

    def _draw(self, width: int, height: int) -> None:
        plt, figure = self.plt, self.figure
        plt.clear_data()
        plt.clear_figure()
        plt.xaxes(True, False)  # no frame on top or on the right: rows and columns are dear
        plt.yaxes(True, False)
        values = [v for line in figure.lines for _, v in line.points] + list(figure.guides)
        if not any(line.points for line in figure.lines):
            plt.title(figure.empty)
            return
        low, high = min(values), max(values)
        if figure.floor is not None:
            low = min(low, figure.floor)
        pad = (high - low) * 0.08 or abs(high) * 0.1 or 0.1
        low, high = low - (0 if low == figure.floor else pad), high + pad
        x0, x1 = figure.x_range
        for guide in figure.guides:
            plt.hline(guide, color=self._rgb("foreground-muted", 0.4))
        for step in figure.marks:
            plt.vline(step, color=self._rgb("foreground", 0.45))
        if figure.shown is not None:
            plt.vline(figure.shown, color=self._rgb("accent"))
        for line in figure.lines:
            if line.points:
                xs, ys = zip(*line.points, strict=True)
                # Quarter blocks, not braille: an SVG screenshot's fonts draw braille too wide.
                plt.plot(list(xs), list(ys), color=line.color, marker="hd")
        plt.xlim(x0, x1)
        plt.ylim(low, high)
        plt.xticks(*nice_ticks(x0, x1, count=max(3, width // 10)))
        plt.yticks(*nice_ticks(low, high, count=max(2, height // 3), min_span=0.0))
