"""Numbers beside the chart: loss and perplexity, best val, the train/val gap, epochs, the
model's size, lr and its schedule, grad norm, tokens/s and its sparkline. Each label opens its
Learn entry when clicked.

Its tokens/s is the header's moving average (one step alone swings tenfold on a busy CPU); the
sparkline shows the per-step readings. While the run is replayed it shows the replayed step's
numbers (`show_step`): the steps and evals are kept by step (tui/state/timeline.py), bounded.
"""

from __future__ import annotations

import math
from collections import deque

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Sparkline, Static

from engine import EvalCompleted, StepCompleted, TrainingStarted
from tui.format import format_rate, learn_link
from tui.state.rate_window import RateWindow
from tui.state.timeline import Timeline
from tui.widgets.safe_text import SafeStatic
from tui.widgets.train.lr_schedule import LrSchedule

SPARK_POINTS = 60
KEEP_STEPS = 5_000  # step events kept for a replayed step's numbers (older ones thinned)
LABEL_WIDTH = 10

# Each row: its label and the glossary entry the label opens.
ROWS = {
    "loss": "Cross-entropy loss",
    "perplexity": "Perplexity",
    "best val": "Train and validation loss",
    "val−train": "Overfitting",
    "epochs": "Epoch",
    "params": "Parameters",
    "lr": "Learning rate",
    "grad norm": "Gradient norm and clipping",
    "tokens/s": "Tokens per second and ETA",
    "tokens": "Token",
}


def short_count(value: float) -> str:
    """12,345 as 12.3k, 1,234,567 as 1.23M: a count in a few characters."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            scaled = value / limit
            return f"{scaled:.3g}{suffix}" if scaled < 100 else f"{scaled:.0f}{suffix}"
    return f"{value:g}"


def format_epochs(epochs: float) -> str:
    return f"{epochs:.3f}" if epochs < 1 else f"{epochs:.2f}" if epochs < 100 else f"{epochs:,.0f}"


class StatsPanel(Vertical):
    """Latest training numbers; the sparkline keeps the last SPARK_POINTS tokens/s readings."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.last: StepCompleted | None = None
        self.best_val: float | None = None
        self.best_step = 0
        self.last_eval: EvalCompleted | None = None
        self.started: TrainingStarted | None = None
        self.rates: deque[float] = deque(maxlen=SPARK_POINTS)
        self.rate = RateWindow()
        self.steps: Timeline[StepCompleted] = Timeline(limit=KEEP_STEPS)
        self.evals: Timeline[EvalCompleted] = Timeline(limit=2_000)
        self.until: int | None = None  # the replayed step shown, or None: the latest
        self._shown: tuple | None = None

    def compose(self) -> ComposeResult:
        yield SafeStatic(id="stats-text")
        yield LrSchedule(id="lr-schedule")
        yield SafeStatic("tokens/s", classes="caption", id="rate-caption")
        yield Sparkline([], id="rate-spark")

    def on_mount(self) -> None:
        self.border_title = "Stats"
        self._render_text()

    def ingest(self, events: list) -> None:
        for event in events:
            if isinstance(event, StepCompleted):
                self.last = event
                self.rates.append(event.tokens_per_s)
                self.rate.add(event.elapsed_s, event.step, event.tokens_seen)
                self.steps.add(event.step, event)
            elif isinstance(event, EvalCompleted):
                self.last_eval = event
                self.evals.add(event.step, event)
                if self.best_val is None or event.val_loss < self.best_val:
                    self.best_val, self.best_step = event.val_loss, event.step
            elif isinstance(event, TrainingStarted):
                self.started = event
                schedule = self.query_one(LrSchedule)
                schedule.set_schedule(event.lr_schedule, event.max_steps)
                schedule.set_step(event.start_step)
        if self.until is None:
            self._show_latest()

    def show_step(self, step: int | None) -> None:
        """Show the numbers as they stood at a replayed step (None: the latest)."""
        self.until = step
        if step is None:
            self._show_latest()
            return
        self._render_text()
        last = self.steps.at(step)
        self.query_one(LrSchedule).set_step(last.step if last else 0)
        points = self.steps.until(step, SPARK_POINTS)
        self.query_one(Sparkline).data = [event.tokens_per_s for event in points]

    def _show_latest(self) -> None:
        self._render_text()
        if self.last is not None:
            self.query_one(LrSchedule).set_step(self.last.step)
        self.query_one(Sparkline).data = list(self.rates)

    def _shown_values(self) -> tuple:
        """(step event, eval, (best val, its step) or None, tokens/s) of the step shown."""
        best = (self.best_val, self.best_step) if self.best_val is not None else None
        if self.until is None:
            rate = self.rate.tokens_per_s or (self.last.tokens_per_s if self.last else 0.0)
            return self.last, self.last_eval, best, rate
        last, ev = self.steps.at(self.until), self.evals.at(self.until)
        evals = self.evals.until(self.until, len(self.evals))
        low = min(evals, key=lambda e: e.val_loss) if evals else None
        best = (low.val_loss, low.step) if low else None
        return last, ev, best, last.tokens_per_s if last else 0.0

    @property
    def epochs(self) -> float | None:
        """Passes over the training text by the step shown: tokens seen ÷ training tokens."""
        return self._epochs(self._shown_values()[0])

    def _epochs(self, last: StepCompleted | None) -> float | None:
        if last is None or self.started is None or self.started.train_tokens <= 0:
            return None
        return last.tokens_seen / self.started.train_tokens

    def values(self) -> dict[str, str]:
        """Each row's value as markup ("–" until known), at the step shown."""
        last, ev, lowest, rate = self._shown_values()
        started, epochs = self.started, self._epochs(last)
        best = f"{lowest[0]:.3f} @{short_count(lowest[1])}" if lowest else None
        return {
            "loss": f"[b]{last.loss:.4f}[/b]" if last else None,
            "perplexity": f"{math.exp(min(last.loss, 700)):.2f}" if last else None,
            "best val": best,
            "val−train": f"{ev.val_loss - ev.train_loss:+.4f}" if ev else None,
            "epochs": format_epochs(epochs) if epochs is not None else None,
            "params": short_count(started.n_params) if started else None,
            "lr": f"{last.lr:.2e}" if last else None,
            "grad norm": f"{last.grad_norm:.3f}" if last else None,
            "tokens/s": format_rate(rate) if last else None,
            "tokens": f"{last.tokens_seen:,}" if last else None,
        }

    def _render_text(self) -> None:
        values = self.values()
        key = tuple(values.values())
        if key == self._shown:
            return
        first = self._shown is None
        self._shown = key
        rows = []
        for label, heading in ROWS.items():
            name = learn_link(label, heading, style="")
            value = values[label]
            rows.append(
                Content.assemble(
                    name,
                    " " * (LABEL_WIDTH + 1 - len(label)),
                    Content.from_markup(value) if value else "–",
                )
            )
        self.query_one("#stats-text", Static).update(Content("\n").join(rows), layout=first)
