"""The sample time-lapse: one generated sample per eval, newest last, scrollable.

It follows the newest sample unless the user scrolled up; then it stays where they are, and its
border says so and how many newer samples wait below, until they scroll back to the bottom (or
press end); while it follows, the border says how many older samples are above and how to scroll.
Whether it follows is a flag of its own, changed only by a scroll the user sees: its scroll
position says nothing while the Train view is hidden, and the log still grows then. Only the last
KEEP samples are kept: a long run must not grow the app by a widget per eval forever. While the
run is replayed, only the samples up to the replayed step show (`show_until`).
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.containers import VerticalScroll

from engine import SampleGenerated, visible
from tui.widgets.safe_text import SafeStatic

KEEP = 200


class SampleLine(SafeStatic):
    """One sample: its step, then its text."""

    def __init__(self, event: SampleGenerated) -> None:
        super().__init__(
            Text.assemble((f"{event.step:>7,} ", "bold"), visible(event.text).strip()),
            classes="sample",
        )
        self.step = event.step


class SampleLog(VerticalScroll):
    """Samples as they arrive; the newest is highlighted and, when following, scrolled to."""

    can_focus = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.samples: deque[SampleGenerated] = deque(maxlen=KEEP)
        self.follow = True  # scroll to each new sample; False once the user scrolled up
        self.until: int | None = None  # the replayed step: later samples are hidden

    def on_mount(self) -> None:
        self.border_title = "Samples by step (one per eval)"
        self.mount(
            SafeStatic(
                "No samples yet: one is drawn at every eval (g draws one now).",
                classes="placeholder",
            )
        )

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if not self.region.area:
            return  # hidden: nobody scrolled it
        at_end = new >= self.max_scroll_y - 1
        if at_end and not self.follow:
            self.follow = True
        elif new < old and not at_end and self.follow:  # only a user scrolls a log up
            self.follow = False
        self._show_following()

    def on_show(self) -> None:
        self._catch_up()

    def on_resize(self) -> None:
        self._catch_up()  # a shorter panel (a tour note opened) must still show the newest

    def _catch_up(self) -> None:
        if self.follow:
            self.scroll_end(animate=False)
        self._show_following()

    def _show_following(self) -> None:
        top, bottom = self.scroll_y, self.scroll_y + self.scrollable_content_region.height
        above = below = 0
        for sample in self.query(SampleLine):  # the samples wholly out of sight, either side
            if not sample.display:
                continue
            region = sample.virtual_region
            above += region.bottom <= top
            below += region.y >= bottom
        if self.follow:
            text = f"↓ follows the newest · {above} older above: tab, ↑" if above else ""
        else:
            text = f"↑ scrolled up: {below} newer below · end follows again"
        self.border_subtitle = text

    def ingest(self, events: list) -> None:
        new = [event for event in events if isinstance(event, SampleGenerated)][-KEEP:]
        if not new:
            return
        if not self.samples:
            self.query(".placeholder").remove()
        entries = [SampleLine(event) for event in new]
        for entry in entries:
            entry.display = self.until is None or entry.step <= self.until
        self.samples.extend(new)
        shown = list(self.query(SampleLine))
        excess = len(shown) + len(entries) - KEEP
        if excess > 0:
            self.remove_children(shown[:excess])
        self.mount_all(entries)
        self._mark_latest([*shown[max(0, excess) :], *entries])
        self.call_after_refresh(self._catch_up)  # once the new lines are laid out

    def show_until(self, step: int | None) -> None:
        """Show the samples up to a replayed step (None: all of them)."""
        self.until = step
        # The children, not a query: a replay moves several times a second over 200 samples.
        lines = [child for child in self.children if isinstance(child, SampleLine)]
        for line in lines:
            shown = step is None or line.step <= step
            if line.display != shown:  # setting it, even unchanged, costs a style refresh
                line.display = shown
        self._mark_latest(lines)
        self.call_after_refresh(self._catch_up)

    def _mark_latest(self, lines: list[SampleLine]) -> None:
        """Highlight the newest sample shown: the replayed step's, while replaying."""
        shown = [line for line in lines if line.display]
        latest = shown[-1] if shown else None
        for line in lines:
            if line.has_class("latest") != (line is latest):
                line.set_class(line is latest, "latest")
