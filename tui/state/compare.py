"""Other runs drawn on the Train chart beside the live one: their history, read once from their
events.jsonl with the engine's reader (no torch here), and a colour each that stays theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine import (
    EvalCompleted,
    StepCompleted,
    TrainingStarted,
    comparable_run,
    read_events,
    visible,
)
from tui.state.loss_history import LossHistory

# Fixed colours, not theme ones: a run keeps its colour whatever the theme, and none of them is
# the live run's primary or accent in the default themes.
PALETTE = [
    (214, 112, 214),  # orchid
    (64, 200, 200),  # teal
    (230, 200, 80),  # mustard
    (150, 150, 255),  # lavender
    (255, 140, 100),  # salmon
    (140, 210, 120),  # green
]


@dataclass
class ComparedRun:
    path: Path
    history: LossHistory
    color: tuple[int, int, int] = PALETTE[0]
    tokenizer: str = ""
    vocab_size: int = 0
    preset: str = ""
    max_steps: int = 0
    key: tuple = field(default=(), compare=False)  # what the chart's drawing of it depends on
    series: dict = field(default_factory=dict, compare=False)  # the chart's cache of its curves

    @property
    def name(self) -> str:
        """The run folder's name, as the screen may show it (anyone may name a folder)."""
        return visible(self.path.name, keep_newlines=False, keep_tabs=False)


def read_run(path: Path, smoothing: float = 0.9) -> ComparedRun:
    """A run's loss history from its events.jsonl (call it off the event loop: a long run's log
    is many megabytes). Raises CheckpointError if `path` is not a run directory."""
    comparable_run(path)
    run = ComparedRun(path, LossHistory(smoothing))
    for event in read_events(path):
        if isinstance(event, StepCompleted):
            run.history.add_step(event.step, event.loss, event.tokens_seen, event.elapsed_s)
        elif isinstance(event, EvalCompleted):
            run.history.add_eval(event.step, event.val_loss, event.train_loss)
        elif isinstance(event, TrainingStarted):
            run.tokenizer, run.vocab_size = event.tokenizer, event.vocab_size
            run.preset, run.max_steps = event.preset, event.max_steps
    run.key = (str(path), len(run.history), len(run.history.val))
    return run


def free_color(taken: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    """The first palette colour no shown run has (the runs' own stay as they are)."""
    for color in PALETTE:
        if color not in taken:
            return color
    return PALETTE[len(taken) % len(PALETTE)]


def mismatch(run: ComparedRun, tokenizer: str, vocab_size: int) -> str | None:
    """Why the two runs' losses are not in the same units, if they are not."""
    if not run.tokenizer or not tokenizer:
        return None
    if run.tokenizer != tokenizer or run.vocab_size != vocab_size:
        return (
            f"{run.name} has {run.tokenizer} tokens (vocabulary {run.vocab_size}), this run "
            f"{tokenizer} ({vocab_size}): a loss per token is not comparable between them"
        )
    return None
