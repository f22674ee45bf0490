"""An attention heatmap: one 2-column cell per (query, key) pair, theme-coloured, labelled axes.

Rows are queries (the token that looks), columns are keys (the tokens it looks at). The masked
future (key after query) is drawn as dim dots, since a causal model cannot look there. Labels are
measured in terminal cells, grapheme by grapheme: a CJK character, an emoji, a joined emoji or a
flag fills one 2-cell column, so wide tokens keep every row and column in line.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.widget import Widget

from tui.format import cell_label, fit, graphemes, learn_action
from tui.widgets.drawing import ColorScale, theme_color
from tui.widgets.kept_lines import KeptLines

LABEL_WIDTH = 8
LABEL_ROWS = 4
LEGEND_STEPS = 10
LEGEND = "  (√ scale)"
LEGEND_ENTRY = "Square-root colour scale"  # what the legend opens in Learn when clicked


def column_cells(label: str) -> list[str]:
    """A key label written down its 2-cell column: one grapheme per row, padded to 2 cells (a
    grapheme wider than that, or with no width, becomes a stand-in)."""
    cells = []
    for grapheme, width in graphemes(label):
        if width == 1:
            cells.append(grapheme + " ")
        elif width == 2:
            cells.append(grapheme)
        else:
            cells.append("? ")
    return cells


class AttentionHeatmap(KeptLines, Widget):
    """A T×T map of one head; `query` is the cursor row whose attention is listed beside it."""

    class QueryChanged(Message):
        """The user clicked a query row."""

        def __init__(self, heatmap: AttentionHeatmap, query: int) -> None:
            super().__init__()
            self.heatmap = heatmap
            self.query = query

    can_focus = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tokens: list[str] = []
        self.matrix: list[list[float]] = []
        self.query_index = 0
        self.version = 0  # bumped by show(): new tokens or weights

    def render_key(self):
        return (self.version, self.query_index)

    def show(self, tokens: list[str], matrix: list[list[float]]) -> None:
        size = (len(self.tokens), self._label_rows())
        self.tokens, self.matrix = tokens, matrix
        self.version += 1
        self.query_index = min(self.query_index, max(0, len(tokens) - 1))
        self.refresh(layout=(len(self.tokens), self._label_rows()) != size)  # only if resized

    def move_query(self, delta: int) -> None:
        if self.tokens:
            self.query_index = (self.query_index + delta) % len(self.tokens)
            self.refresh()

    def cell_at(self, index: int) -> tuple[int, int]:
        """(x, y) in the widget of query `index`'s row and key `index`'s column: its diagonal."""
        return LABEL_WIDTH + 2 + 2 * index, self._label_rows() + index

    def extent(self, x: float, y: float, width: int, height: int) -> tuple[range, range]:
        """The query rows and key columns wholly inside the window (x, y, width, height) of the
        widget: what a scrolled container shows of it."""
        T, top, left = len(self.tokens), self._label_rows(), LABEL_WIDTH + 2
        rows = range(max(0, round(y) - top), max(0, min(T, round(y) + height - top)))
        first = max(0, (round(x) - left + 1) // 2)
        columns = range(first, max(first, min(T, (round(x) + width - left) // 2)))
        return rows, columns

    @property
    def cell_count(self) -> int:
        return sum(len(row) for row in self.matrix)

    def _label_rows(self) -> int:
        lengths = (len(graphemes(cell_label(t))) for t in self.tokens)
        return min(LABEL_ROWS, max(lengths, default=1))

    def get_content_width(self, container, viewport) -> int:
        return LABEL_WIDTH + 2 + max(2 * len(self.tokens), len(LEGEND) + LEGEND_STEPS + 5)

    def get_content_height(self, container, viewport, width) -> int:
        return self._label_rows() + len(self.tokens) + 2 if self.tokens else 1

    def on_click(self, event) -> None:
        row = event.y - self._label_rows()
        if 0 <= row < len(self.tokens):
            self.query_index = row
            self.refresh()
            self.post_message(self.QueryChanged(self, row))

    def render(self) -> Text:
        if not self.tokens:
            return Text("No attention map yet.", style="italic")
        variables = self.app.theme_variables
        colors = ColorScale.from_theme(variables)
        muted = Style(color=theme_color(variables, "foreground-muted"))
        accent = Style(color=theme_color(variables, "accent"), bold=True)
        labels = [cell_label(t) for t in self.tokens]
        columns = [column_cells(label) for label in labels]
        out = Text(no_wrap=True, overflow="crop")
        pad = " " * (LABEL_WIDTH + 2)
        rows = self._label_rows()
        for r in range(rows):  # key labels, written top to bottom
            out.append(pad)
            for k, column in enumerate(columns):
                cell = column[r] if r < len(column) else "  "
                if r == rows - 1 and len(column) > rows:
                    cell = "… "
                out.append(cell, accent if k == self.query_index else muted)
            out.append("\n")
        for q, row in enumerate(self.matrix):
            label = fit(labels[q], LABEL_WIDTH, "right")
            cursor = q == self.query_index
            words = label.lstrip(" ")  # the padding is a run of its own (see the legend)
            out.append(" " * (len(label) - len(words)), Style(reverse=True) if cursor else accent)
            out.append(words, Style(reverse=True, bold=True) if cursor else muted)
            out.append(" ", muted)
            out.append("▶" if cursor else " ", accent)
            for k, weight in enumerate(row):
                if k > q:
                    out.append("· ", muted)
                else:
                    out.append("  ", Style(bgcolor=colors(weight)))
            out.append("\n")
        out.append(pad)
        out.append("0 ", muted)
        for i in range(LEGEND_STEPS + 1):
            out.append(" ", Style(bgcolor=colors(i / LEGEND_STEPS)))
        # Runs start with a character, not a space: some SVG renderers (rsvg) drop a leading one.
        out.append(" ", accent)
        link = Style(underline=True, meta={"@click": learn_action(LEGEND_ENTRY)})
        out.append("1" + LEGEND[:2], muted)
        out.append(LEGEND[2:], muted + link)
        return out
