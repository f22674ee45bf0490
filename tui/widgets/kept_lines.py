"""KeptLines: a widget mixin that keeps its rendered lines until what they show has changed.

Textual throws a widget's rendered lines away whenever the widget is laid out again, and every
view switch lays out the view it shows. For a costly render (the loss chart, the heatmap, the key
hints) that put the whole render into each key press's latency. A widget with this mixin says
what its drawing depends on in `render_key()`; its lines are made again only when that key, its
size, its style or the theme changes.
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.strip import Strip
from textual.visual import Visual, visualize


class KeptLines:
    """Mix in before Widget: `class Chart(KeptLines, Widget)`, and define `render_key()`."""

    _kept: tuple[Hashable, list[Strip]] | None = None

    def render_key(self) -> Hashable:
        """Everything render() depends on besides size, style and theme."""
        raise NotImplementedError

    def kept_lines(self) -> list[Strip]:
        """The rendered lines, rendered again only if the key changed."""
        width, height = self.size
        key = (self.size, self.visual_style, self.app.theme, self.render_key())
        if self._kept is None or self._kept[0] != key:
            visual = visualize(self, self.render(), markup=self._render_markup)
            self._kept = (key, Visual.to_strips(self, visual, width, height, self.visual_style))
        return self._kept[1]

    def render_line(self, y: int) -> Strip:
        lines = self.kept_lines()
        if y < len(lines):
            return lines[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)
