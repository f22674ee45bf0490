"""The guided tour: short notes that react to training events and say what to look at.

A pure state machine: `Tour.feed(events)` returns the note those events trigger, each note at most
once. Showing a note is the widget's job (tui/widgets/shell/tour_note.py); nothing here imports
Textual, so tests drive the tour with made-up events.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from engine import (
    EvalCompleted,
    FinishReason,
    PhaseChanged,
    PhaseKind,
    SampleGenerated,
    StepCompleted,
    TrainingFinished,
    TrainingStarted,
)

HEAD_ROLES_AFTER = 3  # evals after the start: by then heads have usually found a habit
# Val must rise this far above its best (in nats, or as a share of it) to count as turning up:
# a smaller wobble is the noise of a finite eval.
RISE_NATS, RISE_SHARE = 0.01, 0.01


@dataclass(frozen=True)
class Note:
    """One note of the tour: what to look at, where, and which glossary entry explains it."""

    key: str  # which moment of the tour: each fires once
    title: str
    text: str  # plain text (it quotes numbers, never a corpus)
    view: str  # the view to look at (an id in tui/views/registry.py)
    heading: str  # its glossary entry (tui/glossary.md)


WELCOME = Note(
    "welcome",
    "Guided tour",
    "Notes like this one will point at what to look at as the model trains. They never take "
    "the keyboard: keep using the app, and close a note with its ✕.",
    "train",
    "What the views show",
)


class Tour:
    """Turns engine events into tour notes; knows the views the app has (`views`)."""

    def __init__(self, views: Iterable[str] = ("train", "attention", "generate", "learn")) -> None:
        self.views = set(views)
        self.fired: set[str] = set()
        self.latest: Note | None = None  # the last note fired, shown when the tour starts late
        self.started: TrainingStarted | None = None  # the run's first start
        self.tokens_seen = 0
        self.evals = 0  # evals after the first step (the untrained model's eval is not counted)
        self.best: EvalCompleted | None = None  # the eval with the lowest val loss so far

    def feed(self, events: Iterable[object]) -> Note | None:
        """The last new note these events trigger, or None."""
        shown = None
        for event in events:
            note = self._note_for(event)
            if note is not None and note.key not in self.fired:
                self.fired.add(note.key)
                self.latest = shown = note
        return shown

    def _note_for(self, event: object) -> Note | None:
        if isinstance(event, TrainingStarted):
            self.started = self.started or event
        elif isinstance(event, StepCompleted):
            self.tokens_seen = event.tokens_seen
            if event.step <= 1:
                return self._untrained(event.loss)
        elif isinstance(event, EvalCompleted):
            if event.step == 0:
                return self._untrained(event.train_loss)
            return self._eval(event)
        elif isinstance(event, SampleGenerated) and event.step > 0 and self.task:
            return self._lesson_intro()
        elif isinstance(event, SampleGenerated) and event.step > 0:
            return Note(
                "samples",
                f"First sample, step {event.step:,}",
                "Under the chart is what the model writes now. Compare the samples at each "
                "eval as training goes: random tokens, then common words, then bits of phrases.",
                "train",
                "Temperature, top-k and top-p",
            )
        elif isinstance(event, PhaseChanged):
            return self._lesson(event) or self._phase(event)
        elif isinstance(event, TrainingFinished):
            return self._finished(event)
        return None

    @property
    def task(self) -> str:
        return self.started.task if self.started else ""

    def _lesson_intro(self) -> Note:
        """Where a task run's lesson is, and what to expect of it."""
        if self.task == "modadd":
            return Note(
                "lesson",
                "The lesson: grokking",
                "Under the loss chart: train and val accuracy, and the weights' total norm. "
                "Expect train accuracy to reach 100% long before val accuracy moves "
                "(memorising), then val accuracy to turn up as weight decay shrinks the weights.",
                "train",
                "Grokking",
            )
        return Note(
            "lesson",
            "The lesson: an induction head",
            "Under the loss chart: the val loss on the repeats, which only copying can "
            "predict, against the random first copies, which nothing can (they stay at ln V or "
            "above). Expect the repeat's loss to fall slowly, then drop like a cliff.",
            "train",
            "Induction task",
        )

    def _lesson(self, event: PhaseChanged) -> Note | None:
        """A task run's moments: memorised, then grokked; an induction head formed."""
        if event.phase is PhaseKind.MEMORISED:
            return Note(
                "memorised",
                f"Step {event.step:,}: memorised",
                f"Train accuracy is {event.score:.0%}, but val accuracy stays low: the model "
                "knows the answers to its training pairs without the rule that makes them. "
                "Watch the weight norm under the lesson chart: weight decay is pulling it down.",
                "train",
                "Memorisation",
            )
        if event.phase is PhaseKind.GENERALISED:
            after = " long after it memorised" if "memorised" in self.fired else ""
            return Note(
                "grokked",
                f"Step {event.step:,}: val accuracy turns",
                f"Val accuracy has passed {event.score:.0%}{after}: the model has found the rule "
                "for pairs it never saw. This is grokking; the weight norm fell on the way.",
                "train",
                "Grokking",
            )
        if event.phase is PhaseKind.INDUCTION and self.task == "induction":
            return Note(
                "induction-task",
                f"Step {event.step:,}: an induction head formed",
                f"Head L{event.layer}H{event.head} now copies what followed an earlier copy of "
                "its token, and the loss on the repeat falls off a cliff while the random first "
                "half stays where it was: a phase change. Knock the head out in the Lab view "
                "(7) to see the loss come back.",
                "train",
                "Induction head",
            )
        return None

    def _phase(self, event: PhaseChanged) -> Note:
        """The first induction head, or the in-context-learning jump: each once."""
        view = "learning" if "learning" in self.views else "train"
        if event.phase is PhaseKind.INDUCTION:
            head = f"L{event.layer}H{event.head}"
            return Note(
                "induction",
                f"Step {event.step:,}: an induction head formed",
                f"Head {head} (block {event.layer}, head {event.head}) now continues repeats: at "
                f'the second A of "A B … A" it looks at the B that followed the first A (score '
                f"{event.score:.2f}). Abilities often appear this suddenly; the loss chart marks "
                "the step, and the Learning view shows every head's score.",
                view,
                "Induction head",
            )
        return Note(
            "icl",
            f"Step {event.step:,}: in-context learning jumped",
            f"Tokens late in the context are now predicted better than early ones (score "
            f"{event.score:+.2f} nats): the model has begun to use what it has read. The loss "
            "chart marks the step.",
            view,
            "In-context learning",
        )

    def _untrained(self, loss: float) -> Note | None:
        start = self.started
        if start is None or start.start_step > 0 or start.vocab_size < 2:
            return None  # a resumed run was trained already
        vocab = start.vocab_size
        return Note(
            "untrained",
            "Step 0: why the loss starts near ln V",
            f"The loss is {loss:.2f}, and ln V = ln {vocab:,} = {math.log(vocab):.2f}. An "
            "untrained model gives every token nearly the same logit, so softmax spreads the "
            f"probability evenly, 1/{vocab:,} each, and the loss −ln(1/V) is ln V: the dashed "
            "line. Watch the loss leave it.",
            "train",
            "Cross-entropy loss",
        )

    def _eval(self, event: EvalCompleted) -> Note | None:
        self.evals += 1
        best, note = self.best, None
        if best is None or event.val_loss < best.val_loss:
            self.best = event
        elif (
            event.val_loss > best.val_loss + max(RISE_NATS, RISE_SHARE * best.val_loss)
            and event.train_loss < best.train_loss
        ):
            note = self._overfitting(event, best)
        fresh = note is not None and note.key not in self.fired
        if not fresh and "heads" not in self.fired and self.evals >= HEAD_ROLES_AFTER:
            note = Note(
                "heads",
                f"{self.evals} evals in: heads have habits",
                "Attention heads have begun to specialise. In the Attention view the all-heads "
                "grid names each head's habit (previous-token, first-token, induction, …); ←/→ "
                "replays how they formed, eval by eval.",
                "attention",
                "Head roles",
            )
        return note

    def _overfitting(self, event: EvalCompleted, best: EvalCompleted) -> Note:
        train_tokens = self.started.train_tokens if self.started else 0
        epochs = self.tokens_seen / train_tokens if train_tokens else 0.0
        seen = f", after {epochs:.1f} epochs (passes over the training text)" if epochs else ""
        return Note(
            "overfitting",
            f"Step {event.step:,}: val loss turns up",
            f"Val loss is {event.val_loss:.3f}, above its best {best.val_loss:.3f} at step "
            f"{best.step:,}, while train loss kept falling ({best.train_loss:.3f} → "
            f"{event.train_loss:.3f}){seen}. The model has begun to memorise its text: "
            "overfitting.",
            "train",
            "Overfitting",
        )

    def _finished(self, event: TrainingFinished) -> Note:
        if event.reason is FinishReason.DIVERGED:
            return Note(
                "finished",
                f"Training stopped at step {event.step:,}",
                "The loss kept turning into NaN or infinity: training diverged. A lower learning "
                "rate usually fixes it (n starts a new run).",
                "train",
                "Learning rate",
            )
        if self.task and "lab" in self.views:
            return Note(
                "finished",
                f"Training is done (step {event.step:,})",
                "Try the Lab view: knock out each head and see which ones the task needs "
                "(i ranks them all), or play the prediction game against the model.",
                "lab",
                "Ablation",
            )
        if "inside" in self.views:
            return Note(
                "finished",
                f"Training is done (step {event.step:,})",
                "Try the Inside view: follow one token through every stage of the trained "
                "model, from its embedding to the probabilities of the next token.",
                "inside",
                "The forward pass",
            )
        return Note(
            "finished",
            f"Training is done (step {event.step:,})",
            "Try the Generate view: give the trained model a prompt and see which tokens it "
            "weighs at each step.",
            "generate",
            "Temperature, top-k and top-p",
        )
