"""What runs exist and what each is doing, read from their directories: the `runs` listing."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from engine.contract.codec import line_prefix
from engine.contract.display import visible
from engine.contract.errors import CheckpointError
from engine.contract.events import EvalCompleted, StepCompleted, TrainingFinished, TrainingStarted
from engine.contract.run_state import RunState, settled
from engine.runs.files import CONFIG, EVENTS, RUNS_ROOT, load_config, unreadable
from engine.runs.history import last_state, lines_from_end, read_json_lines
from engine.runs.liveness import worker_alive

STARTED, EVAL = line_prefix(TrainingStarted.kind), line_prefix(EvalCompleted.kind)
STEP_OR_END = (line_prefix(StepCompleted.kind), line_prefix(TrainingFinished.kind))
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSummary:
    path: Path
    state: RunState
    step: int
    max_steps: int
    best_val: float | None
    age_s: float  # since the run last wrote an event


def summarize_run(run_dir: Path) -> RunSummary:
    """Where a run stands, read without decoding its step events (a long run has millions)."""
    step, max_steps, best_val = 0, 0, None
    for event in read_json_lines(run_dir / EVENTS, (STARTED, EVAL)):
        if event.get("kind") == TrainingStarted.kind:
            max_steps = event.get("max_steps", max_steps)
        elif isinstance(val := event.get("val_loss"), (int, float)):
            best_val = val if best_val is None else min(best_val, val)
    for line in lines_from_end(run_dir / EVENTS):
        if line.startswith(STEP_OR_END):
            try:
                step = int(json.loads(line)["step"])
            except (ValueError, KeyError, TypeError):
                continue
            break
    state = settled(last_state(run_dir), worker_alive(run_dir))
    events = run_dir / EVENTS
    age = time.time() - events.stat().st_mtime if events.exists() else 0.0
    return RunSummary(run_dir, state, step, max_steps, best_val, age)


def list_runs(root: Path = RUNS_ROOT) -> list[RunSummary]:
    """Every run directory under root, newest first; one whose history cannot be read is left
    out with a warning, not allowed to hide the others."""
    if not root.is_dir():
        return []
    runs = []
    for path in root.iterdir():
        if (path / CONFIG).exists():
            try:
                runs.append(summarize_run(path))
            except (CheckpointError, OSError) as error:
                log.warning("warning: %s left out: %s", visible(str(path)), visible(str(error)))
    return sorted(runs, key=lambda run: run.age_s)


def comparable_run(run_dir: Path) -> Path:
    """`run_dir`, checked to be a run with a history to draw beside another (--compare).

    Raises CheckpointError, in one line, for a missing path, a folder that is not a run, or one
    with no history yet or none that can be read.
    """
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir} is not a run directory (no such folder)")
    load_config(run_dir)  # a folder without a valid config.json is not a run
    events = run_dir / EVENTS
    if not events.exists():
        raise CheckpointError(f"{run_dir} has no history to draw ({EVENTS} is missing)")
    try:
        with events.open("rb") as file:
            empty = not file.read(1)
    except OSError as error:
        raise unreadable(events, error) from None
    if empty:
        raise CheckpointError(f"{run_dir} has no history to draw yet ({EVENTS} is empty)")
    return run_dir
