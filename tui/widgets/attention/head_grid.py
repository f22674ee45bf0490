"""Small maps of every head in one layer, two query rows per character cell (▀ half blocks).

The maps shrink (average-pooled) until every head fits the widget's box: at 80×24 a 6-head model
shows six small maps rather than two large ones and a cut-off rest. Each head's title carries its
role ("h1 prev .82", from engine.lens.head_roles), which opens "Head roles" in Learn when clicked.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.widget import Widget

from engine import HeadRole
from tui.format import learn_action
from tui.widgets.drawing import ColorScale, theme_color

MAX_SIDE = 16  # longer inputs are average-pooled down to at most this many rows and columns
SHORT_ROLES = {
    "previous-token": "prev",
    "current-token": "self",
    "first-token": "first",
    "induction": "ind",
    "duplicate-token": "dup",
    "mixed": "mixed",
}
ROLES_ENTRY = "Head roles"


def role_label(role: HeadRole) -> str:
    """A head's role in a few cells: "prev .82" (the score is the mean attention on the target)."""
    score = f"{role.score:.2f}".removeprefix("0")
    return f"{SHORT_ROLES.get(role.role, role.role)} {score}"


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


def slot_width(side: int, title: int = 3) -> int:
    """Cells one head takes across: its map or its title ("h12 prev .82"), and a gap."""
    return max(side, title) + 2


def band_height(side: int) -> int:
    """Rows one row of heads takes: a title line and two query rows per line."""
    return 1 + (side + 1) // 2


def grid_layout(
    heads: int, tokens: int, width: int, height: int, title: int = 3
) -> tuple[int, int]:
    """(map side, heads per row): the largest side, up to MAX_SIDE, at which all heads fit."""
    side = max(1, min(MAX_SIDE, tokens))
    while True:
        # The last head of a row needs no gap after it.
        per_row = max(1, (width + 2) // slot_width(side, title))
        rows = -(-heads // per_row)
        if side == 1 or rows * band_height(side) <= height:
            return side, per_row
        side -= 1


class HeadGrid(Widget):
    """All heads of the chosen layer side by side; the selected head's title is highlighted."""

    class HeadPicked(Message):
        def __init__(self, head: int) -> None:
            super().__init__()
            self.head = head

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.maps: list[list[list[float]]] = []
        self.labels: list[str] = []  # each head's role_label, or none before roles are known
        self.selected = 0
        self._pooled: dict[int, list[list[list[float]]]] = {}  # side -> the maps pooled to it

    def show(
        self, maps: list[list[list[float]]], selected: int, labels: list[str] | None = None
    ) -> None:
        self.maps = maps
        self.labels = list(labels or [])
        self._pooled = {}
        self.selected = selected
        self.refresh()

    def title_width(self) -> int:
        """Cells of the widest head title: "h12" alone, or "h12 prev .82"."""
        heads = len(self.maps)
        number = len(f"h{heads}")
        return number + max((1 + len(label) for label in self.labels), default=0)

    def layout_now(self) -> tuple[int, int]:
        """(map side, heads per row) for the widget's current size."""
        tokens = len(self.maps[0]) if self.maps else 0
        width, height = self.size.width, self.size.height
        return grid_layout(len(self.maps), tokens, width, height, self.title_width())

    def pooled(self, side: int) -> list[list[list[float]]]:
        if side not in self._pooled:
            self._pooled[side] = [pool(m, side) for m in self.maps]
        return self._pooled[side]

    def on_click(self, event) -> None:
        # A click on a role label opens its Learn entry (the label's @click style); anywhere
        # else in a head's slot picks that head.
        at = event.get_content_offset(self)  # event.x counts the border and padding too
        if not self.maps or at is None or (event.style.meta or {}).get("@click"):
            return
        side, per_row = self.layout_now()
        column = at.x // slot_width(side, self.title_width())
        head = (at.y // band_height(side)) * per_row + column
        if column < per_row and head < len(self.maps):
            self.post_message(self.HeadPicked(head))

    def render(self) -> Text:
        if not self.maps:
            return Text("")
        variables = self.app.theme_variables
        colors = ColorScale.from_theme(variables)
        muted = Style(color=theme_color(variables, "foreground-muted"))
        accent = Style(color=theme_color(variables, "accent"), bold=True, reverse=True)
        link = muted + Style(underline=True, meta={"@click": learn_action(ROLES_ENTRY)})
        surface = theme_color(variables, "surface")
        title_cells = self.title_width()
        side, per_row = self.layout_now()
        maps = self.pooled(side)
        side = len(maps[0])  # pool() keeps a map smaller than `side` as it is
        slot = slot_width(side, title_cells)
        out = Text(no_wrap=True, overflow="crop")
        for first in range(0, len(maps), per_row):
            group = range(first, min(first + per_row, len(maps)))
            for head in group:
                number = f"h{head}"
                out.append(number, accent if head == self.selected else muted)
                label = self.labels[head] if head < len(self.labels) else ""
                if label:
                    out.append(" ", muted)
                    out.append(label, link)
                out.append(" " * (slot - len(number) - (len(label) + 1 if label else 0)))
            out.append("\n")
            for pair in range(0, side, 2):
                for head in group:
                    matrix = maps[head]
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
                    out.append(" " * (slot - side))
                out.append("\n")
        out.rstrip()
        return out
