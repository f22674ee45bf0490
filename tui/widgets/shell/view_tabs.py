"""ViewTabs: the one-line bar of view names above the views, drawn as one piece of text.

Textual's TabbedContent wraps each view in two more full-size containers and draws its tab bar with
eight widgets over two lines; a view switch laid out and repainted them all, which was most of its
cost on a small CPU. This bar is one widget and one line: it marks the current view and turns a
click on a name into a Picked message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from textual import events
from textual.content import Content
from textual.message import Message
from textual.widget import Widget

from tui.widgets.kept_lines import KeptLines


class Tab(Protocol):
    """What the bar (and the tour's note) shows of a view: tui/views/registry.py's entries."""

    @property
    def key(self) -> str: ...

    @property
    def id(self) -> str: ...

    @property
    def label(self) -> str: ...


class ViewTabs(KeptLines, Widget):
    DEFAULT_CSS = "ViewTabs { height: 1; padding: 0 1; background: $panel; }"

    @dataclass
    class Picked(Message):
        """The user clicked a view's name."""

        view: str

    def __init__(self, tabs: Sequence[Tab], active: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tabs = tabs
        self._active = active
        self._spans: list[tuple[int, int, str]] = []  # (start x, end x, view) of each name

    @property
    def active(self) -> str:
        return self._active

    @active.setter
    def active(self, view: str) -> None:
        if view != self._active:
            self._active = view
            self.refresh()

    def render_key(self):
        return self._active

    def render(self) -> Content:
        parts: list[Content] = []
        self._spans = []
        x = 0
        for tab in self.tabs:
            name_style = "bold reverse $primary" if tab.id == self._active else "$foreground-muted"
            text = Content.assemble((f" {tab.key}", "bold $accent"), (f" {tab.label} ", name_style))
            self._spans.append((x, x + text.cell_length, tab.id))
            parts.append(text)
            x += text.cell_length + 1
        return Content(" ").join(parts)

    def on_click(self, event: events.Click) -> None:
        for start, end, view in self._spans:
            if start <= event.x < end:
                self.post_message(self.Picked(view))
                return
