"""The one keyboard rule every view follows, so that no view can trap the view keys.

Entering a view gives the keyboard to a widget that types nothing (`focus_main`): 1-5, q, ? and
the view's own keys work at once. A view with a text field (`INPUT`) hands the keyboard to it on
enter or /, or when the field is clicked; there every printable key types, and escape gives the
keyboard back to the view.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input


@dataclass(frozen=True)
class ViewHelp:
    """What the help screen (? or F1) says of a view, kept beside the view it describes."""

    title: str
    prose: str  # Markdown: what the view shows and its keys
    terms: list[str]  # glossary headings (tui/glossary.md) for everything the view shows


class View(Vertical):
    """Base of the views; subclasses set HELP and INPUT, and define focus_main()."""

    HELP: ViewHelp
    INPUT: str | None = None  # selector of the text field that enter and / focus
    BINDINGS = [
        Binding("slash", "focus_input", "Type"),
        Binding("enter", "focus_input", "Type", show=False),
        Binding("escape", "leave_input", "Leave input"),
    ]

    def focus_main(self) -> None:
        """Give the keyboard to the view's main widget, never a text field."""
        raise NotImplementedError

    @property
    def typing(self) -> bool:
        """Whether a text field of this view has the keyboard."""
        focused = self.app.focused
        return isinstance(focused, Input) and self in focused.ancestors

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "focus_input":
            return self.INPUT is not None and not self.typing
        if action == "leave_input":
            return self.typing
        return True

    def action_focus_input(self) -> None:
        if self.INPUT is not None:
            field = self.query_one(self.INPUT, Input)
            field.focus()
            field.cursor_position = len(field.value)

    def action_leave_input(self) -> None:
        self.focus_main()
