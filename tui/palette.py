"""The app's own commands in the command palette (ctrl+p), each with its key.

Typed against `PaletteHost`, the few things of the app the commands call, so this module never
imports the app (which imports it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from textual.app import SystemCommand

from tui.state.replay import ReplayClock
from tui.views.registry import VIEWS


class PaletteHost(Protocol):
    """What the palette's commands need of the app."""

    tour_on: bool
    replay: ReplayClock

    def action_view(self, view: str) -> None: ...
    def action_toggle_pause(self) -> None: ...
    def action_save(self) -> None: ...
    def action_sample(self) -> None: ...
    def action_toggle_log(self) -> None: ...
    def action_new_run(self) -> None: ...
    def action_compare_runs(self) -> None: ...
    def action_replay(self) -> None: ...
    def action_live(self) -> None: ...
    def action_write_report(self) -> None: ...
    def action_toggle_tour(self) -> None: ...
    def action_help(self) -> None: ...
    def action_save_screenshot(self) -> None: ...
    def action_quit_app(self) -> None: ...
    def set_timer(self, delay: float, callback: Callable[[], Any]) -> Any: ...


def palette_commands(app: PaletteHost) -> Iterator[SystemCommand]:
    for view in VIEWS:
        yield SystemCommand(
            f"View: {view.label}",
            f"{view.key}: switch to the {view.label} view",
            lambda v=view.id: app.action_view(v),
        )
    yield SystemCommand("Pause or resume training", "space", app.action_toggle_pause)
    yield SystemCommand("Save a checkpoint", "s", app.action_save)
    yield SystemCommand("Sample now", "g: draw a sample from the current model", app.action_sample)
    yield SystemCommand("Toggle log-scale loss", "l (Train view)", app.action_toggle_log)
    yield SystemCommand("New run", "n: choose a preset and settings", app.action_new_run)
    yield SystemCommand(
        "Compare runs",
        "c (Train view): draw another run's curves beside this one",
        app.action_compare_runs,
    )
    yield SystemCommand(
        "Replay the run from step 0",
        "p: play the history back, every view at the replayed step (the run goes on)",
        app.action_replay,
    )
    if app.replay.replaying:
        yield SystemCommand("Back to live", "esc: leave the replay", app.action_live)
    yield SystemCommand(
        "Write the run's report",
        "r (Train view): one web page of the run, in its folder (opens offline)",
        app.action_write_report,
    )
    yield SystemCommand(
        f"{'End' if app.tour_on else 'Start'} the guided tour",
        "short notes on what to look at as the model trains (--tour)",
        app.action_toggle_tour,
    )
    yield SystemCommand("Help for this view", "? or F1", app.action_help)
    yield SystemCommand(
        "Screenshot",
        "P (shift+p): save an SVG of the screen in the run directory",
        lambda: app.set_timer(0.1, app.action_save_screenshot),  # once the palette is gone
    )
    yield SystemCommand("Quit llm-learns", "q: asks first while a run is live", app.action_quit_app)
