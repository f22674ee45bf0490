"""Steps and tokens per second over a moving window of training time (the engine's elapsed_s,
not a wall clock), so one slow step (an eval, a busy CPU) does not swing an ETA or a rate."""

from __future__ import annotations

from collections import deque

WINDOW_S = 10.0
RESOLUTION_S = 0.05  # points closer than this in training time are not kept: the window stays small


class RateWindow:
    """Steps and tokens per second of training time over the last `span` seconds of it."""

    def __init__(self, span: float = WINDOW_S) -> None:
        self.span = span
        self.points: deque[tuple[float, int, int]] = deque()  # (elapsed_s, step, tokens_seen)
        self.latest: tuple[float, int, int] | None = None

    def add(self, elapsed_s: float, step: int, tokens_seen: int) -> None:
        latest = self.latest
        if latest is not None and (step < latest[1] or elapsed_s < latest[0]):
            self.points.clear()  # a run resumed from an earlier checkpoint
        self.latest = (elapsed_s, step, tokens_seen)
        if not self.points or elapsed_s - self.points[-1][0] >= RESOLUTION_S:
            self.points.append(self.latest)
        # Keep one point at or before the window's start, so the window spans all of `span`.
        while len(self.points) >= 2 and self.points[1][0] <= elapsed_s - self.span:
            self.points.popleft()

    def _rates(self) -> tuple[float, float] | None:
        if self.latest is None or not self.points:
            return None
        seconds = self.latest[0] - self.points[0][0]
        if seconds <= 0:
            return None
        steps = self.latest[1] - self.points[0][1]
        return steps / seconds, (self.latest[2] - self.points[0][2]) / seconds

    @property
    def steps_per_s(self) -> float | None:
        rates = self._rates()
        return rates[0] if rates and rates[0] > 0 else None

    @property
    def tokens_per_s(self) -> float | None:
        rates = self._rates()
        return rates[1] if rates and rates[1] > 0 else None
