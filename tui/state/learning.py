"""The Learning view's data: the training statistics, head scores and phase changes of a run,
as series over steps, each readable at any step (the step shown: the latest unless scrubbed or
replayed). No widgets: tests feed it made-up events.

A series is named for what it groups: "emb" (token and position embeddings), "L0" ... (a
block's matrices, or its heads), "head" (an untied output head). A block's update ratio is the
mean of its matrices' log10 ratios; its gradient norm is the norm of all its matrices' gradients.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from engine import (
    HeadsScored,
    LogitLens,
    PhaseChanged,
    PhaseKind,
    StepCompleted,
    TrainingStarted,
    TrainingStats,
    WeightStats,
)
from tui.state.rate_window import RateWindow

MAX_KEPT = 4_000  # past this, every other one of the older readings is dropped
Series = dict[str, list[tuple[int, float]]]  # name -> (step, value) in step order


def group_of(weight: WeightStats) -> str:
    """Which series a weight matrix belongs to: "emb", "L0" ... or "head"."""
    if weight.layer is not None:
        return f"L{weight.layer}"
    return "head" if weight.matrix == "head" else "emb"


def head_name(layer: int, head: int) -> str:
    """A head as the engine names it: L1H0 is head 0 of layer 1 (both counted from 0)."""
    return f"L{layer}H{head}"


def _at(steps: list[int], step: int | None) -> int | None:
    """The index of the last reading at or before `step` (None: the latest), or None."""
    if not steps:
        return None
    if step is None:
        return len(steps) - 1
    index = bisect_right(steps, step) - 1
    return index if index >= 0 else None


def _keep(readings: list, steps: list[int], step: int) -> None:
    """A resumed run measures its checkpoint's steps again: drop what it replaces."""
    if steps and step <= steps[-1]:
        cut = bisect_right(steps, step - 1)
        del readings[cut:], steps[cut:]


def _thin(readings: list, steps: list[int]) -> None:
    if len(readings) > MAX_KEPT:
        half = len(readings) // 2
        readings[:half], steps[:half] = readings[:half:2], steps[:half:2]


@dataclass(frozen=True)
class Phase:
    """A phase change as the chart and the verdicts tell it."""

    step: int
    label: str  # short, for the chart: "L1H0 induction", "ICL jump"
    detail: str  # the engine's sentence
    heading: str  # its Learn entry


class LearningHistory:
    """Everything the Learning view draws, ingested from engine events."""

    def __init__(self) -> None:
        self.stats: list[TrainingStats] = []
        self.stats_steps: list[int] = []
        self.scores: list[HeadsScored] = []
        self.score_steps: list[int] = []
        self.phases: list[Phase] = []
        self.started: TrainingStarted | None = None
        self.rate = RateWindow()
        # tokens/s of training time when each statistics reading came: the speed at a step shown
        self.speeds: list[float] = []
        self.speed_steps: list[int] = []

    def add(self, events: Iterable[object]) -> bool:
        """Take in a batch of events; True if any of them changed what is drawn."""
        changed = False
        for event in events:
            if isinstance(event, StepCompleted):
                self.rate.add(event.elapsed_s, event.step, event.tokens_seen)
                continue
            if isinstance(event, TrainingStats):
                _keep(self.stats, self.stats_steps, event.step)
                self.stats.append(event)
                self.stats_steps.append(event.step)
                _thin(self.stats, self.stats_steps)
                if (rate := self.rate.tokens_per_s) is not None:
                    _keep(self.speeds, self.speed_steps, event.step)
                    self.speeds.append(rate)
                    self.speed_steps.append(event.step)
                    _thin(self.speeds, self.speed_steps)
            elif isinstance(event, HeadsScored):
                _keep(self.scores, self.score_steps, event.step)
                self.scores.append(event)
                self.score_steps.append(event.step)
                _thin(self.scores, self.score_steps)
            elif isinstance(event, PhaseChanged):
                phase = phase_of(event)  # once per head and kind; a resumed run may say it again
                self.phases = [p for p in self.phases if p.label != phase.label] + [phase]
                self.phases.sort(key=lambda p: p.step)
            elif isinstance(event, TrainingStarted):
                self.started = event
            else:
                continue
            changed = True
        return changed

    def __bool__(self) -> bool:
        return bool(self.stats or self.scores)

    @property
    def steps(self) -> list[int]:
        """Every step with a reading (statistics or head scores), in order: what ←/→ visit."""
        return sorted(set(self.stats_steps) | set(self.score_steps))

    def stats_at(self, step: int | None = None) -> TrainingStats | None:
        """The statistics shown at `step`: the last measured at or before it (None: latest)."""
        index = _at(self.stats_steps, step)
        return None if index is None else self.stats[index]

    def scores_at(self, step: int | None = None) -> HeadsScored | None:
        index = _at(self.score_steps, step)
        return None if index is None else self.scores[index]

    def tokens_per_s_at(self, step: int | None = None) -> float | None:
        """Training speed at `step` (None: now), from the readings at the statistics steps."""
        if step is None and self.rate.tokens_per_s is not None:
            return self.rate.tokens_per_s
        index = _at(self.speed_steps, step)
        return None if index is None else self.speeds[index]

    def phases_until(self, step: int | None = None) -> list[Phase]:
        return [p for p in self.phases if step is None or p.step <= step]

    def x_range(self) -> tuple[int, int]:
        """The steps every small multiple spans, so that they line up."""
        steps = self.stats_steps[:1] + self.stats_steps[-1:]
        steps += self.score_steps[:1] + self.score_steps[-1:]
        if not steps:
            return 0, 1
        low, high = min(steps), max(steps)
        return low, max(high, low + 1)

    # --- series, one per group or head -------------------------------------------------------

    def _stats_series(
        self, values: Callable[[TrainingStats], dict[str, float]], points: int
    ) -> Series:
        series: Series = {}
        stride = max(1, len(self.stats) // max(1, points))
        picked = self.stats[::stride]
        if self.stats and picked[-1] is not self.stats[-1]:
            picked.append(self.stats[-1])  # the latest reading always shows
        for stats in picked:
            for name, value in values(stats).items():
                if math.isfinite(value):
                    series.setdefault(name, []).append((stats.step, value))
        return series

    def update_ratios(self, points: int = 400) -> Series:
        return self._stats_series(update_ratios, points)

    def grad_norms(self, points: int = 400) -> Series:
        return self._stats_series(grad_norms, points)

    def dead_units(self, points: int = 400) -> Series:
        return self._stats_series(
            lambda s: {f"L{layer.layer}": 100 * layer.mlp_dead for layer in s.layers}, points
        )

    def near_zero(self, points: int = 400) -> Series:
        return self._stats_series(
            lambda s: {f"L{layer.layer}": 100 * layer.mlp_near_zero for layer in s.layers}, points
        )

    def entropies(self, points: int = 400) -> Series:
        return self._stats_series(
            lambda s: {head_name(h.layer, h.head): h.entropy for h in s.heads}, points
        )

    def max_scores(self, points: int = 400) -> Series:
        return self._stats_series(
            lambda s: {head_name(h.layer, h.head): h.max_score for h in s.heads}, points
        )

    def induction(self) -> Series:
        series: Series = {}
        for scored in self.scores:
            for h in scored.heads:
                series.setdefault(head_name(h.layer, h.head), []).append((scored.step, h.induction))
        return series

    @property
    def uniform_entropy(self) -> float:
        """The entropy of a head that attends evenly (the latest reading's), 0 if unknown."""
        return self.stats[-1].uniform_entropy if self.stats else 0.0


def update_ratios(stats: TrainingStats) -> dict[str, float]:
    """Each group's mean log10 update:data ratio (matrices that did not move left out)."""
    groups: dict[str, list[float]] = {}
    for weight in stats.weights:
        groups.setdefault(group_of(weight), [])
        if math.isfinite(weight.update_ratio):
            groups[group_of(weight)].append(weight.update_ratio)
    return {name: sum(v) / len(v) if v else math.nan for name, v in groups.items()}


def grad_norms(stats: TrainingStats) -> dict[str, float]:
    """Each group's gradient norm: that of all its matrices' gradients taken together."""
    groups: dict[str, float] = {}
    for weight in stats.weights:
        name = group_of(weight)
        groups[name] = groups.get(name, 0.0) + weight.grad_norm**2
    return {name: math.sqrt(total) for name, total in groups.items()}


def lens_sureness(lenses: dict[int, LogitLens]) -> Series:
    """For each row of the logit lens ("emb", then "L0" ...: the stream after that block), the
    mean probability it gives the token that really comes next, at each snapshot's step."""
    series: Series = {}
    for step in sorted(lenses):
        for row, probs in enumerate(lenses[step].target_probs):
            if probs:
                name = "emb" if row == 0 else f"L{row - 1}"
                series.setdefault(name, []).append((step, sum(probs) / len(probs)))
    return series


# Each kind of phase change's Learn entry (its chart label is the event's own: PhaseChanged.label).
PHASE_ENTRIES = {
    PhaseKind.INDUCTION: "Induction head",
    PhaseKind.ICL: "In-context learning",
    PhaseKind.MEMORISED: "Memorisation",
    PhaseKind.GENERALISED: "Grokking",
}


def phase_of(event: PhaseChanged) -> Phase:
    return Phase(event.step, event.label(), event.detail, PHASE_ENTRIES[event.phase])
