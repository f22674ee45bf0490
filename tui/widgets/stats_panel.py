"""Numbers beside the chart: loss, best val, train/val gap, lr, grad norm, tokens/s sparkline.

Its tokens/s is the header's moving average (one step alone swings tenfold on a busy CPU); the
sparkline shows the per-step readings.
"""

from __future__ import annotations

import math
from collections import deque

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from engine import EvalCompleted, StepCompleted, TrainingStarted
from tui.format import format_rate, set_text
from tui.widgets.run_header import RateWindow

SPARK_POINTS = 60


class StatsPanel(Vertical):
    """Latest training numbers; the sparkline keeps the last SPARK_POINTS tokens/s readings."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.last: StepCompleted | None = None
        self.best_val: float | None = None
        self.last_eval: EvalCompleted | None = None
        self.vocab_size = 0
        self.rates: deque[float] = deque(maxlen=SPARK_POINTS)
        self.rate = RateWindow()

    def compose(self) -> ComposeResult:
        yield Static(id="stats-text")
        yield Static("tokens/s", classes="caption")
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
            elif isinstance(event, EvalCompleted):
                self.last_eval = event
                if self.best_val is None or event.val_loss < self.best_val:
                    self.best_val = event.val_loss
            elif isinstance(event, TrainingStarted):
                self.vocab_size = event.vocab_size
        self._render_text()
        self.query_one(Sparkline).data = list(self.rates)

    def _render_text(self) -> None:
        def row(label: str, value: str) -> str:
            return f"[$foreground-muted]{label:<10}[/] {value}"

        last, ev = self.last, self.last_eval
        rows = [
            row("loss", f"[b]{last.loss:.4f}[/b]" if last else "–"),
            row("best val", f"{self.best_val:.4f}" if self.best_val is not None else "–"),
            row("val−train", f"{ev.val_loss - ev.train_loss:+.4f}" if ev else "–"),
            row("guessing", f"{math.log(self.vocab_size):.4f}" if self.vocab_size > 1 else "–"),
            row("lr", f"{last.lr:.2e}" if last else "–"),
            row("grad norm", f"{last.grad_norm:.3f}" if last else "–"),
            row(
                "tokens/s",
                format_rate(self.rate.tokens_per_s or last.tokens_per_s) if last else "–",
            ),
            row("tokens", f"{last.tokens_seen:,}" if last else "–"),
        ]
        set_text(self.query_one("#stats-text", Static), "\n".join(rows))
