"""The top bar: which run, its state, step/total with its percent and a bar, ETA and tokens/s.

ETA and tokens/s come from a moving window over the last seconds of training time (the
engine's elapsed_s, tui/state/rate_window.py), not from the last step, so one slow step does not
swing them. The percent has a fixed place right after the step count: on a narrow terminal the
bar shrinks and the rate is cut before it. While a big corpus is tokenised, before the first step,
the same places show that pass instead: its bytes done, an ETA and MB/s; while the run's history
loads, how much of it has been read.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from engine import (
    HistoryProgress,
    HistoryReplayed,
    RunState,
    StepCompleted,
    TokenizeProgress,
    TrainingStarted,
    visible,
)
from tui.format import format_duration, format_rate, set_text
from tui.state.rate_window import RateWindow
from tui.widgets.safe_text import SafeStatic

# How the app stands with the engine from connecting until the client marks the history's end: the
# run's state is not known before (a finished run's history passes through "running").
LOADING = "loading history"

STATE_ICONS = {  # the RunState values, then how the app stands with the engine before it knows
    "starting": "◌",
    "connecting": "◌",
    LOADING: "◌",
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
    """Run identity and progress; the ETA comes from the engine's elapsed_s, not a wall clock.

    Where the run stands is the app's (`show_state`); the header keeps only what it shows."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.run_state = RunState.STARTING
        self.link: str | None = "connecting"
        self.preset = ""
        self.device = ""
        self.step = 0
        self.start_step = 0
        self.max_steps = 0
        self.last_tokens_per_s = 0.0  # the last step's own figure, until the window has two
        self.rate = RateWindow()
        self.tokenizing: TokenizeProgress | None = None  # the latest, until training starts
        self.history: HistoryProgress | None = None  # how far the history has been read

    def compose(self) -> ComposeResult:
        yield SafeStatic("llm-learns", id="app-name")
        yield SafeStatic(id="run-state")
        yield SafeStatic(id="run-step")
        yield SafeStatic(id="run-percent")
        yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="run-progress")
        yield SafeStatic(id="run-rate")

    def on_mount(self) -> None:
        self._render_all()

    def show_state(self, run_state: RunState, link: str | None) -> None:
        """Show where the run stands: `link` (how the app stands with the engine: "connecting",
        "disconnected"...) while there is one, else the run's state."""
        self.run_state, self.link = run_state, link
        self._render_all()

    @property
    def word(self) -> str:
        """What the header says of the run ("running", "connecting"...)."""
        return self.link or self.run_state.value

    def ingest(self, events: list) -> None:
        for event in events:
            if isinstance(event, TokenizeProgress):
                self.tokenizing = event
            elif isinstance(event, HistoryProgress):
                self.history = event
            elif isinstance(event, HistoryReplayed):
                self.history = None
            elif isinstance(event, TrainingStarted):
                self.tokenizing = None
                self.preset, self.device = event.preset, event.device
                self.start_step, self.max_steps = event.start_step, event.max_steps
                self.step = event.start_step
            elif isinstance(event, StepCompleted):
                self.step = event.step
                self.last_tokens_per_s = event.tokens_per_s
                self.rate.add(event.elapsed_s, event.step, event.tokens_seen)
        self._render_all()

    @property
    def tokens_per_s(self) -> float:
        return self.rate.tokens_per_s or self.last_tokens_per_s

    @property
    def eta_s(self) -> float | None:
        steps_per_s = self.rate.steps_per_s
        if self.link is not None or self.run_state is not RunState.RUNNING or steps_per_s is None:
            return None
        return max(0, self.max_steps - self.step) / steps_per_s

    def _render_all(self) -> None:
        if not self.is_mounted:
            return
        icon = STATE_ICONS.get(self.word, "•")
        # The preset comes from a run's config.json, which anyone may have written.
        who = " · ".join(part for part in (self.preset, self.device) if part)
        who = visible(who, keep_newlines=False, keep_tabs=False)
        state = self.query_one("#run-state", Static)
        word = self.word
        text = f"{who}  {icon} {word}" if who else f"{icon} {word}"
        set_text(state, text, markup=False)
        for name in STATE_ICONS:
            state.set_class(word == name, f"-{name.replace(' ', '-')}")
        self.query_one("#run-step", Static).set_class(word == LOADING, "-empty")
        if word == LOADING:
            self._render_loading(self.history)
            return
        if (
            self.tokenizing is not None
            and self.link is None
            and self.run_state is RunState.STARTING
        ):
            self._render_tokenizing(self.tokenizing)
            return
        total = self.max_steps or None
        set_text(
            self.query_one("#run-step", Static),
            f"step {self.step:,}/{self.max_steps:,}" if total else "step –",
        )
        percent = f"{min(100, 100 * self.step // total):>3}%" if total else ""
        set_text(self.query_one("#run-percent", Static), percent)
        self.query_one(ProgressBar).update(total=total, progress=self.step)
        eta = self.eta_s
        rate = self.tokens_per_s
        parts = [
            f"ETA {format_duration(eta)}" if eta is not None else "",
            f"{format_rate(rate)} tok/s" if rate else "",
        ]
        set_text(self.query_one("#run-rate", Static), "  ".join(p for p in parts if p))

    def _render_loading(self, event: HistoryProgress | None) -> None:
        """The history's share read so far, in place of step, percent, bar and rate."""
        set_text(self.query_one("#run-step", Static), "")
        done, total = (event.done_bytes, max(1, event.total_bytes)) if event else (0, 0)
        set_text(self.query_one("#run-percent", Static), f"{100 * done // total}%" if total else "")
        self.query_one(ProgressBar).update(total=total or None, progress=done)
        size = f"{done / 1e6:,.0f} of {total / 1e6:,.0f} MB" if event and total >= 1e6 else ""
        set_text(self.query_one("#run-rate", Static), size)

    def _render_tokenizing(self, event: TokenizeProgress) -> None:
        set_text(self.query_one("#run-step", Static), event.stage.label)
        if event.total_bytes <= 0:  # waiting, or BPE's merges: no bytes to count, only time
            set_text(self.query_one("#run-percent", Static), "")
            self.query_one(ProgressBar).update(total=None)  # a bar that says "under way"
            set_text(self.query_one("#run-rate", Static), format_duration(event.elapsed_s))
            return
        done, total = event.done_bytes, event.total_bytes
        set_text(self.query_one("#run-percent", Static), f"{min(100, 100 * done // total):>3}%")
        self.query_one(ProgressBar).update(total=total, progress=done)
        speed = done / event.elapsed_s if event.elapsed_s > 0 else 0.0
        parts = [
            f"ETA {format_duration((total - done) / speed)}" if speed > 0 else "",
            f"{speed / 1e6:.1f} MB/s" if speed > 0 else "",
        ]
        set_text(self.query_one("#run-rate", Static), "  ".join(p for p in parts if p))
