"""The loss chart's legend: a key to every mark on it, each opening its Learn entry when clicked.

Drawn outside plotext (whose own legend box hides the early, high loss and whose title is
dropped when it does not fit) and laid out here, entry by entry, so an entry never breaks
across lines at any width.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from textual.content import Content
from textual.events import Resize

from tui.format import learn_link
from tui.widgets.safe_text import SafeStatic

GAP = "  "


@dataclass(frozen=True)
class LegendEntry:
    glyph: str
    color: str  # a theme variable (as the chart draws it), or #rrggbb
    label: str
    heading: str  # its glossary entry


class ChartLegend(SafeStatic):
    """Legend entries, wrapped between entries to the widget's width."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.entries: list[LegendEntry] = []
        self._shown: tuple | None = None

    def show(self, entries: list[LegendEntry]) -> None:
        self.entries = entries
        self._lay_out()

    def on_resize(self, event: Resize) -> None:
        self._lay_out()

    def _lay_out(self) -> None:
        width = self.content_region.width or 80
        key = (tuple(self.entries), width)
        if key == self._shown:
            return
        self._shown = key
        lines: list[list[Content]] = [[]]
        used = 0
        for entry in self.entries:
            text = f"{entry.glyph} {entry.label}"
            size = cell_len(text)
            if lines[-1] and used + len(GAP) + size > width:
                lines.append([])
                used = 0
            used += size + (len(GAP) if lines[-1] else 0)
            color = entry.color if entry.color.startswith("#") else f"${entry.color}"
            glyph = Content(entry.glyph).stylize(color)
            link = learn_link(entry.label, entry.heading, style="")
            lines[-1].append(Content.assemble(glyph, " ", link))
        self.update(Content("\n").join(Content(GAP).join(line) for line in lines))
