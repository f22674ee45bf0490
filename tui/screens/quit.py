"""Asks what to do with a live run on quit: stop and save, detach (keep training), or cancel."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button

from tui.widgets.safe_text import SafeStatic


class QuitScreen(ModalScreen[str]):
    """Dismisses with "stop", "detach" or "cancel"."""

    BINDINGS = [
        Binding("escape,c", "choose('cancel')", "Cancel"),
        Binding("s", "choose('stop')", "Stop & save"),
        Binding("d", "choose('detach')", "Detach"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-dialog"):
            yield SafeStatic(
                "[b]The run is still live.[/b]\n\n"
                "Stop it and save a checkpoint, or detach and let it keep training? "
                "(reattach later with the run directory)",
                id="quit-text",
            )
            with Horizontal(id="quit-buttons"):
                yield Button("Stop & save [u]s[/]", id="stop", variant="error")
                yield Button("Detach [u]d[/]", id="detach", variant="primary")
                yield Button("Cancel [u]c[/]", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
