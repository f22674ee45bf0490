"""The app's own commands in the command palette (ctrl+p), each with its key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from textual.app import SystemCommand

from tui.views.train import TrainView

if TYPE_CHECKING:
    from tui.app import LlmLearnsApp


def palette_commands(app: LlmLearnsApp) -> Iterator[SystemCommand]:
    from tui.app import VIEWS

    for number, (view, label) in enumerate(VIEWS.items(), start=1):
        yield SystemCommand(
            f"View: {label}",
            f"{number}: switch to the {label} view",
            lambda v=view: app.action_view(v),
        )
    yield SystemCommand("Pause or resume training", "space", app.action_toggle_pause)
    yield SystemCommand("Save a checkpoint", "s", app.action_save)
    yield SystemCommand("Sample now", "g: draw a sample from the current model", app.action_sample)
    yield SystemCommand(
        "Toggle log-scale loss",
        "l (Train view)",
        lambda: app.query_one(TrainView).action_toggle_log(),
    )
    yield SystemCommand("New run", "n: choose a preset and settings", app.action_new_run)
    yield SystemCommand(
        "Compare runs",
        "c (Train view): draw another run's curves beside this one",
        app.action_compare_runs,
    )
    yield SystemCommand(
        f"{'End' if app.tour_on else 'Start'} the guided tour",
        "short notes on what to look at as the model trains (--tour)",
        app.action_toggle_tour,
    )
    yield SystemCommand("Help for this view", "? or F1", app.action_help)
    yield SystemCommand(
        "Screenshot",
        "save an SVG of the screen in the run directory",
        lambda: app.set_timer(0.1, app.action_save_screenshot),  # once the palette is gone
    )
    yield SystemCommand("Quit llm-learns", "q: asks first while a run is live", app.action_quit_app)
