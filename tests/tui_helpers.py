"""Shared helpers for the TUI tests: build the app on a FakeEngine and wait for its events."""

from __future__ import annotations

from textual.app import App
from textual.widgets import Input

from tests.tui_fakes import FakeEngine
from tui.app import LlmLearnsApp


def make_app(fake: FakeEngine | None = None, **kwargs) -> tuple[LlmLearnsApp, FakeEngine]:
    fake = fake or FakeEngine()
    app = LlmLearnsApp(connect=lambda: fake, **kwargs)
    app.event_batch_s = 0.05  # no test waits half a second for its first events
    return app, fake


async def settle(pilot, until=lambda: True, timeout: float = 5.0) -> None:
    """Pause until `until()` holds (or timeout), then let pending messages run."""
    app = pilot.app
    waited = 0.0
    while not until() and waited < timeout:
        await pilot.pause(0.05)
        waited += 0.05
    await pilot.pause()
    for widget in app.query(Input):
        widget.cursor_blink = False  # a blinking cursor would make snapshots flaky


async def loaded(pilot, fake: FakeEngine) -> None:
    """Wait until every canned event, and the mark where the history ends, reached the views."""
    app = pilot.app
    await settle(pilot, lambda: app.history_loaded and app.events_seen > len(fake._events))


class Holder(App):
    """One widget under test, in an app for its theme."""

    def __init__(self, widget) -> None:
        super().__init__()
        self.widget = widget

    def compose(self):
        yield self.widget
