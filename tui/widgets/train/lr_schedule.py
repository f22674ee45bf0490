"""The learning-rate schedule as one line of bars, with "you are here" under the current step.

The engine sends the schedule at start (TrainingStarted.lr_schedule): the UI draws it and never
recomputes it, so a change of schedule in the engine shows here as it is.
"""

from __future__ import annotations

from textual.content import Content
from textual.events import Click, Resize

from tui.messages import LearnAsked
from tui.widgets.safe_text import SafeStatic

BARS = "▁▂▃▄▅▆▇█"
HEADING = "Warmup and cosine schedule"


def marker_line(here: int, width: int) -> str:
    """▲ at column `here`, with "you are here" on the side with room ("here" if neither has)."""
    left, right = here - 1, width - here - 2
    words = "you are here" if max(left, right) >= len("you are here") else "here"
    if right >= len(words) or right >= left:
        return " " * here + "▲ " + words
    return " " * (here - len(words) - 1) + words + " ▲"


def schedule_bars(schedule: tuple[float, ...], width: int) -> str:
    """The schedule resampled to `width` columns, each a bar as tall as its lr (max = full)."""
    top = max(schedule, default=0.0)
    if width <= 0 or top <= 0:
        return ""
    last = len(schedule) - 1
    values = [schedule[round(column * last / max(1, width - 1))] for column in range(width)]
    return "".join(BARS[min(len(BARS) - 1, int(value / top * len(BARS)))] for value in values)


class LrSchedule(SafeStatic):
    """Two lines: the schedule's bars (done part bright), then the marker under this step.
    A click opens the schedule's Learn entry."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.schedule: tuple[float, ...] = ()
        self.max_steps = 0
        self.step = 0
        self._shown: tuple | None = None

    def set_schedule(self, schedule: tuple[float, ...], max_steps: int) -> None:
        self.schedule, self.max_steps = schedule, max_steps
        self._render_text()

    def set_step(self, step: int) -> None:
        self.step = step
        self._render_text()

    def on_resize(self, event: Resize) -> None:
        self._render_text()

    def on_click(self, event: Click) -> None:
        self.post_message(LearnAsked(HEADING))

    def here_column(self, width: int) -> int:
        if self.max_steps <= 0:
            return 0
        return min(width - 1, round(min(1.0, self.step / self.max_steps) * (width - 1)))

    def _render_text(self) -> None:
        width = self.content_region.width or 22
        here = self.here_column(width)
        key = (self.schedule, width, here)
        if key == self._shown:
            return  # most steps move the marker by less than a column
        self._shown = key
        bars = schedule_bars(self.schedule, width)
        if not bars:
            self.update("lr schedule –")
            return
        strip = Content(bars).stylize("$primary", 0, here).stylize("$foreground-muted", here + 1)
        strip = strip.stylize("bold $accent", here, here + 1)
        line = Content(marker_line(here, width)).stylize("$accent")
        self.update(Content("\n").join([strip, line]))
