"""The training step as one CUDA graph: forward, backward, clipping and the optimizer step
captured once and then replayed, so a step costs five launches instead of several hundred.

A small model's step on a GPU is bound by the CPU launching its kernels one by one; a replayed
graph launches them all at once. It needs fixed shapes (the batch always is), inputs in fixed
buffers, no host reads (engine/training/step.py already keeps them out), the learning rate as a
tensor the graph reads, and an optimizer that can be captured: the default fused AdamW. Anything
else, or a capture that fails, trains eagerly as before.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

import torch

log = logging.getLogger(__name__)
ENABLED = True  # a benchmark turns it off to compare with the eager step
WARMUP_STEPS = 3  # eager runs before the capture, so that libraries set up outside it


def can_capture(optimizer, device: torch.device, compiled: bool) -> bool:
    """Whether this run's step can be a graph: CUDA, no torch.compile, fused AdamW alone, one
    process (DistributedDataParallel's gradient hooks are not captured here)."""
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    return (
        ENABLED
        and device.type == "cuda"
        and not compiled
        and not distributed
        and isinstance(optimizer, torch.optim.AdamW)
        and all(group.get("fused") for group in optimizer.param_groups)
    )


class GraphStep:
    """One run's captured step. `body(x, y)` is the eager step on the fixed buffers (it returns
    the (loss, grad norm) tensor); `bad` is the run's skip flag, which the body updates in place."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        body: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        bad: torch.Tensor,
    ):
        self.optimizer = optimizer
        self.body = body
        self.bad = bad
        self.lr = torch.zeros((), device=bad.device)  # float32, as fused AdamW reads it
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None
        self.values: torch.Tensor | None = None  # the graph's output: (loss, grad norm)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.failed = False

    def step(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> torch.Tensor | None:
        """Replay the step on batch x, y at rate lr; its (loss, grad norm) on the device, or None
        if it could not be captured (the caller steps eagerly, and from then on)."""
        if self.graph is None and not self._capture(x, y):
            return None
        self.x.copy_(x, non_blocking=True)
        self.y.copy_(y, non_blocking=True)
        self.lr.fill_(lr)
        self.graph.replay()
        return self.values.clone()  # the next replay overwrites the output

    def _capture(self, x: torch.Tensor, y: torch.Tensor) -> bool:
        self.x, self.y = x.clone(), y.clone()
        try:
            self._graph_groups()
            # Warm-up steps run the real kernels with the skip flag set: the weights and the
            # optimizer's state (created here) stay as they were.
            self.bad.fill_(1.0)
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(WARMUP_STEPS):
                    self.optimizer.zero_grad(set_to_none=True)
                    self.body(self.x, self.y)
            torch.cuda.current_stream().wait_stream(side)
            self.bad.zero_()
            # Gradients are created inside the capture, so each replay writes them afresh.
            self.optimizer.zero_grad(set_to_none=True)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self.values = self.body(self.x, self.y)
        except RuntimeError as error:
            log.warning("warning: training without a CUDA graph: %s", error)
            self.failed = True
            self._plain_groups(float(self.lr))
            self.bad.zero_()
            self.optimizer.zero_grad(set_to_none=True)
            return False
        self.graph = graph
        return True

    def _graph_groups(self) -> None:
        for group in self.optimizer.param_groups:
            group["capturable"] = True
            group["lr"] = self.lr

    def _plain_groups(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["capturable"] = False
            group["lr"] = lr

    @contextlib.contextmanager
    def plain_groups(self) -> Iterator[None]:
        """The optimizer as an eager run has it (a float rate, not capturable), for a checkpoint
        that any device can resume."""
        if self.graph is None:
            yield
            return
        self._plain_groups(float(self.lr))  # a sync, at a checkpoint only
        try:
            yield
        finally:
            self._graph_groups()
