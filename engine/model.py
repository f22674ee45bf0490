"""The GPT: token + position embeddings, pre-LN blocks with fused-QKV causal self-attention and a
GELU MLP, a final LayerNorm, and an LM head tied to the token embedding.

Two attention paths share the weights: the fast one (scaled_dot_product_attention) for training and
generation, and an inspection one that materialises the softmax so its probabilities can be shown.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn import functional as F

from engine.config import ModelConfig


class KVCache:
    """Preallocated keys and values for every layer, filled from position 0 onwards."""

    def __init__(self, config: ModelConfig, batch_size: int, device, dtype):
        shape = (config.n_layer, batch_size, config.n_head, config.block_size, config.head_size)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.pos = 0  # tokens already cached

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Store the new tokens' k, v (B, nh, T, hs) and return all cached so far."""
        end = self.pos + k.size(2)
        self.k[layer, :, :, self.pos : end] = k
        self.v[layer, :, :, self.pos : end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def reset(self) -> None:
        self.pos = 0


class CausalSelfAttention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout
        self.resid_dropout = _dropout(config.dropout)

    def forward(
        self, x, cache: KVCache | None = None, layer: int = 0, probs_out: list | None = None
    ):
        B, T, C = x.size()
        qkv = self.c_attn(x).view(B, T, 3, self.n_head, C // self.n_head)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, nh, T, hs)
        start = cache.pos if cache is not None else 0
        if cache is not None:
            k, v = cache.update(layer, k, v)  # (B, nh, start + T, hs)
        dropout = self.dropout if self.training else 0.0
        if probs_out is not None:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))  # (B, nh, T, start + T)
            att = att.masked_fill(~_causal_mask(T, start, x.device), float("-inf"))
            att = F.softmax(att, dim=-1)
            probs_out.append(att)
            y = F.dropout(att, dropout, self.training) @ v
        elif T == 1:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)  # sees all it has
        elif start == 0:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        else:
            mask = _causal_mask(T, start, x.device)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).reshape(B, T, C)))


def _dropout(p: float) -> nn.Module:
    # Identity rather than Dropout(0): on a tiny model every skipped op is a measurable saving.
    return nn.Dropout(p) if p > 0 else nn.Identity()


def _causal_mask(T: int, start: int, device) -> torch.Tensor:
    """(T, start + T) bools: query i, at position start + i, may see keys 0..start + i."""
    keys = torch.arange(start + T, device=device)
    queries = torch.arange(start, start + T, device=device)
    return keys[None, :] <= queries[:, None]


class MLP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = _dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, cache=None, layer=0, probs_out=None):
        x = x + self.attn(self.ln_1(x), cache, layer, probs_out)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        assert config.vocab_size > 0, "vocab_size comes from the tokenizer"
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = _dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying: one matrix reads and writes tokens
        self.apply(self._init_weights)
        for name, param in self.named_parameters():
            if name.endswith("c_proj.weight"):  # GPT-2's scaled init of residual projections
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _hidden(self, idx, cache: KVCache | None = None, probs_out: list | None = None):
        B, T = idx.size()
        start = cache.pos if cache is not None else 0
        assert start + T <= self.config.block_size, "context longer than block_size"
        pos = torch.arange(start, start + T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))  # (B, T, C)
        for layer, block in enumerate(self.blocks):
            x = block(x, cache, layer, probs_out)
        if cache is not None:
            cache.pos += T
        return self.ln_f(x)

    def forward(self, idx, targets=None):
        """Logits (B, T, vocab) and, given targets, the mean cross-entropy loss."""
        logits = self.lm_head(self._hidden(idx))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def forward_with_attention(self, idx):
        """The inspection path: logits (B, T, vocab) and attention probs (B, n_layer, nh, T, T)."""
        probs: list[torch.Tensor] = []
        logits = self.lm_head(self._hidden(idx, probs_out=probs))
        return logits, torch.stack(probs, dim=1)

    def decode_step(self, token: int, cache: KVCache) -> torch.Tensor:
        """Logits (vocab,) after one more token, for a batch of one with a primed cache.

        The same maths as next_logits, written with functional calls on (C,) vectors: with one
        token per step the cost is all per-op overhead, so fewer and cheaper ops is the speedup.
        """
        cfg = self.config
        pos = cache.pos
        C, nh = cfg.n_embd, cfg.n_head
        scale = 1.0 / math.sqrt(C // nh)
        x = self.wte.weight[token] + self.wpe.weight[pos]  # (C,)
        for layer, block in enumerate(self.blocks):
            attn, mlp = block.attn, block.mlp
            h = F.layer_norm(x, (C,), block.ln_1.weight, block.ln_1.bias)
            q, k, v = F.linear(h, attn.c_attn.weight, attn.c_attn.bias).view(3, nh, -1).unbind(0)
            cache.k[layer, 0, :, pos] = k
            cache.v[layer, 0, :, pos] = v
            keys = cache.k[layer, 0, :, : pos + 1]  # (nh, t, hs)
            att = torch.softmax((keys @ q.unsqueeze(-1)).squeeze(-1) * scale, dim=-1)  # (nh, t)
            y = (att.unsqueeze(1) @ cache.v[layer, 0, :, : pos + 1]).view(C)
            x = x + F.linear(y, attn.c_proj.weight, attn.c_proj.bias)
            h = F.layer_norm(x, (C,), block.ln_2.weight, block.ln_2.bias)
            h = F.gelu(F.linear(h, mlp.c_fc.weight, mlp.c_fc.bias))
            x = x + F.linear(h, mlp.c_proj.weight, mlp.c_proj.bias)
        cache.pos += 1
        x = F.layer_norm(x, (C,), self.ln_f.weight, self.ln_f.bias)
        return F.linear(x, self.lm_head.weight)

    def next_logits(self, idx, cache: KVCache | None = None):
        """Logits (B, vocab) after idx; with a cache, idx holds only the tokens not yet cached."""
        return self.lm_head(self._hidden(idx, cache)[:, -1, :])
