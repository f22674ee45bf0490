"""A task run's lesson, as the Train view draws it (no widgets): for modadd, train and val
accuracy and the weights' total norm over the steps, with where it memorised and where val
accuracy turned; for induction, the val loss on the stretches' first copies against their
repeats, with where an induction head formed.

Fed the run's events in order; a resumed run's replayed steps past its checkpoint are dropped,
as the loss history drops them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from engine import EvalCompleted, PhaseChanged, PhaseKind, TrainingStarted, TrainingStats

# The markers each task's lesson draws (the others belong to the Learning view).
MARKED = {
    "modadd": (PhaseKind.MEMORISED, PhaseKind.GENERALISED),
    "induction": (PhaseKind.INDUCTION,),
}


def weight_norm(stats: TrainingStats) -> float:
    """The L2 norm of all the weight matrices together: what weight decay pulls down."""
    return math.sqrt(sum(row.weight_norm**2 for row in stats.weights))


class Lesson:
    def __init__(self) -> None:
        self.task = ""
        self.vocab_size = 0  # ln V: what guessing at random costs, the first copies' floor
        # (step, train accuracy, val accuracy) and (step, first-copy, repeat val loss)
        self.accuracy: list[tuple[int, float, float]] = []
        self.halves: list[tuple[int, float, float]] = []
        self.norms: list[tuple[int, float]] = []  # (step, weight norm)
        self.markers: list[PhaseChanged] = []  # in order, one per kind (the first induction head)
        self.version = 0  # bumped by every change: the chart redraws when it moved

    def ingest(self, events: Iterable[object]) -> bool:
        """Take in a batch of events; whether anything the lesson shows changed."""
        before = self.version
        for event in events:
            if isinstance(event, TrainingStarted):
                self.task = event.task or self.task
                self.vocab_size = event.vocab_size
                self._drop_after(event.start_step)
            elif isinstance(event, EvalCompleted):
                self._eval(event)
            elif isinstance(event, TrainingStats) and event.weights:
                self.norms.append((event.step, weight_norm(event)))
                self.version += 1
            elif isinstance(event, PhaseChanged) and event.phase in MARKED.get(self.task, ()):
                if all(marker.phase is not event.phase for marker in self.markers):
                    self.markers.append(event)
                    self.version += 1
        return self.version != before

    def _eval(self, event: EvalCompleted) -> None:
        train, val = event.train_accuracy, event.val_accuracy
        if train is not None and val is not None:
            self.accuracy.append((event.step, train, val))
            self.version += 1
        first, second = event.first_half_loss, event.second_half_loss
        if first is not None and second is not None:
            self.halves.append((event.step, first, second))
            self.version += 1

    def _drop_after(self, step: int) -> None:
        """A run resumed at `step` undid what came after it."""
        self.accuracy = [row for row in self.accuracy if row[0] <= step]
        self.halves = [row for row in self.halves if row[0] <= step]
        self.norms = [row for row in self.norms if row[0] <= step]
        self.markers = [marker for marker in self.markers if marker.step <= step]
        self.version += 1

    def marker(self, phase: PhaseKind) -> PhaseChanged | None:
        return next((marker for marker in self.markers if marker.phase is phase), None)
