"""The top bar: which run, its state, step/total with a progress bar, ETA and tokens/s."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from engine import StepCompleted, TrainingStarted
from tui.format import format_duration, format_rate, set_text

STATE_ICONS = {  # the RunState values, then how the app stands with the engine before it knows
    "starting": "◌",
    "connecting": "◌",
    "starting a new run": "◌",
    "running": "●",
    "paused": "⏸",
    "finished": "✔",
    "stopped": "■",
    "failed": "✖",
    "disconnected": "○",
    "no run": "○",
}


class RunHeader(Horizontal):
    """Run identity and progress; the ETA comes from the engine's elapsed_s, not a wall clock."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.state = "connecting"
        self.preset = ""
        self.device = ""
        self.step = 0
        self.start_step = 0
        self.max_steps = 0
        self.elapsed_s = 0.0
        self.tokens_per_s = 0.0

    def compose(self) -> ComposeResult:
        yield Static("llm-learns", id="app-name")
        yield Static(id="run-state")
        yield Static(id="run-step")
        yield ProgressBar(total=None, show_eta=False, id="run-progress")
        yield Static(id="run-rate")

    def on_mount(self) -> None:
        self._render_all()

    def set_state(self, state: str) -> None:
        """Show the app's word for where the run stands (a RunState value, or "connecting"...)."""
        self.state = state
        self._render_all()

    def ingest(self, events: list) -> None:
        for event in events:
            if isinstance(event, TrainingStarted):
                self.preset, self.device = event.preset, event.device
                self.start_step, self.max_steps = event.start_step, event.max_steps
                self.step = event.start_step
            elif isinstance(event, StepCompleted):
                self.step, self.elapsed_s = event.step, event.elapsed_s
                self.tokens_per_s = event.tokens_per_s
        self._render_all()

    @property
    def eta_s(self) -> float | None:
        done = self.step - self.start_step
        if self.state != "running" or done <= 0 or self.elapsed_s <= 0:
            return None
        return self.elapsed_s / done * (self.max_steps - self.step)

    def _render_all(self) -> None:
        if not self.is_mounted:
            return
        icon = STATE_ICONS.get(self.state, "•")
        who = " · ".join(part for part in (self.preset, self.device) if part)
        state = self.query_one("#run-state", Static)
        set_text(state, f"{who}  {icon} {self.state}" if who else f"{icon} {self.state}")
        for name in STATE_ICONS:
            state.set_class(self.state == name, f"-{name.replace(' ', '-')}")
        total = self.max_steps or None
        set_text(
            self.query_one("#run-step", Static),
            f"step {self.step:,}/{self.max_steps:,}" if total else "step –",
        )
        self.query_one(ProgressBar).update(total=total, progress=self.step)
        eta = self.eta_s
        rate = f"{format_rate(self.tokens_per_s)} tok/s" if self.tokens_per_s else ""
        parts = [f"ETA {format_duration(eta)}" if eta is not None else "", rate]
        set_text(self.query_one("#run-rate", Static), "  ".join(p for p in parts if p))
