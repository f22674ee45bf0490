"""A training step that never waits for the GPU: values read back late, bad updates skipped there.

Reading a CUDA tensor's value (`.item()`) waits for every queued kernel, and while the CPU waits
it queues nothing, so the GPU idles once per read. Here a step leaves its loss and gradient norm
on the device; they are copied to the host asynchronously and read a step or more later. A step
whose loss or gradient norm is not finite is skipped on the device (see apply_unless), and so is
every step after it until the host has read the values and rewound to the last good step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.training.checkpoint import TrainerState
from engine.training.stats import StatsReading


@dataclass(frozen=True)
class PendingStep:
    """A step queued on the device whose loss and gradient norm the host has not read yet."""

    before: TrainerState  # progress before this step: where a bad step rewinds to
    after: TrainerState
    lr: float
    values: torch.Tensor  # (2,) loss, gradient norm, float32, on the device
    stats: StatsReading | None = None  # a step measured for its training statistics


class StepReader:
    """Pending steps, copied to the host in batches: one wait per batch, none on the GPU's side.

    `reads` counts the host reads (each one a sync on a GPU), for tests and benchmarks.
    """

    def __init__(self) -> None:
        self.pending: list[PendingStep] = []
        self.reads = 0
        self._copy: tuple[int, torch.Tensor, torch.cuda.Event | None] | None = None

    def add(self, step: PendingStep) -> None:
        self.pending.append(step)

    @property
    def copying(self) -> bool:
        return self._copy is not None

    def request(self) -> None:
        """Start copying every pending step's values to the host (asynchronously on CUDA)."""
        if self._copy is not None or not self.pending:
            return
        values = torch.stack([p.values for p in self.pending])  # (n, 2)
        done = None
        if values.is_cuda:
            host = torch.empty(values.shape, dtype=values.dtype, pin_memory=True)
            host.copy_(values, non_blocking=True)
            done = torch.cuda.Event()
            done.record()
        else:
            host = values
        self._copy = (len(self.pending), host, done)

    def ready(self) -> bool:
        """Whether a copy has arrived, so take() would not wait."""
        return self._copy is not None and (self._copy[2] is None or self._copy[2].query())

    def take(self) -> list[tuple[PendingStep, float, float]]:
        """The copied steps with their loss and gradient norm; waits for the copy if it must."""
        if self._copy is None:
            self.request()
        if self._copy is None:
            return []
        count, host, done = self._copy
        if done is not None:
            done.synchronize()  # waits for this copy only, not for the steps queued after it
        self._copy = None
        self.reads += 1
        rows = host.tolist()
        taken, self.pending = self.pending[:count], self.pending[count:]
        return [(p, loss, norm) for p, (loss, norm) in zip(taken, rows, strict=True)]

    def discard(self) -> None:
        """Forget every pending step: they were skipped on the device after a bad one."""
        self.pending.clear()
        self._copy = None


def flag_not_finite(bad: torch.Tensor, values: torch.Tensor) -> None:
    """Set `bad` (a float 0-d tensor, 1.0 once any step went bad) if a value is not finite.

    In place, so that a captured step (engine/training/graph_step.py) and the loop share the
    flag."""
    # The sum is finite only if every value is: NaN spreads, and inf + -inf is NaN.
    bad.masked_fill_(~values.sum().isfinite(), 1.0)


def apply_unless(optimizer, bad: torch.Tensor) -> None:
    """optimizer.step(), except that where `bad` is 1.0 the parameters and the optimizer's state
    stay exactly as they were, decided on the device without a sync.

    Fused Adam, AdamW and SGD take the flag themselves (it is how GradScaler skips a step). Any
    other optimizer (Muon, say) is stepped, then its parameters and state are put back from a
    copy wherever the flag says. A wrapper holding several optimizers in `.optimizers` is
    handled one optimizer at a time.
    """
    for each in getattr(optimizer, "optimizers", (optimizer,)):
        if getattr(each, "_step_supports_amp_scaling", False):
            each.found_inf = bad
            try:
                each.step()
            finally:
                del each.found_inf  # a later plain step() must not see a stale flag
        else:
            _step_and_restore(each, bad)


def _step_and_restore(optimizer: torch.optim.Optimizer, bad: torch.Tensor) -> None:
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    state_before = {id(p): set(optimizer.state.get(p, {})) for p in params}
    kept = [t for p in params for t in (p, *_tensors(optimizer.state.get(p, {})))]
    if any(t.device != bad.device for t in kept):  # e.g. a step count on the CPU: read the flag
        if not bool(bad):
            optimizer.step()
        return
    copies = [t.detach().clone() for t in kept]
    optimizer.step()
    skip = bad.bool()
    with torch.no_grad():
        for tensor, copy in zip(kept, copies, strict=True):
            torch.where(skip, copy, tensor, out=tensor)
        for p in params:  # state the skipped step created goes back to zeros, its initial value
            state = optimizer.state.get(p, {})
            for key in set(state) - state_before[id(p)]:
                if isinstance(state[key], torch.Tensor) and state[key].device == bad.device:
                    state[key].masked_fill_(skip, 0)


def _tensors(state: dict) -> list[torch.Tensor]:
    return [value for value in state.values() if isinstance(value, torch.Tensor)]
