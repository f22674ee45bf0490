"""The Static, Label and Input the app composes, made so that no control character reaches the
terminal through them, whoever fills them: the views, a flag (--prompt, --probe), a paste.

Textual passes a widget's text to the terminal as it is, except for a few codes it drops (BEL,
CR): an ESC in a label or a field's value starts an escape sequence there (a new window title, a
cleared screen). These widgets show every control character as its visible stand-in
(tui.format.shown). A field's value itself stays as typed, pasted or set: see SafeInput.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.strip import Strip
from textual.visual import VisualType
from textual.widgets import Input, Label, Static

from tui.format import shown


class _Shown:
    """Mix in before Static or Label: what the widget is given is passed through shown()."""

    def __init__(self, content: VisualType = "", **kwargs) -> None:
        super().__init__(shown(content), **kwargs)  # type: ignore[call-arg]

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        super().update(shown(content), layout=layout)  # type: ignore[misc]

    @property
    def content(self) -> VisualType:
        return super().content  # type: ignore[misc]

    @content.setter
    def content(self, content: VisualType) -> None:
        Static.content.fset(self, shown(content))  # type: ignore[attr-defined]


class SafeStatic(_Shown, Static):
    """A Static that shows control characters as visible stand-ins."""


class SafeLabel(_Shown, Label):
    """A Label that shows control characters as visible stand-ins."""


class SafeInput(Input):
    """An Input that draws its value with every control character, line break and tab visible,
    while `value` keeps the text as it came.

    The engine gets the text as typed: a prompt or probe passed by flag may hold a real tab or
    line break that is meant (a char-level model knows both), and a pasted one is the user's text;
    only what is drawn changes. Textual measures the cursor and the mouse in the value's cells (a
    control character takes none, its stand-in one or more), so those measures are taken on the
    drawn text, and the cursor covers a character's whole stand-in.
    """

    def _drawn(self, text: str) -> str:
        return shown(text, one_line=True)

    def _starts(self) -> list[int]:
        """Where each character's stand-in starts in the drawn text, and where the text ends."""
        starts = [0]
        for char in self.value:
            starts.append(starts[-1] + len(self._drawn(char)))
        return starts

    @property
    def _value(self) -> Text:
        if self.password:
            return super()._value
        text = Text(self._drawn(self.value), no_wrap=True, overflow="ignore", end="")
        return self.highlighter(text) if self.highlighter is not None else text

    def _position_to_cell(self, position: int) -> int:
        return cell_len(self._drawn(self.value[:position]))

    def _cell_offset_to_index(self, offset: int) -> int:
        scroll_x, _ = self.scroll_offset
        offset += scroll_x
        cells = 0
        for index, char in enumerate(self.value):
            width = cell_len(self._drawn(char))
            if cells <= offset < cells + width:
                return index
            cells += width
        return len(self.value)

    def render_line(self, y: int) -> Strip:
        drawn = self._drawn(self.value)
        if y != 0 or self.password or drawn == self.value:
            return super().render_line(y)  # nothing to stand in for: Input's own drawing
        # Input's drawing (less the suggester's completion: the app has none), with the cursor
        # and the selection moved to where each character's stand-in starts in the drawn text.
        starts = self._starts()
        result = self._value
        if self.has_focus:
            if not self.selection.is_empty:
                start, end = sorted(self.selection)
                style = self.get_component_rich_style("input--selection")
                result.stylize_before(style, starts[start], starts[end])
            if self._cursor_visible:
                cursor = self.cursor_position
                if self.cursor_at_end:
                    result.pad_right(1)
                    start, end = len(drawn), len(drawn) + 1
                else:
                    start, end = starts[cursor], starts[cursor + 1]
                result.stylize(self.get_component_rich_style("input--cursor"), start, end)
        console, options = self.app.console, self.app.console_options
        strip = Strip(console.render(result, options.update_width(self.content_width)))
        width = self.scrollable_content_region.width
        scroll_x, _ = self.scroll_offset
        strip = strip.crop(scroll_x, scroll_x + width + 1).extend_cell_length(width + 1)
        return strip.apply_style(self.rich_style)
