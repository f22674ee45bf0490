"""Activation statistics for the Learning view: per block, how many MLP units sit near zero or never
fire and how large the residual stream is; per head, how spread its attention is and its largest
score before the softmax.

One forward pass over a batch, block by block from the model's own modules (as the forward trace
walks one sequence), with the attention materialised. Everything stays on the device: nothing here
reads a value back, so the training loop decides when to pay for the copy.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from engine.contract.learning import NEAR_ZERO
from engine.model.gpt import GPT, rotate


@torch.no_grad()
def activation_stats(model: GPT, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """On the batch idx (B, T), without dropout: per block (near-zero share of MLP activations,
    share of dead MLP units, mean residual norm), shape (n_layer, 3); per head (mean entropy over
    queries 1..T-1, largest pre-softmax score), shape (n_layer, n_head, 2). float32, on the device.
    """
    m = model.config
    B, T = idx.shape
    nh, hs = m.n_head, m.head_size
    was_training = model.training
    model.eval()
    try:
        x = model.wte(idx)
        if model.wpe is not None:
            x = x + model.wpe.weight[:T]
        causal = torch.ones(T, T, dtype=torch.bool, device=idx.device).tril()
        layers, heads = [], []
        for block in model.blocks:
            h = block.ln_1(x)
            q, k, v = block.attn.c_attn(h).view(B, T, 3, nh, hs).permute(2, 0, 3, 1, 4)
            if m.qk_norm:
                q, k = F.rms_norm(q, (hs,)), F.rms_norm(k, (hs,))
            if m.rope:
                cos, sin = block.attn.rotary.cos[:T], block.attn.rotary.sin[:T]  # (T, hs / 2)
                q, k = rotate(q, cos, sin), rotate(k, cos, sin)
            scores = (q @ k.transpose(-2, -1)).float() / math.sqrt(hs)  # (B, nh, T, T)
            scores = scores.masked_fill(~causal, float("-inf"))
            att = F.softmax(scores, dim=-1)
            # entr(0) is 0, where p * log(p) would be nan on the masked keys.
            entropy = torch.special.entr(att).sum(-1)  # (B, nh, T)
            seen = entropy[:, :, 1:] if T > 1 else entropy  # query 0 has one choice
            heads.append(torch.stack((seen.mean((0, 2)), scores.amax((0, 2, 3))), dim=-1))
            y = (att.to(v.dtype) @ v).transpose(1, 2).reshape(B, T, m.n_embd)
            x = x + block.attn.c_proj(y)
            up = block.mlp.c_fc(block.ln_2(x))  # (B, T, 4C)
            act = block.mlp.act(up)
            x = x + block.mlp.c_proj(act)
            near_zero = (act.abs() < NEAR_ZERO).float().mean()
            dead = (~(up > 0).flatten(0, 1).any(0)).float().mean()  # a unit off on every token
            residual = x.float().norm(dim=-1).mean()
            layers.append(torch.stack((near_zero, dead, residual)))
    finally:
        model.train(was_training)
    return torch.stack(layers), torch.stack(heads)


def uniform_entropy(T: int) -> float:
    """The mean entropy of attention spread evenly over the keys each query may see, over the
    queries activation_stats averages (1..T-1): the most a head's entropy can be."""
    if T <= 1:
        return 0.0
    return sum(math.log(q + 1) for q in range(1, T)) / (T - 1)
