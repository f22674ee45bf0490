"""The sample time-lapse: one generated sample per eval, newest last, scrollable.

It follows the newest sample while the view is at the bottom; a user who scrolled up stays where
they are until they scroll back down. Only the last KEEP samples are kept: a long run must not
grow the app by a widget per eval forever.
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.containers import VerticalScroll

from engine import SampleGenerated, visible
from tui.widgets.safe_text import SafeStatic

KEEP = 200


class SampleLog(VerticalScroll):
    """Samples as they arrive; the newest is highlighted and, when following, scrolled to."""

    can_focus = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.samples: deque[SampleGenerated] = deque(maxlen=KEEP)

    def on_mount(self) -> None:
        self.border_title = "Samples by step (one per eval)"
        self.mount(
            SafeStatic(
                "No samples yet: one is drawn at every eval (g draws one now).",
                classes="placeholder",
            )
        )

    @property
    def following(self) -> bool:
        """Whether the log shows its end (so new samples scroll into view)."""
        return self.scroll_y >= self.max_scroll_y - 1

    def ingest(self, events: list) -> None:
        new = [event for event in events if isinstance(event, SampleGenerated)][-KEEP:]
        if not new:
            return
        follow = self.following
        if not self.samples:
            self.query(".placeholder").remove()
        self.query(".latest").remove_class("latest")
        entries = []
        for event in new:
            text = Text.assemble((f"{event.step:>7,} ", "bold"), visible(event.text).strip())
            entries.append(SafeStatic(text, classes="sample"))
        entries[-1].add_class("latest")
        self.samples.extend(new)
        shown = list(self.query(".sample"))
        excess = len(shown) + len(entries) - KEEP
        if excess > 0:
            self.remove_children(shown[:excess])
        self.mount_all(entries)
        if follow:
            self.call_after_refresh(self.scroll_end, animate=False)
