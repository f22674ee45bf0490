"""A task run's lesson chart, under the loss chart (tui/state/lesson.py holds what it draws).

modadd: train and val accuracy (%) and the weights' total norm (as a share of its peak), with a
line where the model memorised its training pairs and one where val accuracy turned (grokking).
induction: the val loss on the stretches' first copies (random, nothing predicts them) against
their repeats (predictable by copying), with ln V (guessing at random) and a line where an
induction head formed.
"""

from __future__ import annotations

import math

from textual.color import Color
from textual_plotext import PlotextPlot

from engine import PHASE_LABELS, PhaseKind
from tui.state.learning import PHASE_ENTRIES
from tui.state.lesson import Lesson
from tui.widgets.kept_lines import KeptLines
from tui.widgets.plotext_lines import build_matrix, matrix_lines
from tui.widgets.train.chart_legend import LegendEntry
from tui.widgets.train.loss_chart import nice_ticks

# The lesson draws one line for any head's induction, so that one is not named for a head.
MARKER_NAMES = {**PHASE_LABELS, PhaseKind.INDUCTION: "induction head"}
MARKER_COLORS = {
    PhaseKind.MEMORISED: "warning",
    PhaseKind.GENERALISED: "success",
    PhaseKind.INDUCTION: "success",
}


def _entry(kind: PhaseKind) -> tuple[str, str]:
    """A marker's legend words and its Learn entry."""
    return PHASE_LABELS[kind], PHASE_ENTRIES[kind]


class LessonChart(KeptLines, PlotextPlot):
    """Draws `lesson`; mark_dirty() after feeding it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lesson = Lesson()
        self.draws = 0
        self.until: int | None = None  # the replayed step: nothing after it is drawn

    def render_key(self):
        return self.lesson.version, self.until

    def show_until(self, step: int | None) -> None:
        """Draw the lesson as it stood at `step` (None: all of it, live)."""
        if step != self.until:
            self.until = step
            self.refresh()

    def _upto(self, rows: list) -> list:
        until = self.until
        return rows if until is None else [row for row in rows if row[0] <= until]

    def legend(self) -> list[LegendEntry]:
        """What each mark means, in its colour, each linked to its Learn entry."""
        lesson = self.lesson
        if lesson.task == "modadd":
            entries = [
                LegendEntry("○", "primary", "train accuracy", "Memorisation"),
                LegendEntry("●", "accent", "val accuracy", "Generalisation"),
                LegendEntry("·", "foreground-muted", "weight norm, % of peak", "Weight decay"),
                LegendEntry("│", "warning", *_entry(PhaseKind.MEMORISED)),
                LegendEntry("│", "success", *_entry(PhaseKind.GENERALISED)),
            ]
        elif lesson.task == "induction":
            entries = [
                LegendEntry("○", "primary", "first copies (random)", "Induction task"),
                LegendEntry("●", "accent", "repeats (by copying)", "Induction head"),
                LegendEntry("──", "error", "ln V: guessing", "Cross-entropy loss"),
                LegendEntry("│", "success", "induction head formed", "Phase change"),
            ]
        else:
            return []
        return entries

    def _color(self, name: str) -> tuple[int, int, int]:
        variables = self.app.theme_variables
        return Color.parse(variables.get(name, variables["foreground"])).rgb

    def kept_render(self):
        self.draws += 1
        plot = self._plot
        width, height = self.size
        try:
            plot.clear_data()
            plot.clear_figure()
            plot.plotsize(width, height)
            plot._set_size(width, height)  # as PlotextPlot.render does: plotsize is not enough
            plot.theme(self._get_plotext_theme_name(self.app.theme))
            self._draw()
            return build_matrix(plot)
        except Exception as error:  # noqa: BLE001 - a plotting glitch must not kill the app
            return f"(chart unavailable: {type(error).__name__})"

    def lines_from(self, rendered, width: int, height: int, style):
        if isinstance(rendered, str):
            return super().lines_from(rendered, width, height, style)
        return matrix_lines(rendered, width, height, style.rich_style)

    def _series(self, steps: list[int], values: list[float], color: str, mark: str) -> None:
        """One eval series: a line, and its legend's mark at each eval (as the loss chart's)."""
        rgb = self._color(color)
        self.plt.plot(steps, values, color=rgb, marker="hd")
        self.plt.scatter(steps, values, color=rgb, marker=mark)

    def _draw(self) -> None:
        plt, lesson = self.plt, self.lesson
        plt.xlabel("step →")
        rows = self._upto(lesson.accuracy if lesson.task == "modadd" else lesson.halves)
        norms = self._upto(lesson.norms)
        markers = [m for m in lesson.markers if self.until is None or m.step <= self.until]
        if not rows:
            plt.title("waiting for the first eval…")
            return
        steps = [row[0] for row in rows]
        last = max(steps[-1], norms[-1][0] if norms else 0, 1)
        if lesson.task == "modadd":
            plt.ylabel("↑ accuracy %")
            train = [100 * row[1] for row in rows]
            val = [100 * row[2] for row in rows]
            self._series(steps, train, "primary", "○")
            self._series(steps, val, "accent", "●")
            plt.ylim(0, 100)
            plt.yticks([0, 50, 100], ["0", "50", "100"])
            if norms:
                # On the accuracy's own axis, as a share of its peak: a right-hand axis drew its
                # labels inside the plot.
                norm_steps, norm_values = zip(*norms, strict=True)
                peak = max(norm_values) or 1.0
                shares = [100 * value / peak for value in norm_values]
                plt.plot(
                    list(norm_steps), shares, color=self._color("foreground-muted"), marker="dot"
                )
            top = 100.0
        else:
            plt.ylabel("↑ val loss, nats")
            first = [row[1] for row in rows]
            second = [row[2] for row in rows]
            guessing = math.log(lesson.vocab_size) if lesson.vocab_size > 1 else 0.0
            if guessing:
                plt.hline(guessing, color=self._color("error"))
            self._series(steps, first, "primary", "○")
            self._series(steps, second, "accent", "●")
            top = max(first + second + [guessing])
            plt.ylim(0, top * 1.05)
        for marker in markers:
            color = self._color(MARKER_COLORS.get(marker.phase, "success"))
            plt.vline(marker.step, color=color)
            plt.text(f" {MARKER_NAMES.get(marker.phase, str(marker.phase))}", marker.step, top,
                     color=color)  # fmt: skip
        plt.xlim(0, last)
        plt.xticks(*nice_ticks(0, last))
