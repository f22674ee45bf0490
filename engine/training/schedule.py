"""The learning-rate schedule: linear warmup, then cosine decay to min_lr (nanoGPT's), in one place
for the step, the optimizers and the schedule the Train view draws."""

from __future__ import annotations

import math

from engine.contract.config import RunConfig

LR_SCHEDULE_POINTS = 64  # points of the schedule sent at start, for the Train view to draw


def lr_at(step: int, config: RunConfig) -> float:
    """Linear warmup, then cosine decay from lr to min_lr at max_steps (nanoGPT's schedule)."""
    train = config.train
    if step < train.warmup_steps:
        return train.lr * (step + 1) / (train.warmup_steps + 1)
    span = max(1, train.max_steps - train.warmup_steps)
    progress = min(1.0, (step - train.warmup_steps) / span)
    return train.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (train.lr - train.min_lr)


def lr_schedule(config: RunConfig, points: int = LR_SCHEDULE_POINTS) -> tuple[float, ...]:
    """lr_at at `points` evenly spaced steps from 0 to max_steps."""
    last = config.train.max_steps
    return tuple(lr_at(round(i * last / (points - 1)), config) for i in range(points))
