"""Typed events: the contract between the training loop, the run's events.jsonl and every client.

Each event is a frozen dataclass named as a fact. One codec (to_json / from_json) serves both the
append-only log and the wire, so what a client replays is exactly what it would have seen live.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar


@dataclass(frozen=True)
class EventBase:
    kind: ClassVar[str] = ""

    def to_json(self) -> str:
        """One line of JSON: {"kind": ..., **fields}. Non-finite floats are written as strings."""
        payload = {"kind": self.kind, **{k: _plain(v) for k, v in asdict(self).items()}}
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    @staticmethod
    def from_json(line: str | bytes) -> Event:
        """Parse one line written by to_json; raises ValueError on anything else."""
        raw = json.loads(line)
        if not isinstance(raw, dict):
            raise ValueError("event is not a JSON object")
        cls = EVENT_TYPES.get(raw.pop("kind", None))
        if cls is None:
            raise ValueError("unknown event kind")
        known = {f.name: f for f in fields(cls)}
        values = {k: _unplain(v, known[k].type) for k, v in raw.items() if k in known}
        return cls(**values)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf": strict JSON has no such numbers
    if isinstance(value, tuple):
        return list(value)
    return value


def _unplain(value: Any, annotation: Any) -> Any:
    if isinstance(value, str) and "float" in str(annotation) and value in ("nan", "inf", "-inf"):
        return float(value)
    if isinstance(value, list):
        return tuple(value)
    return value


@dataclass(frozen=True)
class TrainingStarted(EventBase):
    kind: ClassVar[str] = "training_started"
    run_dir: str
    preset: str
    device: str
    dtype: str
    tokenizer: str
    vocab_size: int
    n_params: int
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int
    batch_size: int
    start_step: int
    max_steps: int
    train_tokens: int
    val_tokens: int
    resumed: bool = False
    probe: str = ""  # the text whose attention the time-lapse stores at every eval


@dataclass(frozen=True)
class StepCompleted(EventBase):
    kind: ClassVar[str] = "step"
    step: int  # steps done so far, counting this one
    loss: float
    lr: float
    grad_norm: float
    tokens_per_s: float
    elapsed_s: float  # training time of this run so far, evals and checkpoints excluded
    tokens_seen: int


@dataclass(frozen=True)
class EvalCompleted(EventBase):
    kind: ClassVar[str] = "eval"
    step: int
    train_loss: float
    val_loss: float


@dataclass(frozen=True)
class SampleGenerated(EventBase):
    kind: ClassVar[str] = "sample"
    step: int
    prompt: str
    text: str


@dataclass(frozen=True)
class LossNotFinite(EventBase):
    """The loss or gradient was NaN or infinite, so the step was not applied."""

    kind: ClassVar[str] = "loss_not_finite"
    step: int
    loss: float
    grad_norm: float


@dataclass(frozen=True)
class CheckpointSaved(EventBase):
    kind: ClassVar[str] = "checkpoint"
    step: int
    path: str


@dataclass(frozen=True)
class TrainingPaused(EventBase):
    kind: ClassVar[str] = "paused"
    step: int
    reason: str = "requested"


@dataclass(frozen=True)
class TrainingResumed(EventBase):
    kind: ClassVar[str] = "resumed"
    step: int


@dataclass(frozen=True)
class TrainingFinished(EventBase):
    kind: ClassVar[str] = "finished"
    reason: str  # completed, stopped, interrupted or diverged
    step: int


@dataclass(frozen=True)
class EngineFailed(EventBase):
    """The worker died or raised; the last good checkpoint is what survives."""

    kind: ClassVar[str] = "failed"
    reason: str
    exit_code: int | None = None
    last_checkpoint: str | None = None


Event = (
    TrainingStarted
    | StepCompleted
    | EvalCompleted
    | SampleGenerated
    | LossNotFinite
    | CheckpointSaved
    | TrainingPaused
    | TrainingResumed
    | TrainingFinished
    | EngineFailed
)

EVENT_TYPES: dict[str, type[EventBase]] = {
    cls.kind: cls
    for cls in (
        TrainingStarted,
        StepCompleted,
        EvalCompleted,
        SampleGenerated,
        LossNotFinite,
        CheckpointSaved,
        TrainingPaused,
        TrainingResumed,
        TrainingFinished,
        EngineFailed,
    )
}

event_from_json = EventBase.from_json
