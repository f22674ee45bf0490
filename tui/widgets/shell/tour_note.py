"""TourNote: the guided tour's latest note, a strip above the key hints.

It never takes the keyboard (it cannot be focused), so every key keeps working while a note is
shown; a note stays until the next one replaces it or its ✕ is clicked. Its links go to the view
the note is about and to the note's glossary entry. On a short terminal a note comes folded to
one line, its title, and `o` (the app's key) opens it, so the view keeps its room; on a tall one
it comes open. The tour's logic is in tui/state/tour.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from textual.content import Content

from tui.format import fit, learn_link
from tui.state.tour import WELCOME, Note, Tour
from tui.widgets.safe_text import SafeStatic
from tui.widgets.shell.view_tabs import Tab

FOLD_BELOW = 36  # rows: the app's "-tall" breakpoint


class TourNote(SafeStatic, can_focus=False):
    """Feeds every event to a Tour (also while off, so a tour started late knows the run) and,
    while on, shows its latest note."""

    def __init__(self, views: Sequence[Tab], *, active: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.views = {view.id: view for view in views}
        self.tour = Tour(self.views)
        self.active = active
        self.note: Note | None = None
        self.folded = False  # only the title shows; `o` opens it

    def on_mount(self) -> None:
        if self.active:
            self.show(self.tour.latest or WELCOME)
        else:
            self.display = False

    def ingest(self, events: Iterable[object]) -> None:
        note = self.tour.feed(events)
        if note is not None and self.active:
            self.show(note)

    def toggle(self) -> bool:
        """Turn the tour on (showing the latest note so far, or a welcome) or off; returns
        whether it is on."""
        self.active = not self.active
        if self.active:
            self.show(self.tour.latest or WELCOME)
        else:
            self.action_close()
        return self.active

    def show(self, note: Note) -> None:
        self.note = note
        # A new note comes folded where the views need every row (the app's short breakpoint).
        self.folded = self.app.size.height < FOLD_BELOW
        self._update()
        self.display = True

    def toggle_fold(self) -> None:
        """Open a folded note, or fold an open one."""
        self.folded = not self.folded
        self._update()

    def action_fold(self) -> None:  # the "o" links' click
        self.toggle_fold()

    def on_resize(self) -> None:
        self._update()  # the folded line's title is cut to the width

    def _update(self) -> None:
        if self.note is not None:
            self.update(
                self._render_folded(self.note) if self.folded else self._render_note(self.note)
            )

    def action_close(self) -> None:
        """Hide the note until the next one (the tour goes on)."""
        self.note = None
        self.display = False

    def _render_folded(self, note: Note) -> Content:
        keys = Content.assemble(
            "  ", Content("o read").stylize("underline @click=fold"), "  ", self._close()
        )
        lead = "Tour · "
        room = (self.content_size.width or self.app.size.width - 3) - len(lead) - keys.cell_length
        return Content.assemble((lead, "bold $accent"), (fit(note.title, room), "bold"), keys)

    def _close(self) -> Content:
        return Content("✕ close").stylize("@click=close")

    def _render_note(self, note: Note) -> Content:
        links = []
        if view := self.views.get(note.view):
            label = f"{view.key} {view.label} view"
            links.append(Content(label).stylize(f"underline @click=app.view({note.view!r})"))
        links.append(learn_link(f"Learn: {note.heading}", note.heading))
        links.append(Content("o fold").stylize("underline @click=fold"))
        links.append(self._close())
        return Content.assemble(
            ("Tour · ", "bold $accent"),
            (note.title, "bold"),
            " — ",
            note.text,
            "\n",
            Content("   ").join(links),
        )
