"""What a run is doing, read from its directory: the `runs` listing and the model summary."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from engine.channel import worker_info
from engine.events import (
    EngineFailed,
    EvalCompleted,
    StepCompleted,
    TrainingFinished,
    TrainingPaused,
    TrainingResumed,
    TrainingStarted,
)
from engine.run_files import CONFIG, EVENTS, RUNS_ROOT, read_events


def state_after(reason: str) -> str:
    """The run's state once TrainingFinished(reason) is the last word."""
    return {"completed": "finished", "diverged": "failed"}.get(reason, "stopped")


@dataclass(frozen=True)
class RunSummary:
    path: Path
    state: str  # running, paused, finished, stopped or failed
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
    state, step, max_steps, best_val = "failed", 0, 0, None
    for event in read_events(run_dir):
        if isinstance(event, TrainingStarted):
            state, max_steps = "running", event.max_steps
        elif isinstance(event, StepCompleted):
            step = event.step
        elif isinstance(event, EvalCompleted):
            best_val = event.val_loss if best_val is None else min(best_val, event.val_loss)
        elif isinstance(event, TrainingPaused):
            state = "paused"
        elif isinstance(event, TrainingResumed):
            state = "running"
        elif isinstance(event, TrainingFinished):
            step = event.step
            state = state_after(event.reason)
        elif isinstance(event, EngineFailed):
            state = "failed"
    if state in ("running", "paused") and not worker_alive(run_dir):
        state = "failed"  # the worker died without a word: killed, or the machine went down
    events = run_dir / EVENTS
    age = time.time() - events.stat().st_mtime if events.exists() else 0.0
    return RunSummary(run_dir, state, step, max_steps, best_val, age)


def list_runs(root: Path = RUNS_ROOT) -> list[RunSummary]:
    """Every run directory under root, newest first."""
    if not root.is_dir():
        return []
    runs = [summarize_run(path) for path in root.iterdir() if (path / CONFIG).exists()]
    return sorted(runs, key=lambda run: run.age_s)


def summarize_model(trainer) -> dict:
    """Parameters per part of the model, as the worker sends it (see outputs.ModelSummary)."""
    model = trainer.model
    parts = [
        ("token embedding (tied to the output head)", model.wte.weight.numel()),
        ("position embedding", model.wpe.weight.numel()),
    ]
    parts += [
        (f"block {i}", sum(p.numel() for p in block.parameters()))
        for i, block in enumerate(model.blocks)
    ]
    parts.append(("final layer norm", sum(p.numel() for p in model.ln_f.parameters())))
    config = trainer.config.model
    return {
        "n_params": model.num_params(),
        "layers": parts,
        "vocab_size": config.vocab_size,
        "block_size": config.block_size,
        "n_layer": config.n_layer,
        "n_head": config.n_head,
        "n_embd": config.n_embd,
        "device": trainer.device.type,
    }
