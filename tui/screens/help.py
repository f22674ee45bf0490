"""Help for the current view (? or F1): what it shows, its keys, and links into the glossary.

Each view keeps its own help (`View.HELP`, a ViewHelp, in tui/views/). Picking a term asks the app
for that term's glossary entry (LearnAsked), which closes this screen and opens the Learn view.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Markdown, OptionList
from textual.widgets.option_list import Option

from tui.messages import LearnAsked
from tui.widgets.safe_text import SafeStatic


@dataclass(frozen=True)
class ViewHelp:
    """What the help screen says of a view, kept beside the view it describes."""

    title: str
    prose: str  # Markdown: what the view shows and its keys
    terms: list[str]  # glossary headings (tui/glossary.md) for everything the view shows


GLOBAL_KEYS = (
    "`1`–`7` views · `space` pause/resume · `s` save · `g` sample · `n` new run · "
    "`p` replay from step 0 (`esc` back to live) · `P` screenshot · "
    "`ctrl+p` commands · `q` or `ctrl+c` quit · in a text field every key types: `esc` leaves it"
)


class HelpScreen(ModalScreen[None]):
    """One view's help; escape (or the key that opened it) closes it."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss_help", "Close")]

    def __init__(self, view: str, help: ViewHelp) -> None:
        super().__init__()
        self.view = view
        self.help = help

    def compose(self) -> ComposeResult:
        title, prose, terms = self.help.title, self.help.prose, self.help.terms
        with Vertical(id="help-dialog"):
            yield SafeStatic(f"[b]Help: the {title} view[/b]", id="help-title")
            with Horizontal(id="help-body"):
                yield Markdown(f"{prose}\n\n{GLOBAL_KEYS}", id="help-prose")
                with Vertical(id="help-terms-box"):
                    yield SafeStatic("Terms (enter opens Learn)", id="help-terms-title")
                    yield OptionList(*[Option(term, id=term) for term in terms], id="help-terms")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _term_picked(self, event: OptionList.OptionSelected) -> None:
        self.post_message(LearnAsked(event.option.id))

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
