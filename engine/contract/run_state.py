"""A run's state and the one function that moves it along its events.

The worker, the `runs` listing, the headless CLI and the TUI all call `advance`, so "paused",
"finished" or "failed" means the same thing everywhere and is decided in one place.
"""

from __future__ import annotations

from enum import StrEnum

from engine.contract.events import (
    EngineFailed,
    Event,
    FinishReason,
    TrainingFinished,
    TrainingPaused,
    TrainingResumed,
    TrainingStarted,
)


class RunState(StrEnum):
    STARTING = "starting"  # nothing heard from the run yet
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"  # reached max_steps
    STOPPED = "stopped"  # ended early with a checkpoint; can be resumed
    FAILED = "failed"  # diverged, or the worker died

    @property
    def live(self) -> bool:
        """A worker is training this run, or holding it paused."""
        return self in (RunState.RUNNING, RunState.PAUSED)

    @property
    def ended(self) -> bool:
        """The run has said its last word; a history that stops short of this was cut off."""
        return self in (RunState.FINISHED, RunState.STOPPED, RunState.FAILED)


_AFTER_FINISH = {FinishReason.COMPLETED: RunState.FINISHED, FinishReason.DIVERGED: RunState.FAILED}


def settled(state: RunState, worker_alive: bool) -> RunState:
    """The state a history has left a run in, once it is known whether a worker still serves it.

    A history that stops short of its end, with no worker to continue it, was cut off by a worker
    that died without a word (killed, or the machine went down): failed.
    """
    return state if state.ended or worker_alive else RunState.FAILED


def advance(state: RunState, event: Event) -> RunState:
    """The state once `event` has happened; events that change nothing keep it."""
    if isinstance(event, (TrainingStarted, TrainingResumed)):
        return RunState.RUNNING
    if isinstance(event, TrainingPaused):
        return RunState.PAUSED
    if isinstance(event, TrainingFinished):
        return _AFTER_FINISH.get(event.reason, RunState.STOPPED)
    if isinstance(event, EngineFailed):
        return RunState.FAILED
    return state
