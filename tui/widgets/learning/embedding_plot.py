"""The embedding map: every token's embedding projected on its first two principal components,
as a plotext scatter, the most frequent tokens labelled.

plotext measures a label by its characters, so a wide token (CJK, an emoji) would push the rest
of its row out of line: the labelled points and their labels are written into plotext's cell
grid here instead, grapheme by grapheme, each label made visible (tui.format.cell_label) and
placed beside its point where it overlaps no other label. `labels_shown` says how many fit.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.color import Color
from textual.message import Message
from textual_plotext import PlotextPlot

from engine import EmbeddingMap
from tui.format import cell_label, graphemes
from tui.widgets.kept_lines import KeptLines
from tui.widgets.plotext_lines import build_matrix, matrix_lines, plot_area, write_cells

MAX_LABEL = 10  # cells of a label at most


class EmbeddingPlot(KeptLines, PlotextPlot):
    """Draws one EmbeddingMap; says how many labels fit once it has drawn (Labelled)."""

    @dataclass
    class Labelled(Message):
        count: int

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.map: EmbeddingMap | None = None
        self.labels_shown = 0

    def show(self, embedding_map: EmbeddingMap | None) -> None:
        if embedding_map != self.map:
            self.map = embedding_map
            self.refresh()

    def render_key(self):
        return self.map

    def _rgb(self, name: str, fade: float = 0.0) -> tuple[int, int, int]:
        variables = self.app.theme_variables
        color = Color.parse(variables.get(name, variables["foreground"]))
        if fade:
            color = color.blend(Color.parse(variables["surface"]), fade)
        return color.rgb

    def kept_render(self):
        width, height = self.size
        plot = self._plot
        try:
            bounds = self._draw()
            plot.plotsize(width, height)
            plot._set_size(width, height)
            plot.theme(self._get_plotext_theme_name(self.app.theme))
            matrix = build_matrix(plot)
            if bounds is not None:
                self._label(matrix, *bounds)
            self.post_message(self.Labelled(self.labels_shown))
            return matrix
        except Exception as error:  # noqa: BLE001 - a plotting glitch must not kill the app
            return f"(map unavailable: {type(error).__name__})"

    def lines_from(self, rendered, width: int, height: int, style):
        if isinstance(rendered, str):
            return super().lines_from(rendered, width, height, style)
        return matrix_lines(rendered, width, height, style.rich_style)

    def _draw(self) -> tuple[float, float, float, float] | None:
        """Draw the unlabelled points and the axes; the limits (x0, x1, y0, y1), or None."""
        plt, emap = self.plt, self.map
        plt.clear_data()
        plt.clear_figure()
        self.labels_shown = 0
        if emap is None or not emap.x:
            plt.title("no embedding map yet: one is stored at every eval")
            return None
        first, second = emap.explained
        plt.xlabel(f"1st principal component ({first:.0%}) →")
        plt.ylabel(f"↑ 2nd ({second:.0%})")
        x0, x1 = min(emap.x), max(emap.x)
        y0, y1 = min(emap.y), max(emap.y)
        # Room on the right for the labels of the rightmost points.
        x_pad, y_pad = (x1 - x0) * 0.15 or 0.1, (y1 - y0) * 0.05 or 0.1
        x0, x1, y0, y1 = x0 - x_pad * 0.2, x1 + x_pad, y0 - y_pad, y1 + y_pad
        rest = range(emap.labelled, len(emap.x))
        if rest:
            xs, ys = [emap.x[i] for i in rest], [emap.y[i] for i in rest]
            plt.scatter(xs, ys, marker="dot", color=self._rgb("foreground-muted", 0.3))
        plt.xlim(x0, x1)
        plt.ylim(y0, y1)
        plt.xticks([], [])
        plt.yticks([], [])
        return x0, x1, y0, y1

    def _label(self, matrix, x0: float, x1: float, y0: float, y1: float) -> None:
        """Write each labelled token's point and label into the cell grids, most frequent
        first, skipping a label that would overlap one already written."""
        emap, area = self.map, plot_area(matrix, x0, x1, y0, y1)
        if emap is None or area is None:
            return
        taken: set[tuple[int, int]] = set()
        point, text = self._rgb("accent"), self._rgb("foreground")
        for i in range(min(emap.labelled, len(emap.x))):
            col, row = area.column(emap.x[i]), area.row(emap.y[i])
            cells = _cells(cell_label(emap.texts[i]))
            # Right of the point if there is room inside the frame, else left of it.
            start = col + 1 if col + 1 + len(cells) < area.right else col - len(cells)
            span = {(row, c) for c in range(start, start + len(cells))} | {(row, col)}
            if start > area.left and not span & taken:
                taken |= {(row, c) for c in range(start - 1, start + len(cells) + 1)}
                write_cells(matrix, row, start, cells, text)
                self.labels_shown += 1
            elif (row, col) in taken:
                continue  # its point would land on another's label
            write_cells(matrix, row, col, ["•"], point)


def _cells(label: str) -> list[str]:
    """A label as one string per terminal cell: a 2-cell grapheme, then "" for its second cell;
    cut to MAX_LABEL cells (ending in …)."""
    pieces = [[g] if w == 1 else [g, ""] if w == 2 else ["?"] for g, w in graphemes(label)]
    total = sum(len(piece) for piece in pieces)
    cells: list[str] = []
    for piece in pieces:
        if total > MAX_LABEL and len(cells) + len(piece) > MAX_LABEL - 1:
            return [*cells, "…"]
        cells += piece
    return cells
