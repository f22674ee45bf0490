"""Reference models for the benchmark, measured beside the engine in the same run.

(a) The teaching demo this project grew out of: one module per attention head with its own K, Q, V
    Linear layers, heads concatenated, a ReLU MLP, an untied LM head, batches stacked from a Python
    list of slices, and AdamW with default settings.
(b) A plain eager nanoGPT-style loop: fused QKV + scaled_dot_product_attention, GELU, tied head,
    batches by fancy indexing, AdamW with decay on 2-D weights, no events, no checkpoints.
Not used by the app; they exist so speed claims are measured, not remembered.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn import functional as F

from engine.contract.config import ModelConfig
from engine.model.gpt import GPT


class DemoHead(nn.Module):
    def __init__(self, n_embd: int, head_size: int, block_size: int):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))

    def forward(self, x):
        B, T, C = x.shape
        k, q = self.key(x), self.query(x)
        wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5  # (B, T, T)
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
        wei = F.softmax(wei, dim=-1)
        return wei @ self.value(x)


class DemoMultiHead(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        hs = config.n_embd // config.n_head
        self.heads = nn.ModuleList(
            DemoHead(config.n_embd, hs, config.block_size) for _ in range(config.n_head)
        )
        self.proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x):
        return self.proj(torch.cat([h(x) for h in self.heads], dim=-1))


class DemoBlock(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.sa = DemoMultiHead(config)
        self.ffwd = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd),
            nn.ReLU(),
            nn.Linear(4 * config.n_embd, config.n_embd),
        )
        self.ln1 = nn.LayerNorm(config.n_embd)
        self.ln2 = nn.LayerNorm(config.n_embd)

    def forward(self, x):
        x = x + self.sa(self.ln1(x))
        return x + self.ffwd(self.ln2(x))


class DemoGPT(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.token_embedding_table = nn.Embedding(config.vocab_size, config.n_embd)
        self.position_embedding_table = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.Sequential(*[DemoBlock(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size)

    def forward(self, idx, targets):
        B, T = idx.shape
        x = self.token_embedding_table(idx) + self.position_embedding_table(torch.arange(T))
        logits = self.lm_head(self.ln_f(self.blocks(x)))
        B, T, C = logits.shape
        return logits, F.cross_entropy(logits.view(B * T, C), targets.reshape(B * T))


def demo_step_fn(config: ModelConfig, data: torch.Tensor, batch_size: int, lr: float):
    """Baseline (a): returns a function that runs one training step and returns the loss."""
    model = DemoGPT(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    data = data.long()
    T = config.block_size

    def step() -> float:
        ix = torch.randint(len(data) - T, (batch_size,))
        x = torch.stack([data[i : i + T] for i in ix])
        y = torch.stack([data[i + 1 : i + T + 1] for i in ix])
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def nanogpt_step_fn(
    config: ModelConfig,
    data: torch.Tensor,
    batch_size: int,
    lr: float,
    device: torch.device | None = None,
):
    """Baseline (b): the same GPT as the engine's, driven by a bare eager loop. On CUDA, as in
    nanoGPT's train.py: bf16 autocast and pinned, non-blocking batch copies."""
    device = device or torch.device("cpu")
    model = GPT(config).to(device)
    cuda = device.type == "cuda"
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.99),
    )
    T = config.block_size

    def step() -> float:
        ix = torch.randint(len(data) - T, (batch_size,))
        window = data[ix[:, None] + torch.arange(T + 1)].long()
        if cuda:
            window = window.pin_memory().to(device, non_blocking=True)
        with torch.autocast(device.type, torch.bfloat16, enabled=cuda):
            _, loss = model(window[:, :-1], window[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()

    return step
