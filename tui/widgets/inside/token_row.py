"""TokenRow: the traced text as its tokens on one line, the selected position highlighted.

A long text shows the stretch around the selection that fits. Tokens are drawn through
cell_label (engine.token_label), never raw, and a click picks a position.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

from tui.format import cell_label
from tui.widgets.drawing import theme_color
from tui.widgets.kept_lines import KeptLines

GAP = " "


class TokenRow(KeptLines, Widget):
    DEFAULT_CSS = "TokenRow { height: 1; }"

    class Picked(Message):
        """The user clicked a token."""

        def __init__(self, position: int) -> None:
            super().__init__()
            self.position = position

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tokens: tuple[str, ...] = ()
        self.position = 0
        self._spans: list[tuple[int, int, int]] = []  # (start x, end x, position)

    def show(self, tokens: tuple[str, ...], position: int) -> None:
        self.tokens, self.position = tokens, position
        self.refresh()

    def render_key(self):
        return (self.tokens, self.position)

    def _window(self, labels: list[str], width: int) -> tuple[int, int]:
        """The first and last+1 token that fit in `width`, grown out from the selection."""
        start = end = self.position
        used = 0
        while True:
            grew = False
            for side in (1, -1):  # one token after, then one before, while they fit
                i = end if side == 1 else start - 1
                if 0 <= i < len(labels) and used + cell_len(labels[i]) + len(GAP) <= width:
                    used += cell_len(labels[i]) + len(GAP)
                    start, end = (start, end + 1) if side == 1 else (start - 1, end)
                    grew = True
            if not grew:
                return start, max(end, start + 1)

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="crop")
        if not self.tokens:
            return out
        variables = self.app.theme_variables
        muted = Style(color=theme_color(variables, "foreground-muted"))
        labels = [cell_label(t) for t in self.tokens]
        start, end = self._window(labels, self.size.width - 4)
        self._spans = []
        out.append("… " if start > 0 else "  ", muted)
        for i in range(start, end):
            x = out.cell_len
            selected = i == self.position
            out.append(labels[i], Style(reverse=True, bold=True) if selected else Style())
            self._spans.append((x, out.cell_len, i))
            out.append(GAP)
        if end < len(labels):
            out.append("…", muted)
        return out

    def on_click(self, event: events.Click) -> None:
        for start, end, position in self._spans:
            if start <= event.x < end:
                self.post_message(self.Picked(position))
                return
