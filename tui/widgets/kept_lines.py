"""KeptLines: a widget mixin that keeps its rendered lines until what they show has changed.

Textual throws a widget's rendered lines away whenever the widget is laid out again, and every
view switch lays out the view it shows. For a costly render (the loss chart, the heatmap, the key
hints) that put the whole render into each key press's latency. A widget with this mixin says
what its drawing depends on in `render_key()`: it renders again only when that key, its size or
the theme changes, and makes its lines again only when that or its style (focus) changes.
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.strip import Strip
from textual.visual import Visual, visualize


class KeptLines:
    """Mix in before Widget: `class Chart(KeptLines, Widget)`, and define `render_key()`."""

    _kept_render: tuple[Hashable, object] | None = None
    _kept: tuple[Hashable, list[Strip]] | None = None

    def render_key(self) -> Hashable:
        """Everything render() depends on besides size and theme."""
        raise NotImplementedError

    def kept_lines(self) -> list[Strip]:
        """The rendered lines, rendered again only if the key changed."""
        width, height = self.size
        key = (self.size, self.app.theme, self.render_key())
        if self._kept_render is None or self._kept_render[0] != key:
            self._kept_render = (key, self.kept_render())
        # Focus can change the style (a background tint): that costs only the conversion to lines.
        lines_key = (key, self.visual_style)
        if self._kept is None or self._kept[0] != lines_key:
            lines = self.lines_from(self._kept_render[1], width, height, self.visual_style)
            self._kept = (lines_key, lines)
        return self._kept[1]

    def kept_render(self) -> object:
        """What the lines are made from: render()'s result, unless a widget has a faster way."""
        return self.render()

    def lines_from(self, rendered: object, width: int, height: int, style) -> list[Strip]:
        visual = visualize(self, rendered, markup=self._render_markup)
        return Visual.to_strips(self, visual, width, height, style)

    def render_line(self, y: int) -> Strip:
        lines = self.kept_lines()
        if y < len(lines):
            return lines[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)
