"""The Train view: loss chart, stats panel and sample time-lapse, with the chart's key bindings.

While the run is replayed (View.at_step), the chart, the stats and the samples show the replayed
step; the where-wrong passage is measured on the model as it is now, and says so.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical

from engine import (
    EngineError,
    EvalCompleted,
    Event,
    PhaseChanged,
    RunClient,
    StepCompleted,
    TrainingStarted,
    visible,
)
from tui.format import one_line
from tui.screens.help import ViewHelp
from tui.screens.runs import RunsScreen
from tui.state.compare import add_events, free_color, mismatch, read_more, read_run
from tui.state.learning import phase_of
from tui.views.view import View
from tui.widgets.train.chart_legend import ChartLegend
from tui.widgets.train.lesson_chart import LessonChart
from tui.widgets.train.loss_chart import LossChart
from tui.widgets.train.sample_log import SampleLog
from tui.widgets.train.stats_panel import StatsPanel
from tui.widgets.train.surprise_passage import SurprisePassage


class TrainView(View):
    """Routes training events to the chart, the stats and the samples."""

    HELP = ViewHelp(
        "Train",
        """\
The **loss chart** shows how wrong the model's next-token guesses are, in nats (natural-log
units). The faint dots are the raw loss of each training batch; the bold line is their smoothed
average (an EMA, `[` and `]` change how smooth). At every eval both losses are measured again on
the same fixed batches: hollow circles for train, filled ones for **validation**, text the model
never trains on; the diamond marks the best val so far. Where val rises while train keeps
falling, the model is memorising: that stretch is shaded.

Dashed lines are landmarks. The top one is random guessing, ln(vocabulary size): a model starts
there. The other two are what counting alone achieves on the val text, from the training text's
token frequencies (unigram) and pair frequencies (bigram): a model that has learned anything
beyond counting falls below them. A vertical line marks a **phase change** (an induction head
formed, or in-context learning jumped), named at the top.

Beside the chart: perplexity (e to the loss: as unsure as a choice among that many tokens),
epochs (passes over the training text), the model's parameter count, and the learning-rate
schedule with where training is now. Click any legend entry or stats label to learn more.

**Comparing runs:** `c` lists the other runs; pick one to draw its val points and smoothed
train curve beside this run, each run in a colour of its own (or start with `--compare RUN_DIR`).
Compare by tokens seen or training seconds (`x`) when the runs' steps differ in size or cost.

Keys: `l` log-scale y · `x` steps, tokens seen or training seconds on the x axis · `c` compare
runs · `r` the run's report, a web page · `space` pause/resume · `s` save a checkpoint · `g`
draw a sample now. Samples appear
below, one per eval; the panel follows the newest unless you scroll up (`end` follows again).

**Replay:** `p` plays the run's history back from step 0, even while it trains: the chart, the
stats and the samples show each step as it was, and so do the other views (Attention the snapshot
at or before it; Generate and Inside ask the weights kept nearest before it). The bar under the
header says "replaying step N of M": `space` pauses, `←`/`→` go by eval, `f` changes the speed
(one eval a second, or ×0.1 to ×1000 the run's own training time), a click on the bar's slider
jumps, and `esc` goes back to live.

`w` swaps the samples for **where the model is wrong**: a passage of validation text coloured by
each token's loss (red: the model did not see it coming), measured again at every eval. `←`/`→`
or a click pick a token, to see its loss and what the model expected there instead.

A **task** run (`--task modadd` or `induction`, presets `grokking` and `induction`) shows its
lesson in place of the samples. Grokking: train and val **accuracy** with the weights' total norm
(weight decay pulls it down), a line where the model **memorised** its training pairs and one
where val accuracy turns (**grokking**). Induction: the val loss on each stretch's first
copy, random tokens nothing predicts, against its repeat, which only copying predicts, with a
line where an **induction head** formed (a **phase change**). The chart's loss is then on the
answers alone.""",
        [
            "Cross-entropy loss",
            "Train and validation loss",
            "Smoothing (EMA)",
            "Unigram and bigram baselines",
            "Overfitting",
            "Perplexity",
            "Epoch",
            "Parameters",
            "Learning rate",
            "Warmup and cosine schedule",
            "Gradient",
            "Gradient norm and clipping",
            "Tokens per second and ETA",
            "Comparing runs",
            "Token",
            "Batch",
            "Vocabulary",
            "AdamW",
            "Backpropagation",
            "Per-token loss",
            "Synthetic tasks",
            "Accuracy",
            "Memorisation",
            "Generalisation",
            "Grokking",
            "Weight decay",
            "Induction head",
            "Phase change",
            "Replay and kept weights",
            "Pretrained GPT-2",
        ],
    )

    REPLAY_ARROWS = True
    BINDINGS = [
        Binding("l", "toggle_log", "Log y"),
        Binding("x", "toggle_x", "Steps/tokens/seconds", show=False),
        Binding("c", "compare", "Compare", show=False),
        Binding("left_square_bracket", "smoothing(-1)", "Less smooth", show=False),
        Binding("right_square_bracket", "smoothing(1)", "More smooth", show=False),
        Binding("w", "toggle_wrong", "Where wrong"),
        Binding("p", "app.replay", "Replay"),
        Binding("r", "report", "Report", show=False),
    ]

    def compose(self) -> ComposeResult:
        with Horizontal(id="train-top"):
            with Vertical(id="chart-box"):
                yield ChartLegend(id="chart-legend")
                yield LossChart(id="loss-chart")
            yield StatsPanel(id="stats")
        yield SampleLog(id="samples")
        with Vertical(id="lesson"):
            yield ChartLegend(id="lesson-legend")
            yield LessonChart(id="lesson-chart")
        yield SurprisePassage(id="wrong")

    runs_root = Path("runs")  # where the runs list looks (the `runs` command's default)
    follow_s = 2.0  # how often a compared run that is still training is read again

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.started: TrainingStarted | None = None

    def on_mount(self) -> None:
        chart = self.query_one(LossChart)
        chart.can_focus = True
        self.query_one("#chart-legend", ChartLegend).show(chart.legend())
        self.set_interval(self.follow_s, self._follow_compared)

    def _follow_compared(self) -> None:
        if any(not run.state.ended for run in self.query_one(LossChart).compared):
            self.run_worker(self._read_compared(), group="compare-follow", exclusive=True)

    async def _read_compared(self) -> None:
        """Add what the compared runs still training have written since they were last read."""
        chart = self.query_one(LossChart)
        grown = False
        for run in [run for run in chart.compared if not run.state.ended]:
            events, offset = await asyncio.to_thread(read_more, run)
            if any(shown is run for shown in chart.compared):  # not taken off meanwhile
                add_events(run, events, offset)
                grown = grown or bool(events)
        if grown:
            chart.refresh()

    def focus_main(self) -> None:
        self.query_one(LossChart).focus()

    def ingest(self, events: list[Event]) -> None:
        chart = self.query_one(LossChart)
        for event in events:
            if isinstance(event, StepCompleted):
                chart.history.add_step(
                    event.step, event.loss, event.tokens_seen, event.elapsed_s, event.merged
                )
            elif isinstance(event, EvalCompleted):
                chart.history.add_eval(event.step, event.val_loss, event.train_loss)
            elif isinstance(event, PhaseChanged):
                chart.add_phase(phase_of(event))
                self.query_one("#chart-legend", ChartLegend).show(chart.legend())
            elif isinstance(event, TrainingStarted):
                self.started = event
                for run in chart.compared:
                    self._warn_if_not_comparable(run)
                chart.vocab_size = event.vocab_size
                chart.pretrained = bool(event.pretrained)
                chart.unigram, chart.bigram = event.unigram_loss, event.bigram_loss
                self.query_one("#chart-legend", ChartLegend).show(chart.legend())
        chart.mark_dirty()
        lesson = self.query_one(LessonChart)
        if lesson.lesson.ingest(events):
            self._show_lesson(lesson)
        self.query_one(StatsPanel).ingest(events)
        self.query_one(SampleLog).ingest(events)
        self.query_one(SurprisePassage).ingest(events)
        self._measure_if_shown()

    def _show_lesson(self, lesson: LessonChart) -> None:
        """A task run's lesson takes the samples' place (where wrong still swaps in on w)."""
        if lesson.lesson.task and not self.has_class("-task"):
            self.add_class("-task")
            title = "grokking" if lesson.lesson.task == "modadd" else "induction"
            self.query_one("#lesson").border_title = f"the lesson: {title}"
            legend = self.query_one("#lesson-legend", ChartLegend)
            legend.show(lesson.legend())
            # Laid out while hidden it guessed its width: again once the lesson is on screen.
            self.call_after_refresh(legend.show, lesson.legend())
            if not self.query_one(SurprisePassage).display:
                self.query_one(SampleLog).display = False
                self.query_one("#lesson").display = True
        lesson.refresh()

    @property
    def _bottom(self):
        """What w swaps with where wrong: the samples, or a task run's lesson."""
        return self.query_one("#lesson") if self.has_class("-task") else self.query_one(SampleLog)

    def set_client(self, client: RunClient) -> None:
        super().set_client(client)
        self.query_one(SurprisePassage).stale = True
        self._measure_if_shown()

    def replay_moved(self) -> None:
        step = self.at_step
        playing = self.clock is not None and self.clock.playing
        self.query_one(LossChart).show_until(step, now=not playing)  # a key press shows at once
        self.query_one(StatsPanel).show_step(step)
        self.query_one(SampleLog).show_until(step)
        self.query_one(LessonChart).show_until(step)
        # token_losses has no at_step: the passage is the model's now, whatever step replays.
        now = "measured on the model now, not the replayed step" if step is not None else ""
        self.query_one(SurprisePassage).border_subtitle = now

    def _measure_if_shown(self) -> None:
        passage = self.query_one(SurprisePassage)
        if passage.stale and passage.display and self.showing:
            self.measure()

    def measure(self) -> None:
        """Ask the engine for the passage's per-token losses (again after each eval)."""
        passage = self.query_one(SurprisePassage)
        if self.ask(
            lambda client: client.token_losses(), passage.show, passage.show_error, group="surprise"
        ):
            passage.stale = False

    def action_toggle_wrong(self) -> None:
        """Show where the model is wrong in place of the samples, or the samples again."""
        passage, samples = self.query_one(SurprisePassage), self._bottom
        passage.display, samples.display = not passage.display, passage.display
        if passage.display:
            passage.focus()
            if passage.stale or passage.passage is None:
                self.measure()
        else:
            self.focus_main()

    def action_toggle_log(self) -> None:
        chart = self.query_one(LossChart)
        chart.toggle_log()
        self.notify("log-scale y" if chart.log_y else "linear y", timeout=1.5)

    def action_toggle_x(self) -> None:
        axis = self.query_one(LossChart).toggle_x()
        self.notify(f"x axis: {axis}", timeout=1.5)

    def action_compare(self) -> None:
        """List the runs; the one picked is drawn beside this one (or taken off if drawn)."""
        current = Path(self.started.run_dir) if self.started and self.started.run_dir else None
        drawn = [run.path for run in self.query_one(LossChart).compared]

        def picked(path: Path | None) -> None:
            if path is not None:
                self.run_worker(self.compare_with(path), group="compare")

        self.app.push_screen(RunsScreen(self.runs_root, current, drawn), picked)

    async def compare_all(self, paths: list[Path]) -> None:
        """Draw each run in turn: in the order given, so each gets the same colour every time."""
        for path in paths:
            await self.compare_with(path)

    async def compare_with(self, path: Path) -> None:
        """Draw another run's curves on the chart, or take them off if they are drawn."""
        chart = self.query_one(LossChart)
        kept = [run for run in chart.compared if run.path.resolve() != path.resolve()]
        if len(kept) < len(chart.compared):
            self._show_compared(kept)
            self.notify(f"{visible(path.name)} taken off the chart", timeout=2, markup=False)
            return
        try:
            run = await asyncio.to_thread(read_run, path, chart.history.smoothing)
        except (EngineError, OSError) as error:
            self.notify(one_line(error), severity="error", markup=False)
            return
        run.color = free_color([other.color for other in chart.compared])
        self._warn_if_not_comparable(run)
        self._show_compared([*chart.compared, run])

    def _show_compared(self, runs: list) -> None:
        chart = self.query_one(LossChart)
        chart.set_compared(runs)
        self.query_one("#chart-legend", ChartLegend).show(chart.legend())

    def _warn_if_not_comparable(self, run) -> None:
        if self.started and (why := mismatch(run, self.started.tokenizer, self.started.vocab_size)):
            self.notify(visible(why), severity="warning", timeout=8, markup=False)

    def action_report(self) -> None:
        """Write the run's report (RUN_DIR/report.html) in a thread, then say where it is."""
        run_dir = self.client.run_dir if self.client is not None else None
        if run_dir is None and self.started and self.started.run_dir:
            run_dir = Path(self.started.run_dir)
        if run_dir is None:
            self.notify("No run to report on yet.", severity="warning", timeout=2)
            return
        self.notify("writing the report…", timeout=2)
        self._write_report(Path(run_dir))

    @work(thread=True, group="report", exclusive=True, exit_on_error=False)
    def _write_report(self, run_dir: Path) -> None:
        from engine import write_report  # its module loads on first use, not with the app

        try:
            path = write_report(run_dir)
        except Exception as error:  # noqa: BLE001 - a failed report is shown, never raised
            message = f"Could not write the report: {one_line(error)}"
            self.app.call_from_thread(self.notify, message, severity="error", markup=False)
            return
        where = visible(str(path.resolve()))
        self.app.call_from_thread(
            self.notify, f"Report saved to {where}: open it in a browser", timeout=8, markup=False
        )
        if self.app.is_web:  # served (llmlearns-tui serve): the browser opens it too
            self.app.call_from_thread(
                self.app.deliver_text, path, open_method="browser", mime_type="text/html"
            )

    def action_smoothing(self, direction: int) -> None:
        chart = self.query_one(LossChart)
        span = 1 / max(1e-3, 1 - chart.history.smoothing)
        beta = chart.change_smoothing(direction * max(1.0, span * 0.5))
        self.notify(f"EMA smoothing {beta:.3f} (≈{1 / (1 - beta):.0f} steps)", timeout=1.5)
