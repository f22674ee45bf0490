"""What runs exist and what each is doing, read from their directories: the `runs` listing."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from engine.channel import worker_info
from engine.events import EvalCompleted, StepCompleted, TrainingFinished, TrainingStarted
from engine.run_files import CONFIG, EVENTS, RUNS_ROOT, read_events
from engine.run_state import RunState, advance


@dataclass(frozen=True)
class RunSummary:
    path: Path
    state: RunState
    step: int
    max_steps: int
    best_val: float | None
    age_s: float  # since the run last wrote an event


def worker_alive(run_dir: Path) -> bool:
    info = worker_info(run_dir)
    if not info:
        return False
    try:
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return False
    return True


def summarize_run(run_dir: Path) -> RunSummary:
    state, step, max_steps, best_val = RunState.STARTING, 0, 0, None
    for event in read_events(run_dir):
        state = advance(state, event)
        if isinstance(event, TrainingStarted):
            max_steps = event.max_steps
        elif isinstance(event, (StepCompleted, TrainingFinished)):
            step = event.step
        elif isinstance(event, EvalCompleted):
            best_val = event.val_loss if best_val is None else min(best_val, event.val_loss)
    if not state.ended and not worker_alive(run_dir):
        state = RunState.FAILED  # the worker died without a word: killed, or the machine went down
    events = run_dir / EVENTS
    age = time.time() - events.stat().st_mtime if events.exists() else 0.0
    return RunSummary(run_dir, state, step, max_steps, best_val, age)


def list_runs(root: Path = RUNS_ROOT) -> list[RunSummary]:
    """Every run directory under root, newest first."""
    if not root.is_dir():
        return []
    runs = [summarize_run(path) for path in root.iterdir() if (path / CONFIG).exists()]
    return sorted(runs, key=lambda run: run.age_s)
