"""The replay clock: which step of the run's history the views show while it is replayed.

The app owns one clock (tui/app.py); every view reads it through the View base (`View.at_step`,
None while live) and is told when the step moves (`View.replay_moved`), so a view follows a
replay the same way whatever it shows. The clock knows the steps, their training seconds and
the evals, which is all it needs to play at a pace: ×k the run's own training time, or one eval
a second. It never touches the run: replay only reads the history the client sent. Nothing here
imports Textual: the app's timer calls tick(), and `changed` tells the app that something moved.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from engine import EvalCompleted, StepCompleted
from tui.state.timeline import Timeline


@dataclass(frozen=True)
class Speed:
    """A replay pace: `factor` training seconds a second, or (None) one eval a second."""

    label: str
    factor: float | None


SPEEDS = (
    Speed("1 eval/s", None),  # the first: a seed run's 1,500 steps train in seconds
    Speed("×0.1", 0.1),
    Speed("×1", 1.0),
    Speed("×10", 10.0),
    Speed("×100", 100.0),
    Speed("×1000", 1000.0),
)


def interpolate(xs: Sequence[float], ys: Sequence[float], x: float) -> float:
    """ys at x, linear between the knots (xs ascending), held flat beyond the ends."""
    i = bisect_right(xs, x) - 1
    if i < 0:
        return ys[0]
    if i >= len(xs) - 1:
        return ys[-1]
    x0, x1 = xs[i], xs[i + 1]
    return ys[i] + (ys[i + 1] - ys[i]) * (x - x0) / (x1 - x0)


class ReplayClock:
    """`step` is the replayed step, or None while the views show the run live."""

    def __init__(self, changed: Callable[[], None] = lambda: None) -> None:
        self.changed = changed  # called after every change: the step, playing, the speed
        self.step: int | None = None
        self.playing = False
        self.speed = SPEEDS[0]
        self.seconds: Timeline[float] = Timeline()  # each step's training seconds (elapsed_s)
        self.evals: Timeline[int] = Timeline(limit=2_000)
        self._pace = 0.0  # where playback is in the speed's unit: training seconds, or evals

    @property
    def replaying(self) -> bool:
        return self.step is not None

    @property
    def end(self) -> int:
        """The history's last step: where the run is now (it grows while the run trains)."""
        return max(self.seconds.steps[-1:] + self.evals.steps[-1:], default=0)

    def ingest(self, events: Iterable[object]) -> None:
        for event in events:
            if isinstance(event, StepCompleted):
                if self.seconds.steps and event.step <= self.seconds.steps[-1]:
                    self.evals.clear_from(event.step)  # resumed from an earlier checkpoint
                self.seconds.add(event.step, event.elapsed_s)
            elif isinstance(event, EvalCompleted):
                self.evals.add(event.step, event.step)
        if self.step is not None and self.step > self.end:  # a resumed run went back
            self.seek(self.end)

    def _knots(self) -> tuple[list[int], list[float]]:
        """(steps, paces): where each step lies in the speed's unit."""
        if self.speed.factor is None:
            stops = sorted({0, *self.evals.steps, self.end})
            return stops, [float(i) for i in range(len(stops))]
        return [0, *self.seconds.steps], [0.0, *self.seconds.items]

    def _pace_at(self, step: int) -> float:
        steps, paces = self._knots()
        return interpolate(steps, paces, step)

    def start(self) -> None:
        """Replay from step 0, playing (at the speed of the last replay)."""
        self.playing = True
        self._to(0)

    def live(self) -> None:
        """Back to the run as it is now."""
        self.step, self.playing = None, False
        self.changed()

    def seek(self, step: int) -> None:
        """Show `step` (kept within the history); playing or paused as before."""
        self._to(step)

    def _to(self, step: int) -> None:
        self.step = max(0, min(self.end, step))
        self._pace = self._pace_at(self.step)
        if self.step >= self.end:
            self.playing = False
        self.changed()

    def toggle(self) -> None:
        """Pause, or play on (from step 0 again once at the end)."""
        if self.step is None:
            return
        if not self.playing and self.step >= self.end:
            self.start()
            return
        self.playing = not self.playing
        self.changed()

    def step_eval(self, delta: int) -> None:
        """To the previous (-1) or next (+1) eval, paused: the first and last steps count."""
        if self.step is None:
            return
        stops = sorted({0, *self.evals.steps, self.end})
        if delta < 0:
            index = bisect_left(stops, self.step) - 1
        else:
            index = bisect_right(stops, self.step)
        self.playing = False
        self._to(stops[max(0, min(len(stops) - 1, index))])

    def next_speed(self) -> Speed:
        self.speed = SPEEDS[(SPEEDS.index(self.speed) + 1) % len(SPEEDS)]
        if self.step is not None:
            self._pace = self._pace_at(self.step)
        self.changed()
        return self.speed

    def tick(self, seconds: float) -> None:
        """`seconds` of wall time passed: move on at the speed's pace."""
        if self.step is None or not self.playing:
            return
        self._pace += seconds * (self.speed.factor or 1.0)
        steps, paces = self._knots()
        step = math.floor(interpolate(paces, steps, self._pace))
        step = max(self.step, min(self.end, step))
        if step >= self.end:
            self.playing = False
        if step != self.step or not self.playing:
            self.step = step
            self.changed()
