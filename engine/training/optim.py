"""The optimizers: AdamW alone (the classic recipe), or Muon for the blocks' weight matrices with
AdamW for everything else (embeddings, an untied head, gains and biases).

Muon orthogonalises each matrix's momentum (Newton-Schulz), so every direction of the matrix moves
by about the same amount; it only makes sense for 2-D weights that map one hidden vector to
another, which is why the embeddings and the head stay on AdamW.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.contract.config import RunConfig, TrainConfig
from engine.model.gpt import GPT

Optimizer = Any  # torch.optim.Optimizer or Optimizers: the same methods the trainer uses


class Optimizers:
    """Several optimizers stepped as one, with one state dict whose parameter indices run on
    from one optimizer to the next, so a checkpoint stores and restores them like one."""

    def __init__(self, *optimizers: torch.optim.Optimizer):
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict]:
        return [group for optimizer in self.optimizers for group in optimizer.param_groups]

    def step(self) -> None:
        for optimizer in self.optimizers:
            optimizer.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        state, groups, offset = {}, [], 0
        for optimizer in self.optimizers:
            own = optimizer.state_dict()
            state.update({offset + index: values for index, values in own["state"].items()})
            groups += [
                {**g, "params": [offset + i for i in g["params"]]} for g in own["param_groups"]
            ]
            offset += _count(optimizer)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{len(groups)} parameter groups saved, {len(self.param_groups)} here")
        offset = first = 0
        for optimizer in self.optimizers:
            count, n_groups = _count(optimizer), len(optimizer.param_groups)
            own = groups[first : first + n_groups]
            optimizer.load_state_dict({
                "state": {
                    index - offset: values
                    for index, values in state_dict["state"].items()
                    if offset <= index < offset + count
                },
                "param_groups": [{**g, "params": [i - offset for i in g["params"]]} for g in own],
            })  # fmt: skip
            offset, first = offset + count, first + n_groups


def _count(optimizer: torch.optim.Optimizer) -> int:
    return sum(len(group["params"]) for group in optimizer.param_groups)


def muon_params(model: GPT) -> list[torch.nn.Parameter]:
    """The weights Muon trains: every matrix inside the blocks (attention and MLP projections)."""
    return [p for p in model.blocks.parameters() if p.requires_grad and p.dim() == 2]


def make_optimizer(model: GPT, config: RunConfig, device: torch.device) -> Optimizer:
    """AdamW that decays 2-D weights (matmuls, embeddings) but not biases or LayerNorm gains; with
    train.muon, Muon takes the blocks' matrices and AdamW keeps the rest."""
    train = config.train
    params = [p for p in model.parameters() if p.requires_grad]
    muon = muon_params(model) if train.muon else []
    taken = {id(p) for p in muon}
    rest = [p for p in params if id(p) not in taken]
    groups = [
        {"params": [p for p in rest if p.dim() >= 2], "weight_decay": train.weight_decay},
        {"params": [p for p in rest if p.dim() < 2], "weight_decay": 0.0},
    ]
    betas = (train.beta1, train.beta2)
    # The fused kernel does the whole update in one pass per dtype: far less per-step overhead.
    adamw = torch.optim.AdamW(groups, lr=train.lr, betas=betas, fused=device.type != "mps")
    if not muon:
        return adamw
    matrices = torch.optim.Muon(
        [{"params": muon, "muon": True}],
        lr=train.muon_lr,
        momentum=train.muon_momentum,
        weight_decay=train.weight_decay,
    )
    return Optimizers(adamw, matrices)


def set_lr(optimizer: Optimizer, train: TrainConfig, lr: float) -> None:
    """Set this step's rate: `lr` for AdamW's groups, Muon's own peak rate scaled alike."""
    muon_lr = lr * train.muon_lr / train.lr
    for group in optimizer.param_groups:
        group["lr"] = muon_lr if group.get("muon") else lr
