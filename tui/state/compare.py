"""Other runs drawn on the Train chart beside the live one: their history, read from their
events.jsonl with the engine's reader (no torch here), and a colour each that stays theirs. A run
that is still training is read again from where the last read ended (`read_more`), so its curve
grows as it trains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine import (
    EvalCompleted,
    Event,
    RunState,
    StepCompleted,
    TrainingStarted,
    advance,
    comparable_run,
    read_events_after,
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
    offset: int = 0  # bytes of its events.jsonl read so far
    state: RunState = RunState.STARTING  # as its events left it: RUNNING while it trains
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
    add_events(run, *read_events_after(path))
    return run


def read_more(run: ComparedRun) -> tuple[list[Event], int]:
    """What the run has written since it was last read, and where that ends (off the event loop;
    then `add_events` on it, where the chart is drawn)."""
    return read_events_after(run.path, run.offset)


def add_events(run: ComparedRun, events: list[Event], offset: int) -> None:
    """Add events read from the run's log up to byte `offset`."""
    for event in events:
        run.state = advance(run.state, event)
        if isinstance(event, StepCompleted):
            run.history.add_step(event.step, event.loss, event.tokens_seen, event.elapsed_s)
        elif isinstance(event, EvalCompleted):
            run.history.add_eval(event.step, event.val_loss, event.train_loss)
        elif isinstance(event, TrainingStarted):
            run.tokenizer, run.vocab_size = event.tokenizer, event.vocab_size
            run.preset, run.max_steps = event.preset, event.max_steps
    run.offset = offset
    if events or not run.key:
        run.key = (str(run.path), offset)
        run.series = {}  # the chart's curves of it are out of date


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
