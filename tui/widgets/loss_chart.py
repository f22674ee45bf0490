"""The live loss chart: raw train loss (faint), a debiased EMA (bold), val points, ln(V) line.

History is kept whole but drawn downsampled to about twice the plot width, and a timer redraws
at most REDRAWS_PER_S times a second whatever the step rate (mark_dirty counts new data).
"""

from __future__ import annotations

import math

from textual.color import Color
from textual_plotext import PlotextPlot

from tui.widgets.kept_lines import KeptLines
from tui.widgets.plotext_lines import build_matrix, matrix_lines

REDRAWS_PER_S = 2  # each draw costs milliseconds of a core that training would rather have


def nice_ticks(low: float, high: float, count: int = 5) -> tuple[list[float], list[str]]:
    """Round tick positions (1, 2 or 5 × 10^k apart) and short labels such as 1.5k."""
    span = max(high - low, 1.0)
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    ticks = [step * i for i in range(math.ceil(low / step), math.floor(high / step) + 1)]
    return ticks, [_short(t) for t in ticks]


def _short(value: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:g}{suffix}"
    return f"{value:g}"


class LossHistory:
    """Per-step train loss and tokens seen, a debiased EMA of the loss, and val points."""

    def __init__(self, smoothing: float = 0.9) -> None:
        self.steps: list[int] = []
        self.tokens: list[int] = []
        self.loss: list[float] = []
        self.ema: list[float] = []
        self.val: list[tuple[int, float]] = []  # (step, val_loss)
        self.train_eval: list[tuple[int, float]] = []  # (step, train_loss) from evals
        self.smoothing = smoothing
        self._ema_raw = 0.0

    def __len__(self) -> int:
        return len(self.steps)

    def add_step(self, step: int, loss: float, tokens_seen: int) -> None:
        if not math.isfinite(loss):
            return  # a skipped step; the failure notice reports it
        if self.steps and step <= self.steps[-1]:
            self.clear_from(step)  # a resumed run restarts from its checkpoint's step
        self.steps.append(step)
        self.tokens.append(tokens_seen)
        self.loss.append(loss)
        self._ema_raw = self.smoothing * self._ema_raw + (1 - self.smoothing) * loss
        # Debias as Adam does: the EMA starts at 0, so early values are scaled up.
        self.ema.append(self._ema_raw / (1 - self.smoothing ** len(self.loss)))

    def clear_from(self, step: int) -> None:
        keep = next((i for i, s in enumerate(self.steps) if s >= step), len(self.steps))
        for series in (self.steps, self.tokens, self.loss):
            del series[keep:]
        self.set_smoothing(self.smoothing)

    def set_smoothing(self, smoothing: float) -> None:
        self.smoothing = min(0.999, max(0.0, smoothing))
        self.ema, self._ema_raw = [], 0.0
        beta, raw = self.smoothing, 0.0
        for n, loss in enumerate(self.loss, 1):
            raw = beta * raw + (1 - beta) * loss
            self.ema.append(raw / (1 - beta**n))
        self._ema_raw = raw

    def tokens_at(self, step: int) -> float:
        """Tokens seen by `step`, interpolated from the latest rate (evals carry only steps)."""
        if not self.steps or not self.steps[-1]:
            return 0.0
        return step * self.tokens[-1] / self.steps[-1]

    def downsampled(self, points: int) -> tuple[list[int], list[int], list[float], list[float]]:
        """(steps, tokens, mean loss, EMA) in at most `points` buckets."""
        n = len(self.steps)
        size = max(1, math.ceil(n / max(1, points)))
        if size == 1:
            return self.steps, self.tokens, self.loss, self.ema
        ends = range(size - 1, n + size - 1, size)
        loss = [
            sum(self.loss[i : i + size]) / len(self.loss[i : i + size]) for i in range(0, n, size)
        ]
        last = [min(end, n - 1) for end in ends]
        return (
            [self.steps[i] for i in last],
            [self.tokens[i] for i in last],
            loss,
            [self.ema[i] for i in last],
        )


class LossChart(KeptLines, PlotextPlot):
    """Loss against step or tokens seen; mark_dirty() says new data waits for the next tick."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.history = LossHistory()
        self.vocab_size = 0
        self.log_y = False
        self.x_tokens = False
        self.data_version = 0  # bumped by mark_dirty: new points to draw
        self.shown_version = 0  # the data version the timer last let through to the screen
        self.draws = 0

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(1 / REDRAWS_PER_S, self._tick)

    def mark_dirty(self) -> None:
        self.data_version += 1

    def toggle_log(self) -> None:
        self.log_y = not self.log_y
        self.refresh()

    def toggle_x(self) -> None:
        self.x_tokens = not self.x_tokens
        self.refresh()

    def change_smoothing(self, delta: float) -> float:
        # Steps in "how many steps the EMA spans", which feels even, not in beta itself.
        span = 1 / max(1e-3, 1 - self.history.smoothing) + delta
        self.history.set_smoothing(1 - 1 / min(1000.0, max(1.0, span)))
        self.refresh()
        return self.history.smoothing

    def _color(self, name: str, fade: float = 0.0) -> tuple[int, int, int]:
        variables = self.app.theme_variables
        color = Color.parse(variables.get(name, variables["foreground"]))
        if fade:
            color = color.blend(Color.parse(variables["surface"]), fade)
        return color.rgb

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
        return (self.shown_version, self.vocab_size, self.log_y, self.x_tokens, history.smoothing)

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
            return build_matrix(plot)
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
        history = self.history
        plt.xlabel("tokens seen" if self.x_tokens else "step")
        plt.yscale("log" if self.log_y else "linear")
        if not history:
            plt.title("waiting for the first step…")
            return
        steps, tokens, loss, ema = history.downsampled(2 * max(10, self.size.width))
        xs = tokens if self.x_tokens else steps
        plt.plot(xs, loss, color=self._color("primary", 0.6), marker="dot")
        # The EMA is smooth, so one point per column is enough; its line marker costs the most.
        stride = max(1, len(xs) // max(10, self.size.width))
        plt.plot(xs[::stride], ema[::stride], color=self._color("primary"), marker="hd")
        if history.val:
            val = history.val[:: max(1, len(history.val) // max(10, self.size.width))]
            vx = [history.tokens_at(s) if self.x_tokens else s for s, _ in val]
            plt.scatter(vx, [v for _, v in val], color=self._color("accent"), marker="●")
        if self.vocab_size > 1:
            guess = math.log(self.vocab_size)
            dashes = [xs[0] + (xs[-1] - xs[0]) * i / 40 for i in range(41)]
            plt.scatter(dashes, [guess] * len(dashes), color=self._color("error", 0.3), marker="-")
        # A title instead of plotext's legend: the legend box hides the early, high loss and
        # crashes plotext on log axes.
        legend = "▀ train (EMA)  · raw  ● val"
        if self.vocab_size > 1:
            legend += f"  - - random guess ln V={math.log(self.vocab_size):.2f}"
        plt.title(legend)
        y_values = loss + [v for _, v in history.val]
        if self.vocab_size > 1:
            y_values.append(math.log(self.vocab_size))
        plt.xlim(xs[0], xs[-1])  # without it plotext lets the last points spill past the frame
        plt.xticks(*nice_ticks(xs[0], xs[-1]))
        low, high = min(y_values), max(y_values)
        pad = (high - low) * 0.05 or 0.1
        plt.ylim(max(low - pad, 1e-3) if self.log_y else low - pad, high + pad)
