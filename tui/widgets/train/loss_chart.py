"""The live loss chart: raw train loss (faint), a debiased EMA (bold), the eval points (val, and
train measured at the same evals), the best val, where the model overfits, and landmarks: the
loss of random guessing, ln(V), and what counting alone achieves (unigram and bigram). Phase
changes (an induction head formed, in-context learning jumped) are vertical lines, labelled.

The history (loss_history.py) is drawn downsampled to about twice the plot width, and a timer
redraws at most REDRAWS_PER_S times a second whatever the step rate (mark_dirty counts new data).
On a log axis the chart plots log10 of each loss itself and labels the ticks with real losses:
plotext's own log scale drew nothing here. While the run is replayed, it draws the history as it
stood at the replayed step (`until`), as the chart then looked.
"""

from __future__ import annotations

import math

from textual.color import Color
from textual_plotext import PlotextPlot

from tui.format import cell_label, fit
from tui.state.compare import ComparedRun
from tui.state.learning import Phase
from tui.state.loss_history import LossHistory
from tui.widgets.kept_lines import KeptLines
from tui.widgets.plotext_lines import (
    build_matrix,
    log_ticks,
    matrix_lines,
    nice_ticks,
    plot_area,
    shade_spans,
    write_cells,
)
from tui.widgets.train.chart_legend import LegendEntry

REDRAWS_PER_S = 2  # each draw costs milliseconds of a core that training would rather have
# What the x axis can measure (`x` cycles): runs compared by tokens or by training time, not
# only by steps, since two recipes may differ in batch size or in the cost of a step.
X_AXES = {"step": "step →", "tokens": "tokens seen →", "seconds": "training seconds →"}


class LossChart(KeptLines, PlotextPlot):
    """Loss against step, tokens seen or training seconds, with other runs' curves beside it
    (`compared`); mark_dirty() says new data waits for the next tick."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.history = LossHistory()
        self.vocab_size = 0
        self.pretrained = False  # the weights came from a pretrained model (--init-from)
        self.unigram: float | None = None  # landmarks from TrainingStarted (engine.data.baselines)
        self.bigram: float | None = None
        self.log_y = False
        self.x_axis = "step"
        self.compared: list[ComparedRun] = []
        self.phases: list[Phase] = []  # in step order
        self.data_version = 0  # bumped by mark_dirty: new points to draw
        self.shown_version = 0  # the data version the timer last let through to the screen
        self.draws = 0
        self.until: int | None = None  # the replayed step, drawn as the history stood then
        self.drawn_last: tuple[int, float] | None = None  # (step, EMA) of the last point drawn
        self._shade: tuple[list[tuple[float, float]], float, float] = ([], 0.0, 1.0)
        self._phase_marks: list[tuple[Phase, float]] = []  # each marked phase and its x, drawn

    def on_mount(self) -> None:
        super().on_mount()
        self.redraw_timer = self.set_interval(1 / REDRAWS_PER_S, self._tick)

    def mark_dirty(self) -> None:
        self.data_version += 1

    def add_phase(self, phase: Phase) -> None:
        """Mark a phase change (once per label: a resumed run may announce it again)."""
        self.phases = sorted(
            [p for p in self.phases if p.label != phase.label] + [phase], key=lambda p: p.step
        )
        self.mark_dirty()

    def show_until(self, step: int | None, now: bool = False) -> None:
        """Draw the history up to `step` (None: all of it); `now`, or at the next tick (a playing
        replay moves on faster than the chart redraws)."""
        self.until = step
        self.mark_dirty()
        if now:
            self._tick()

    def shown_history(self) -> LossHistory:
        """What the chart draws: the history, or as it stood at the replayed step."""
        return self.history if self.until is None else self.history.up_to(self.until)

    def shown_phases(self) -> list[Phase]:
        """The phase changes the chart marks: those of the history shown."""
        return [p for p in self.phases if self.until is None or p.step <= self.until]

    def toggle_log(self) -> None:
        self.log_y = not self.log_y
        self.refresh()

    @property
    def x_tokens(self) -> bool:
        return self.x_axis == "tokens"

    def toggle_x(self) -> str:
        """The next x axis: step, then tokens seen, then training seconds."""
        axes = list(X_AXES)
        self.x_axis = axes[(axes.index(self.x_axis) + 1) % len(axes)]
        self.refresh()
        return self.x_axis

    def set_compared(self, runs: list[ComparedRun]) -> None:
        for run in runs:
            if run.history.smoothing != self.history.smoothing:
                run.history.set_smoothing(self.history.smoothing)
        self.compared = runs
        self.refresh()

    def change_smoothing(self, delta: float) -> float:
        # Steps in "how many steps the EMA spans", which feels even, not in beta itself.
        span = 1 / max(1e-3, 1 - self.history.smoothing) + delta
        self.history.set_smoothing(1 - 1 / min(1000.0, max(1.0, span)))
        for run in self.compared:
            run.history.set_smoothing(self.history.smoothing)
        self.refresh()
        return self.history.smoothing

    def _color(self, name: str, fade: float = 0.0) -> tuple[int, int, int]:
        variables = self.app.theme_variables
        color = Color.parse(variables.get(name, variables["foreground"]))
        if fade:
            color = color.blend(Color.parse(variables["surface"]), fade)
        return color.rgb

    def legend(self) -> list[LegendEntry]:
        """What each mark means, in the colours it is drawn in."""
        entries = [
            LegendEntry("▀", "primary", "train EMA", "Smoothing (EMA)"),
            LegendEntry("·", "primary", "batch loss", "Cross-entropy loss"),
            LegendEntry("○", "primary", "train at eval", "Train and validation loss"),
            LegendEntry("●", "accent", "val", "Train and validation loss"),
            LegendEntry("◆", "accent", "best val", "Train and validation loss"),
            LegendEntry("█", "error 20%", "overfitting", "Overfitting"),
        ]
        for name, value, color in self.landmarks():
            heading = "Cross-entropy loss" if name == "ln V" else "Unigram and bigram baselines"
            entries.append(LegendEntry("──", color, f"{name} {value:.2f}", heading))
        if self.shown_phases():
            entries.append(LegendEntry("│", "foreground", "phase change", "Phase change"))
        for run in self.compared:
            color = "#{:02x}{:02x}{:02x}".format(*run.color)
            name = fit(cell_label(run.name), 24).rstrip()  # cut, not padded
            entries.append(LegendEntry("━●", color, name, "Comparing runs"))
        return entries

    def _tick(self) -> None:
        # New points reach the screen only here, so the chart redraws at most REDRAWS_PER_S times
        # a second however fast steps arrive. Not while another view shows: the switch back
        # would then wait for a redraw; this way it shows the kept drawing, and the next tick
        # brings it up to date.
        if self.data_version != self.shown_version and self.region:
            self.shown_version = self.data_version
            self.refresh()

    def render_key(self):
        history = self.history
        return (
            self.shown_version,
            self.landmarks(),
            self.log_y,
            self.x_axis,
            history.smoothing,
            tuple(run.key for run in self.compared),
            tuple(self.phases),
        )

    def landmarks(self) -> list[tuple[str, float, str]]:
        """(name, loss, theme colour) of each horizontal line: guessing, then counting."""
        marks = []
        if self.vocab_size > 1:
            marks.append(("ln V", math.log(self.vocab_size), "error"))
        if self.unigram is not None:
            marks.append(("unigram", self.unigram, "foreground-muted"))
        if self.bigram is not None:
            marks.append(("bigram", self.bigram, "success"))
        return marks

    def kept_render(self):
        """plotext's cell grids, drawn for the current size and theme (or a one-line error)."""
        self.draws += 1
        self._draw()
        width, height = self.size
        plot = self._plot
        try:
            plot.plotsize(width, height)
            plot._set_size(width, height)  # as PlotextPlot.render does: plotsize is not enough
            plot.theme(self._get_plotext_theme_name(self.app.theme))
            matrix = build_matrix(plot)
            spans, x0, x1 = self._shade
            shade_spans(matrix, spans, x0, x1, self._color("error", 0.8))
            self._label_phases(matrix, x0, x1)
            return matrix
        except Exception as error:  # noqa: BLE001 - a plotting glitch must not kill the app
            return f"(chart unavailable: {type(error).__name__})"

    def lines_from(self, rendered, width: int, height: int, style):
        if isinstance(rendered, str):
            return super().lines_from(rendered, width, height, style)
        return matrix_lines(rendered, width, height, style.rich_style)

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        history, axis = self.shown_history(), self.x_axis
        plt.xlabel(X_AXES[axis])
        plt.ylabel("↑ loss, nats (log scale)" if self.log_y else "↑ loss, nats")
        self._shade = ([], 0.0, 1.0)
        self._phase_marks = []
        self.drawn_last = (history.steps[-1], history.ema[-1]) if history else None
        if not history:
            plt.title(self.empty_title(history))
            return
        columns = max(10, self.size.width)
        steps, tokens, loss, ema = history.downsampled(2 * columns)
        xs = tokens if axis == "tokens" else history.x_at(steps, axis)
        y = self._y
        y_values = loss + [v for _, v in history.val]
        marks = self.landmarks()
        y_values += [value for _, value, _ in marks]
        x_low, x_high = xs[0], xs[-1]
        others = [self._compared_series(run, columns) for run in self.compared]
        for _, cx, cy, vx, vy in others:
            y_values += cy + vy
            x_low, x_high = min([x_low, *cx, *vx]), max([x_high, *cx, *vx])
        low, high = y([min(y_values), max(y_values)])
        pad = (high - low) * 0.05 or 0.1
        low, high = low - pad, high + pad
        if not self.log_y:
            low = max(low, 0.0)  # a loss is never negative: no "-0.20" under a loss near 0

        def x_of(points: list[tuple[int, float]]) -> list[float]:
            return history.x_at([step for step, _ in points], axis)

        # Overfitting is shaded behind everything once plotext has drawn (kept_render).
        spans = history.overfit_spans()
        starts, ends = x_of([(a, 0) for a, _ in spans]), x_of([(b, 0) for _, b in spans])
        self._shade = (list(zip(starts, ends, strict=True)), x_low, x_high)
        for _, value, color in marks:
            plt.hline(y([value])[0], color=self._color(color, 0.3))  # one call: far cheaper
        for color, cx, cy, vx, vy in others:  # under the live run's marks
            plt.plot(cx, y(cy), color=color, marker="braille")
            plt.scatter(vx, y(vy), color=color, marker="●")
        plt.plot(xs, y(loss), color=self._color("primary", 0.6), marker="dot")
        # The EMA is smooth, so one point per column is enough; its line marker costs the most.
        stride = max(1, len(xs) // columns)
        plt.plot(xs[::stride], y(ema[::stride]), color=self._color("primary"), marker="hd")
        every = max(1, len(history.val) // columns)
        if history.eval_train:
            points = history.eval_train[::every]
            train_y = y([v for _, v in points])
            plt.scatter(x_of(points), train_y, color=self._color("primary"), marker="○")
        if history.val:
            points = history.val[::every]
            val_y = y([v for _, v in points])
            plt.scatter(x_of(points), val_y, color=self._color("accent"), marker="●")
            best = history.best_val()
            plt.scatter(x_of([best]), y([best[1]]), color=self._color("accent"), marker="◆")
        if x_high <= x_low:
            x_high = x_low + 1
        self._mark_phases(history, x_low, x_high)
        plt.xlim(x_low, x_high)  # without it plotext lets the last points spill past the frame
        plt.xticks(*nice_ticks(x_low, x_high))
        plt.ylim(low, high)
        if self.log_y:
            plt.yticks(*log_ticks(10**low, 10**high))

    def empty_title(self, history: LossHistory) -> str:
        """What the chart says while the history it draws has no step."""
        if self.pretrained and history.val:  # --steps 0: the loaded model, not trained here
            return f"pretrained, not trained here: val {history.val[-1][1]:.3f} at step 0"
        if self.until is not None and self.history:
            return "step 0: not trained yet"
        return "waiting for the first step…"

    def _mark_phases(self, history: LossHistory, x_low: float, x_high: float) -> None:
        """A vertical line at each phase change in view; kept_render labels them."""
        phases = self.shown_phases()
        xs = history.x_at([p.step for p in phases], self.x_axis)
        marks = zip(phases, xs, strict=True)
        self._phase_marks = [(phase, x) for phase, x in marks if x_low <= x <= x_high]
        for _, x in self._phase_marks:
            self.plt.vline(x, color=self._color("foreground", 0.35))

    def _label_phases(self, matrix, x_low: float, x_high: float) -> None:
        """Each phase change's label in the plot's top row, right of its line, where it fits
        and does not run into the one before (the legend and the Learning view name them all)."""
        area = plot_area(matrix, x_low, x_high)
        if area is None:
            return
        free = 0  # the first column a label may start at
        for phase, x in self._phase_marks:
            column = area.column(x) + 1
            cells = list(phase.label)  # plain ASCII: "L1H0 induction", "ICL jump"
            if column >= free and column + len(cells) < area.right:
                write_cells(matrix, area.top - 1, column, cells, self._color("foreground"))
                free = column + len(cells) + 1

    def _compared_series(self, run: ComparedRun, columns: int):
        """(colour, EMA x, EMA y, val x, val y) of another run, one point per column."""
        history, axis = run.history, self.x_axis
        # A compared run's history never changes once read: its series are worked out once per
        # width, axis and smoothing, not at every redraw of the live run.
        key = (columns, axis, history.smoothing)
        if key in run.series:
            return run.series[key]
        if not history:
            return run.color, [], [], [], []
        steps, tokens, _, ema = history.downsampled(columns)
        xs = tokens if axis == "tokens" else history.x_at(steps, axis)
        val = history.val[:: max(1, len(history.val) // columns)]
        val_x = history.x_at([step for step, _ in val], axis)
        run.series = {key: (run.color, xs, ema, val_x, [v for _, v in val])}
        return run.series[key]

    def _y(self, values: list[float]) -> list[float]:
        """Loss values as plotted: log10 of each on a log axis (a loss of 0 drawn at 1e-6)."""
        if not self.log_y:
            return values
        return [math.log10(max(value, 1e-6)) for value in values]
