"""When an ability appears: the policy that turns each eval's HeadsScored (and a task's
accuracies) into PhaseChanged markers.

A head's induction score crossing INDUCTION_THRESHOLD is announced once for that head; the
in-context-learning score falling ICL_JUMP or more below its lowest so far, once per run. (Below
the lowest, not below the eval before: the score wobbles by a few hundredths from eval to eval,
and a gradual gain must not add up to a jump.) A task's run is marked once when it memorises (train
accuracy MEMORISED_ACCURACY, val still below GENERALISED_ACCURACY), and once when, after that,
val accuracy reaches GENERALISED_ACCURACY: grokking. What was announced lives in events.jsonl, so
a resumed run does not announce it again.
"""

from __future__ import annotations

import math
from pathlib import Path

from engine.contract.events import EvalCompleted, HeadsScored, PhaseChanged, PhaseKind
from engine.contract.learning import (
    GENERALISED_ACCURACY,
    ICL_JUMP,
    INDUCTION_THRESHOLD,
    MEMORISED_ACCURACY,
)
from engine.runs.history import events_of_kinds

Marker = tuple[PhaseKind, int | None, int | None]  # (kind, layer, head)


class PhaseWatch:
    def __init__(self, announced: set[Marker] | None = None, lowest_icl: float | None = None):
        self.announced: set[Marker] = set(announced or ())
        self.lowest_icl = lowest_icl  # the lowest ICL score of the evals so far

    @classmethod
    def from_history(cls, run_dir: Path, step: int) -> PhaseWatch:
        """What a run resumed at `step` had announced and scored by then (later events were
        undone by the resume and may happen again)."""
        watch = cls()
        for event in events_of_kinds(run_dir, (PhaseChanged, HeadsScored)):
            if isinstance(event, PhaseChanged) and event.step <= step:
                watch.announced.add((event.phase, event.layer, event.head))
            elif isinstance(event, HeadsScored) and event.step <= step:
                watch._saw_icl(event.icl_score)
        return watch

    def see(self, scored: HeadsScored) -> list[PhaseChanged]:
        """The markers this eval's scores set off (each at most once per run)."""
        changes = []
        for head in scored.heads:
            marker = (PhaseKind.INDUCTION, head.layer, head.head)
            if marker in self.announced or not head.induction >= INDUCTION_THRESHOLD:
                continue
            self.announced.add(marker)
            detail = (
                f"induction head L{head.layer}H{head.head} formed at step {scored.step:,}: "
                f"score {head.induction:.2f} (threshold {INDUCTION_THRESHOLD:.2f})"
            )
            changes.append(
                PhaseChanged(
                    PhaseKind.INDUCTION, scored.step, head.layer, head.head, head.induction, detail
                )
            )
        icl, before = scored.icl_score, self.lowest_icl
        marker = (PhaseKind.ICL, None, None)
        if (
            before is not None
            and math.isfinite(icl)
            and before - icl >= ICL_JUMP
            and marker not in self.announced
        ):
            self.announced.add(marker)
            detail = (
                f"in-context learning jumped at step {scored.step:,}: late tokens now "
                f"{-icl:.2f} nats easier than early ones (at best {-before:.2f} before)"
            )
            changes.append(PhaseChanged(PhaseKind.ICL, scored.step, None, None, icl, detail))
        self._saw_icl(icl)
        return changes

    def see_eval(self, evaluated: EvalCompleted) -> list[PhaseChanged]:
        """The markers a task's accuracies at this eval set off (each at most once per run)."""
        train, val = evaluated.train_accuracy, evaluated.val_accuracy
        if train is None or val is None:
            return []
        step, changes = evaluated.step, []
        memorised = (PhaseKind.MEMORISED, None, None)
        generalised = (PhaseKind.GENERALISED, None, None)
        if (
            memorised not in self.announced
            and train >= MEMORISED_ACCURACY
            and val < GENERALISED_ACCURACY
        ):
            self.announced.add(memorised)
            detail = (
                f"memorised at step {step:,}: train accuracy {train:.0%}, val only {val:.0%}: "
                "it knows the training answers, not the rule"
            )
            changes.append(PhaseChanged(PhaseKind.MEMORISED, step, None, None, train, detail))
        elif (
            memorised in self.announced
            and generalised not in self.announced
            and val >= GENERALISED_ACCURACY
        ):
            self.announced.add(generalised)
            detail = (
                f"generalised at step {step:,}: val accuracy {val:.0%} after memorising (grokking)"
            )
            changes.append(PhaseChanged(PhaseKind.GENERALISED, step, None, None, val, detail))
        return changes

    def _saw_icl(self, icl: float) -> None:
        if math.isfinite(icl) and (self.lowest_icl is None or icl < self.lowest_icl):
            self.lowest_icl = icl
