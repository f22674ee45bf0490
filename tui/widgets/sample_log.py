"""The sample time-lapse: one generated sample per eval, newest last, scrollable."""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from engine import SampleGenerated, visible


class SampleLog(VerticalScroll):
    """Samples as they arrive; the newest is highlighted and scrolled into view."""

    can_focus = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.samples: list[SampleGenerated] = []

    def on_mount(self) -> None:
        self.border_title = "Samples by step (one per eval)"
        self.mount(
            Static(
                "No samples yet: one is drawn at every eval (g draws one now).",
                classes="placeholder",
            )
        )

    def ingest(self, events: list) -> None:
        new = [event for event in events if isinstance(event, SampleGenerated)]
        if not new:
            return
        if not self.samples:
            self.query(".placeholder").remove()
        self.query(".latest").remove_class("latest")
        entries = []
        for event in new:
            text = Text.assemble((f"{event.step:>7,} ", "bold"), visible(event.text).strip())
            entries.append(Static(text, classes="sample"))
        entries[-1].add_class("latest")
        self.samples.extend(new)
        self.mount_all(entries)
        self.call_after_refresh(self.scroll_end, animate=False)
