"""Small maps of every head in one layer, two query rows per character cell (▀ half blocks)."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.widget import Widget

from tui.widgets.heatmap import ColorScale, theme_color

MAX_SIDE = 16  # longer inputs are average-pooled down to this many rows and columns


def pool(matrix: list[list[float]], side: int) -> list[list[float]]:
    """Average-pool a square matrix down to side×side."""
    n = len(matrix)
    if n <= side:
        return matrix
    edges = [round(i * n / side) for i in range(side + 1)]
    out = []
    for a, b in zip(edges, edges[1:], strict=False):
        row = []
        for c, d in zip(edges, edges[1:], strict=False):
            cells = [matrix[q][k] for q in range(a, b) for k in range(c, d)]
            row.append(sum(cells) / len(cells))
        out.append(row)
    return out


class HeadGrid(Widget):
    """All heads of the chosen layer side by side; the selected head's title is highlighted."""

    class HeadPicked(Message):
        def __init__(self, head: int) -> None:
            super().__init__()
            self.head = head

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.maps: list[list[list[float]]] = []
        self.selected = 0
        self._slot = 1

    def show(self, maps: list[list[list[float]]], selected: int) -> None:
        size = (len(self.maps), self._side())
        self.maps = [pool(m, MAX_SIDE) for m in maps]
        self.selected = selected
        self.refresh(layout=(len(self.maps), self._side()) != size)  # only if resized

    def _side(self) -> int:
        return len(self.maps[0]) if self.maps else 0

    def _per_row(self, width: int) -> int:
        self._slot = max(self._side(), 4) + 2
        return max(1, width // self._slot)

    def get_content_height(self, container, viewport, width) -> int:
        if not self.maps:
            return 1
        rows = -(-len(self.maps) // self._per_row(width))
        return rows * (1 + (self._side() + 1) // 2)

    def on_click(self, event) -> None:
        per_row = self._per_row(self.size.width)
        band = 1 + (self._side() + 1) // 2
        head = (event.y // band) * per_row + event.x // self._slot
        if head < len(self.maps):
            self.post_message(self.HeadPicked(head))

    def render(self) -> Text:
        if not self.maps:
            return Text("")
        variables = self.app.theme_variables
        colors = ColorScale.from_theme(variables)
        muted = Style(color=theme_color(variables, "foreground-muted"))
        accent = Style(color=theme_color(variables, "accent"), bold=True, reverse=True)
        surface = theme_color(variables, "surface")
        side = self._side()
        per_row = self._per_row(self.size.width)
        out = Text(no_wrap=True, overflow="crop")
        for first in range(0, len(self.maps), per_row):
            group = range(first, min(first + per_row, len(self.maps)))
            for head in group:
                title = f"h{head + 1}".ljust(self._slot - 2)
                out.append(title, accent if head == self.selected else muted)
                out.append("  ")
            out.append("\n")
            for pair in range(0, side, 2):
                for head in group:
                    matrix = self.maps[head]
                    for k in range(side):
                        top = matrix[pair][k] if k <= pair else None
                        low = matrix[pair + 1][k] if pair + 1 < side and k <= pair + 1 else None
                        out.append(
                            "▀",
                            Style(
                                color=colors(top) if top is not None else surface,
                                bgcolor=colors(low) if low is not None else surface,
                            ),
                        )
                    out.append(" " * (self._slot - side))
                out.append("\n")
        out.rstrip()
        return out
