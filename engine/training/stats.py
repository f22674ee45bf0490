"""Training statistics measured on one step: for each weight matrix its gradient norm (before
clipping), its norm and the update-to-data ratio of the change the optimizer really made; the
activations' statistics (engine/lens/activations.py) on the step's batch.

Only the steps that take statistics pay anything: no hooks stay on the model, and the values stay
on the device (copied to the host asynchronously on a GPU) until the loop reads the step, so a
queued CUDA step waits for nothing. Gradients are read after clipping and scaled back by the
factor clipping applied (the same for every weight), which is also how a replayed CUDA graph's
step, whose clipping happens inside the graph, is measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.contract.events import TrainingStats
from engine.contract.learning import HeadStats, LayerStats, WeightStats
from engine.lens.activations import activation_stats, uniform_entropy
from engine.model.gpt import GPT

CLIP_EPS = 1e-6  # what torch.nn.utils.clip_grad_norm_ adds to the norm it divides by


def weight_rows(model: GPT) -> list[tuple[str, int | None, torch.nn.Parameter]]:
    """(matrix, layer, weight) for each weight matrix the statistics follow, in model order."""
    rows: list[tuple[str, int | None, torch.nn.Parameter]] = [
        ("token_embedding", None, model.wte.weight)
    ]
    if model.wpe is not None:
        rows.append(("position_embedding", None, model.wpe.weight))
    for i, block in enumerate(model.blocks):
        rows += [
            ("qkv", i, block.attn.c_attn.weight),
            ("attn_out", i, block.attn.c_proj.weight),
            ("mlp_in", i, block.mlp.c_fc.weight),
            ("mlp_out", i, block.mlp.c_proj.weight),
        ]
    if not model.config.tie_head:  # tied, the head is the token embedding: one row, not two
        rows.append(("head", None, model.lm_head.weight))
    return rows


@dataclass
class Measuring:
    """A step being measured: the weights as they were before it, its activations' statistics."""

    before: list[torch.Tensor]
    layers: torch.Tensor  # (n_layer, 3)
    heads: torch.Tensor  # (n_layer, n_head, 2)


@dataclass
class StatsReading:
    """A measured step's values on their way to the host."""

    host: torch.Tensor  # flat float32, on the host (pinned on CUDA)
    done: torch.cuda.Event | None  # None where the copy was synchronous

    def values(self) -> list[float]:
        if self.done is not None:
            self.done.synchronize()  # long done by the time the loop reads its step
        return self.host.tolist()


class StatsRecorder:
    """Measures the steps the loop asks it to, for one model."""

    def __init__(self, model: GPT):
        self.model = model
        self.rows = weight_rows(model)
        self.weights = [param for _, _, param in self.rows]

    @torch.no_grad()
    def begin(self, idx: torch.Tensor) -> Measuring:
        """Before the step: copy the weights and measure the activations on its batch idx."""
        before = [w.detach().clone() for w in self.weights]
        layers, heads = activation_stats(self.model, idx)
        return Measuring(before, layers, heads)

    @torch.no_grad()
    def finish(self, measuring: Measuring, grad_norm: torch.Tensor, clip: float) -> StatsReading:
        """After the step (its gradients still in place): the weights' statistics, joined with the
        activations' and sent on their way to the host. `grad_norm` is the step's total norm
        before clipping, on the device; `clip` the run's grad_clip (0: none)."""
        weights = [w.detach() for w in self.weights]
        grads = [w.grad if w.grad is not None else torch.zeros_like(w) for w in self.weights]
        grad_norms = torch.stack(torch._foreach_norm(grads)).float()
        if clip > 0:  # clipping scaled every gradient by this (at most 1): undo it
            grad_norms = grad_norms / (clip / (grad_norm.float() + CLIP_EPS)).clamp(max=1.0)
        deltas = torch._foreach_sub(weights, measuring.before)
        update_std = torch.stack([d.float().std() for d in deltas])
        weight_std = torch.stack([w.float().std() for w in weights])
        weight_norms = torch.stack(torch._foreach_norm(weights)).float()
        ratio = torch.log10(update_std / weight_std)
        flat = torch.cat((
            torch.stack((grad_norms, weight_norms, ratio), dim=-1).flatten(),
            measuring.layers.flatten(),
            measuring.heads.flatten(),
        ))  # fmt: skip
        if not flat.is_cuda:
            return StatsReading(flat, None)
        host = torch.empty(flat.shape, dtype=flat.dtype, pin_memory=True)
        host.copy_(flat, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        return StatsReading(host, done)

    def event(self, step: int, values: list[float]) -> TrainingStats:
        """The TrainingStats of a measured step from its values (StatsReading.values)."""
        m = self.model.config
        n = len(self.rows)
        per_weight = values[: 3 * n]
        per_layer = values[3 * n : 3 * n + 3 * m.n_layer]
        per_head = values[3 * n + 3 * m.n_layer :]
        weights = tuple(
            WeightStats(matrix, layer, *map(_short, per_weight[3 * i : 3 * i + 3]))
            for i, (matrix, layer, _) in enumerate(self.rows)
        )
        layers = tuple(
            LayerStats(i, *map(_short, per_layer[3 * i : 3 * i + 3])) for i in range(m.n_layer)
        )
        heads = tuple(
            HeadStats(i // m.n_head, i % m.n_head, *map(_short, per_head[2 * i : 2 * i + 2]))
            for i in range(m.n_layer * m.n_head)
        )
        return TrainingStats(step, weights, layers, heads, _short(uniform_entropy(m.block_size)))


def _short(value: float) -> float:
    """Five significant digits: the log stays small, and no chart needs more."""
    return float(f"{value:.5g}")
