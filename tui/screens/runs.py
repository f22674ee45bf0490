"""The runs on this machine, to pick one to draw beside the live run on the Train chart.

Dismisses with the chosen run's directory (choosing a run already drawn takes it off), or None.
The listing reads every run's log, so it is made off the event loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from engine import EngineError, RunSummary, list_runs, visible
from tui.format import cell_label, fit, one_line
from tui.widgets.safe_text import SafeStatic


def run_line(run: RunSummary, drawn: bool) -> str:
    """One run in about 60 cells: ✓ if drawn, name, state, steps, best val."""
    best = f"best {run.best_val:.3f}" if run.best_val is not None else "no eval"
    steps = f"{run.step:,}/{run.max_steps:,}"
    name = fit(cell_label(run.path.name), 24)
    return f"{'✓' if drawn else ' '} {name} {run.state.value:<9} {steps:>11}  {best}"


class RunsScreen(ModalScreen[Path | None]):
    """Runs under `root` except `current`; those in `drawn` are marked ✓."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, root: Path, current: Path | None, drawn: list[Path]) -> None:
        super().__init__()
        self.root = root
        self.current = current.resolve() if current else None
        self.drawn = {path.resolve() for path in drawn}
        self.runs: list[RunSummary] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="runs-dialog"):
            yield SafeStatic("Compare runs", id="runs-title")
            yield SafeStatic(
                "Enter draws the run's val (●) and smoothed train curve on the Train chart, in "
                "a colour of its own; enter on a ✓ run takes it off. Escape closes.",
                id="runs-hint",
            )
            yield OptionList(id="runs-list")

    async def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.loading = True
        try:
            runs = await asyncio.to_thread(list_runs, self.root)
        except (OSError, EngineError) as error:
            runs = []
            self.notify(f"cannot list {self.root}: {one_line(error)}", severity="error")
        options.loading = False
        self.runs = [run for run in runs if run.path.resolve() != self.current]
        if not self.runs:
            where = visible(str(self.root))
            options.add_option(Option(Content(f"No other runs under {where}/ yet."), disabled=True))
        for run in self.runs:
            drawn = run.path.resolve() in self.drawn
            options.add_option(Option(Content(run_line(run, drawn)), id=str(run.path)))
        if self.runs:
            options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.dismiss(Path(event.option.id))
