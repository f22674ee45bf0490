"""The step, and everything about taking one: batch, forward, loss, backward, clip, optimizer
step, and reading the loss and gradient norm back (late, on a GPU: engine/training/step.py), with
the seam for training as one of several ranks (engine/training/distributed.py).

A base class of the Trainer, which owns the state these methods use; the loop that decides when to
step, evaluate and save is the Trainer's (trainer.py).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from engine.contract.config import RunConfig
from engine.contract.errors import EngineError
from engine.contract.events import Event, FinishReason, LossNotFinite, PauseCause, StepCompleted
from engine.data.dataset import Dataset
from engine.model.gpt import GPT
from engine.training.checkpoint import TrainerState
from engine.training.graph_step import GraphStep
from engine.training.optim import set_lr
from engine.training.schedule import lr_at
from engine.training.stats import StatsRecorder
from engine.training.step import PendingStep, StepReader, apply_unless, flag_not_finite

MAX_BAD_STEPS = 10  # consecutive non-finite losses before an unattended run gives up
MAX_PENDING = 100  # steps queued on the device before their values are read, log_every or not


@dataclass
class Control:
    """Flags the loop reads between steps; the owner sets them (from a signal handler, too)."""

    stop: bool = False
    stop_reason: FinishReason = FinishReason.STOPPED  # what TrainingFinished says after a stop
    save_now: bool = False
    sample_now: bool = False
    # Set to pause at the next step boundary; the loop also sets it on a non-finite step. After a
    # TrainingPaused the owner stops advancing the loop; advancing it again resumes.
    pause: PauseCause | None = None


class Stepping:
    """The Trainer's step; the Trainer provides the attributes declared here."""

    config: RunConfig
    data: Dataset
    device: torch.device
    run_dir: Path | None
    model: GPT
    step_model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    params: list[torch.Tensor]
    state: TrainerState
    batch_rng: torch.Generator
    autocast_dtype: torch.dtype | None
    shard: tuple[int, int]
    graph: GraphStep | None
    lazy: bool
    reader: StepReader
    stats: StatsRecorder | None
    control: Control
    _bad: torch.Tensor
    _bad_steps: int
    _logged: TrainerState
    _unsent: list[Event]
    _not_finite: LossNotFinite | None
    _mean_over_ranks: Callable[[torch.Tensor], torch.Tensor] | None
    _before_step: Callable[[int], None] | None

    @property
    def step(self) -> int:
        return self.state.step

    def distribute(
        self,
        rank: int,
        ranks: int,
        wrap: Callable[[torch.nn.Module], torch.nn.Module],
        mean_over_ranks: Callable[[torch.Tensor], torch.Tensor],
        before_step: Callable[[int], None] | None = None,
    ) -> None:
        """Train as rank `rank` of `ranks` processes (engine/training/distributed.py).

        Each step takes this rank's share of the global batch through `wrap(model)` (DDP), logs
        the loss averaged by `mean_over_ranks`, and first calls `before_step(step)` (rank 0 tells
        the others which step comes). Only rank 0 writes the run's files.
        """
        self.shard = (rank, ranks)
        self.graph = None  # DDP's gradient hooks run between kernels: no CUDA graph capture
        self.step_model = wrap(self.step_model)
        self._mean_over_ranks = mean_over_ranks
        self._before_step = before_step
        if rank != 0:
            self.run_dir = None  # nothing of a follower's reaches the disk
            self.stats = None  # nor any event

    def rewind(self, step: int) -> None:
        """Go back to `step`, as rank 0 did on reading a non-finite step: the steps after it were
        skipped on the device (engine/training/step.py), so only the count goes back."""
        if step > self.step:
            raise EngineError(f"cannot rewind to step {step}: this trainer is at {self.step}")
        self.state = replace(self.state, step=step)
        self._bad.zero_()

    def follow_step(self) -> None:
        """A step on a rank that only follows: rank 0 reads the values, so nobody does here."""
        self.train_step()
        self.reader.discard()

    def train_step(self) -> None:
        """Queue one optimizer step: batch, forward, loss, backward, clip, step.

        Its loss and gradient norm stay on the device until the loop reads them (_read_steps).
        On CUDA the step after the batch is one replayed CUDA graph (engine/training/graph_step.py).
        """
        if self._before_step is not None:
            self._before_step(self.step)
        started = time.perf_counter()
        m, t = self.config.model, self.config.train
        lr = lr_at(self.step, self.config)
        x, y = self.data.batch(
            "train", t.batch_size, m.block_size, self.batch_rng, self.device, self.shard
        )
        measuring = None
        if self.stats is not None and (self.step + 1) % t.stats_every == 0:
            measuring = self.stats.begin(x)
        values = self.graph.step(x, y, lr) if self.graph is not None else None
        eager = values is None
        if values is None:
            if self.graph is not None and self.graph.failed:
                self.graph = None
            set_lr(self.optimizer, t, lr)
            values = self._step_on(x, y)
        stats = None
        if measuring is not None and self.stats is not None:  # the gradients are still here
            stats = self.stats.finish(measuring, values[1], t.grad_clip)
        if eager:
            self.optimizer.zero_grad(set_to_none=True)
        before = self.state
        self.state = TrainerState(
            before.step + 1,
            before.tokens_seen + t.batch_size * self.data.row_tokens(m.block_size),
            before.elapsed_s + time.perf_counter() - started,
        )
        self.reader.add(PendingStep(before, self.state, lr, values, stats))

    def _step_on(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Forward, loss, backward, clip and the optimizer step (skipped on the device if not
        finite); returns (loss, grad norm) on the device. What a CUDA graph captures."""
        capturing = self.graph is not None  # a graph's autocast must not cache weight casts
        with self._autocast(cache=not capturing):
            _, loss = self.step_model(x, y)
        loss.backward()
        if self._mean_over_ranks is not None:  # the global batch's loss, as one process logs it
            loss = self._mean_over_ranks(loss)
        if self.config.train.grad_clip > 0:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.config.train.grad_clip)
        else:
            grad_norm = torch.nn.utils.get_total_norm([p.grad for p in self.params])
        values = torch.stack((loss.detach().float(), grad_norm.float()))  # (2,)
        if self.lazy:
            flag_not_finite(self._bad, values)
            apply_unless(self.optimizer, self._bad)
        elif values.sum().isfinite():  # a read, but no wait: on a CPU the values are here
            self.optimizer.step()
        return values

    def _autocast(self, cache: bool = True):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, self.autocast_dtype, cache_enabled=cache)

    def _read_steps(self, wait: bool) -> None:
        """Take in the steps whose values have arrived (all pending ones if `wait`), queueing
        their events in _unsent: a StepCompleted for each logged step, or, at a non-finite one,
        LossNotFinite, a rewind to the step before it, and a pause."""
        reader, train = self.reader, self.config.train
        due = self.step % train.log_every == 0 or len(reader.pending) >= MAX_PENDING
        if not wait and reader.pending and due:
            if reader.copying:  # the last log step's copy arrived long ago: take it first
                self._take()
            reader.request()
        while reader.pending and (wait or reader.ready()):
            self._take()

    def _take(self) -> None:
        train = self.config.train
        started = time.perf_counter()
        taken = self.reader.take()
        # Time spent waiting for the GPU is training time: without it, a GPU that the CPU has
        # queued steps far ahead of would seem to train at the speed the CPU queues.
        waited = time.perf_counter() - started
        self.state = replace(self.state, elapsed_s=self.state.elapsed_s + waited)
        for pending, loss, norm in taken:
            step = pending.after.step
            if not (math.isfinite(loss) and math.isfinite(norm)):
                # Skipped on the device, and every step queued after it: rewind to before it.
                self.state = pending.before
                self.reader.discard()
                self._bad.zero_()
                self._bad_steps += 1
                what = "loss" if not math.isfinite(loss) else "gradient norm"
                self._not_finite = LossNotFinite(step, loss, norm, what)
                self._unsent.append(self._not_finite)
                if self._bad_steps < MAX_BAD_STEPS:
                    self.control.pause = PauseCause.NOT_FINITE
                return
            self._bad_steps = 0
            if step % train.log_every == 0 or step >= train.max_steps:
                after, logged = pending.after, self._logged
                seconds = max(after.elapsed_s - logged.elapsed_s, 1e-9)
                rate = (after.tokens_seen - logged.tokens_seen) / seconds
                self._logged = after
                self._unsent.append(
                    StepCompleted(
                        step=step,
                        loss=loss,
                        lr=pending.lr,
                        grad_norm=norm,
                        tokens_per_s=rate,
                        elapsed_s=after.elapsed_s,
                        tokens_seen=after.tokens_seen,
                    )
                )
            if pending.stats is not None and self.stats is not None:
                self._unsent.append(self.stats.event(step, pending.stats.values()))
