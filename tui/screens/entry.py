"""One glossary entry in a small dialog over the current screen.

For screens that must not be left to read about something: the New-run form keeps what was typed
while its fields' entries are read here. Elsewhere `app.learn(heading)` opens the Learn view.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Markdown

from tui.terms import entry
from tui.widgets.safe_text import SafeStatic


class EntryScreen(ModalScreen[None]):
    """Shows the glossary entry under `heading`; closing returns to the screen below."""

    BINDINGS = [Binding("escape,q,f1,ctrl+l,enter", "close", "Close")]

    def __init__(self, heading: str) -> None:
        super().__init__()
        self.heading = heading

    def compose(self) -> ComposeResult:
        with Vertical(id="entry-dialog"):
            yield SafeStatic(Content.styled(f"Learn: {self.heading}", "bold"), id="entry-title")
            yield Markdown(entry(self.heading) or "No entry yet.", id="entry-text")
            yield SafeStatic(
                "escape closes · the Learn view (4) holds every entry", id="entry-hint"
            )

    def on_click(self) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
