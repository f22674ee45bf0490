"""The Train view: loss chart, stats panel and sample time-lapse, with the chart's key bindings."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal

from engine import EvalCompleted, StepCompleted, TrainingStarted
from tui.views.view import View, ViewHelp
from tui.widgets.loss_chart import LossChart
from tui.widgets.sample_log import SampleLog
from tui.widgets.stats_panel import StatsPanel
from tui.widgets.surprise_passage import SurprisePassage


class TrainView(View):
    """Routes training events to the chart, the stats and the samples."""

    HELP = ViewHelp(
        "Train",
        """\
The **loss chart** shows how wrong the model's next-token guesses are. The faint line is the raw
loss of each training batch; the bold line is its smoothed average (an EMA, `[` and `]` change
how smooth). Dots are the **validation loss**, measured on text the model never trains on: when it
climbs while the train loss keeps falling, the model is memorising. The dashed line is the loss
of random guessing, ln(vocabulary size): a model starts there and should fall below it quickly.

Keys: `l` log-scale y · `x` steps or tokens seen on the x axis · `space` pause/resume ·
`s` save a checkpoint · `g` draw a sample now. Samples appear below, one per eval.

`w` swaps the samples for **where the model is wrong**: a passage of validation text coloured by
each token's loss (red: the model did not see it coming), measured again at every eval. `←`/`→`
or a click pick a token, to see its loss and what the model expected there instead.""",
        [
            "Cross-entropy loss",
            "Train and validation loss",
            "Learning rate",
            "Gradient",
            "Batch",
            "Epoch",
            "Vocabulary",
            "AdamW",
            "Backpropagation",
            "Overfitting",
            "Perplexity",
            "Unigram and bigram baselines",
            "Parameters",
            "Per-token loss",
        ],
    )

    BINDINGS = [
        Binding("l", "toggle_log", "Log y"),
        Binding("x", "toggle_x", "Steps/tokens", show=False),
        Binding("left_square_bracket", "smoothing(-1)", "Less smooth", show=False),
        Binding("right_square_bracket", "smoothing(1)", "More smooth", show=False),
        Binding("w", "toggle_wrong", "Where wrong"),
    ]

    def compose(self) -> ComposeResult:
        with Horizontal(id="train-top"):
            yield LossChart(id="loss-chart")
            yield StatsPanel(id="stats")
        yield SampleLog(id="samples")
        yield SurprisePassage(id="wrong")

    def on_mount(self) -> None:
        self.query_one(LossChart).can_focus = True

    def focus_main(self) -> None:
        self.query_one(LossChart).focus()

    def ingest(self, events: list) -> None:
        chart = self.query_one(LossChart)
        for event in events:
            if isinstance(event, StepCompleted):
                chart.history.add_step(event.step, event.loss, event.tokens_seen)
            elif isinstance(event, EvalCompleted):
                chart.history.add_eval(event.step, event.val_loss)
            elif isinstance(event, TrainingStarted):
                chart.vocab_size = event.vocab_size
        chart.mark_dirty()
        self.query_one(StatsPanel).ingest(events)
        self.query_one(SampleLog).ingest(events)
        self.query_one(SurprisePassage).ingest(events)

    def set_client(self, client) -> None:
        self.query_one(SurprisePassage).set_client(client)

    def action_toggle_wrong(self) -> None:
        """Show where the model is wrong in place of the samples, or the samples again."""
        passage, samples = self.query_one(SurprisePassage), self.query_one(SampleLog)
        passage.display, samples.display = not passage.display, passage.display
        if passage.display:
            passage.focus()
            if passage.stale or passage.passage is None:
                passage.fetch()
        else:
            self.focus_main()

    def action_toggle_log(self) -> None:
        chart = self.query_one(LossChart)
        chart.toggle_log()
        self.notify("log-scale y" if chart.log_y else "linear y", timeout=1.5)

    def action_toggle_x(self) -> None:
        self.query_one(LossChart).toggle_x()

    def action_smoothing(self, direction: int) -> None:
        chart = self.query_one(LossChart)
        span = 1 / max(1e-3, 1 - chart.history.smoothing)
        beta = chart.change_smoothing(direction * max(1.0, span * 0.5))
        self.notify(f"EMA smoothing {beta:.3f} (≈{1 / (1 - beta):.0f} steps)", timeout=1.5)
