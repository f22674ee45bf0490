"""The GPT: token + position embeddings, pre-LN blocks with fused-QKV causal self-attention and a
GELU MLP, a final LayerNorm, and an LM head tied to the token embedding.

The modern options (ModelConfig) swap parts one at a time: rotary position embeddings for the
position table, QK-norm, a ReLU² MLP, an untied head, zero-initialised output projections.

Two attention paths share the weights: the fast one (scaled_dot_product_attention) for training and
generation, and an inspection one that materialises the softmax so its probabilities can be shown.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn import functional as F

from engine.contract.config import ModelConfig


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


class Rotary(nn.Module):
    """Rotary position embeddings: channel j of a head's first half and channel j of its second
    half form a pair, turned by the angle position * base^(-2j / head_size)."""

    def __init__(self, config: ModelConfig, base: float = 10000.0):
        super().__init__()
        half = config.head_size // 2
        freqs = base ** (-torch.arange(half, dtype=torch.float32) / half)
        angles = torch.outer(torch.arange(config.block_size, dtype=torch.float32), freqs)
        # Not persistent: derived from the config, so checkpoints stay weights only.
        self.register_buffer("cos", angles.cos(), persistent=False)  # (block_size, hs / 2)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x, start: int):
        """x (B, T, ..., hs) turned to positions start..start+T-1 (T is dim 1)."""
        T = x.size(1)
        shape = (T,) + (1,) * (x.dim() - 3) + (-1,)
        cos = self.cos[start : start + T].view(shape)
        sin = self.sin[start : start + T].view(shape)
        return rotate(x, cos, sin)


def rotate(x, cos, sin):
    """Turn each (first-half, second-half) channel pair of x by the angle whose cos, sin given."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.qk_norm = config.qk_norm
        self.rotary = Rotary(config) if config.rope else None
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout
        self.resid_dropout = _dropout(config.dropout)

    def forward(
        self, x, cache: KVCache | None = None, layer: int = 0, probs_out: list | None = None
    ):
        B, T, C = x.size()
        start = cache.pos if cache is not None else 0
        qkv = self.c_attn(x).view(B, T, 3, self.n_head, C // self.n_head)
        if self.qk_norm or self.rotary is not None:
            qk, v = qkv[:, :, :2], qkv[:, :, 2].transpose(1, 2)  # q and k together: fewer ops
            if self.qk_norm:  # unit RMS per head: the scores can no longer grow without bound
                qk = F.rms_norm(qk, (qk.size(-1),))
            if self.rotary is not None:
                qk = self.rotary(qk, start)
            q, k = qk.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, nh, T, hs)
        else:
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, nh, T, hs)
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
        self.act = activation(config)

    def forward(self, x):
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


def relu2(x):
    """ReLU squared: zero below 0, x² above."""
    return F.relu(x).square()


def gelu_tanh(x):
    """GELU by its tanh approximation: what GPT-2 was trained with (a little off exact GELU)."""
    return F.gelu(x, approximate="tanh")


def activation(config: ModelConfig):
    """The MLP's activation: ReLU², GPT-2's tanh GELU, or GELU."""
    return relu2 if config.relu2 else gelu_tanh if config.gelu_tanh else F.gelu


class Block(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
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
        # With rotary embeddings attention sees positions itself: no table to add.
        self.wpe = None if config.rope else nn.Embedding(config.block_size, config.n_embd)
        self.drop = _dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_head:  # weight tying: one matrix reads and writes tokens
            self.lm_head.weight = self.wte.weight
        self.apply(self._init_weights)
        for name, param in self.named_parameters():
            if name.endswith("c_proj.weight"):  # GPT-2's scaled init of residual projections
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
        if config.zero_init:
            # Every block starts as the identity and the head predicts uniformly; each part
            # grows in from zero once the gradient reaches it.
            for name, param in self.named_parameters():
                if name.endswith("c_proj.weight") or name == "lm_head.weight":
                    nn.init.zeros_(param)

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
        x = self.wte(idx)  # (B, T, C)
        if self.wpe is not None:
            # A slice of the position table, not a lookup: same values and gradient, fewer ops.
            x = x + self.wpe.weight[start : start + T]
        x = self.drop(x)
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

    def next_logits(self, idx, cache: KVCache | None = None):
        """Logits (B, vocab) after idx; with a cache, idx holds only the tokens not yet cached."""
        return self.lm_head(self._hidden(idx, cache)[:, -1, :])


class Decoder:
    """One-token-at-a-time decoding for a batch of one, on a cache that next_logits primed.

    The same maths as GPT.next_logits on (C,) vectors. With one token per step the cost is all
    per-op overhead, so weights are looked up once here, the attention scale is folded into the
    query weights (or, after QK-norm, into the rotation or one multiply), the cache views each
    position needs are made once and reused, and the loop uses fused plain calls (addmv, bmm)
    instead of module calls and tensor indexing. Weights must not change while it lives.
    """

    def __init__(self, model: GPT, cache: KVCache):
        config = model.config
        self.cache = cache
        self.n_head = config.n_head
        self.C = C = config.n_embd
        self.qk_norm = config.qk_norm
        device = model.wte.weight.device
        scale = 1.0 / math.sqrt(config.head_size)  # q / sqrt(hs), once, not every step
        weight_scale = torch.ones(3 * C, device=device)
        # QK-norm would undo a scale folded into the weights: it goes after the norm instead.
        qk_scale = torch.tensor([scale, 1.0], device=device).view(2, 1, 1, 1)
        if not config.qk_norm:
            weight_scale[:C] = scale
            qk_scale = None
        self.rotation = None
        if config.rope:
            rotary = model.blocks[0].attn.rotary
            turn = torch.ones(2, 1, 1, 1, device=device) if qk_scale is None else qk_scale
            # (block_size, 2, 1, 1, hs / 2): row 0 turns (and scales) q, row 1 turns k.
            self.rotation = (
                rotary.cos[:, None, None, None] * turn,
                rotary.sin[:, None, None, None] * turn,
            )
            qk_scale = None
        self.qk_scale = qk_scale
        self.wte = model.wte.weight
        self.wpe = None if model.wpe is None else model.wpe.weight
        self.head = model.lm_head.weight
        self.act = activation(config)
        self.eps = config.layer_norm_eps
        self.ln_f = (model.ln_f.weight, model.ln_f.bias)
        self.layers = []
        for b in model.blocks:
            qkv_b = b.attn.c_attn.bias
            self.layers.append((
                b.ln_1.weight, b.ln_1.bias,
                b.attn.c_attn.weight * weight_scale[:, None],
                None if qkv_b is None else qkv_b * weight_scale,
                b.attn.c_proj.weight, b.attn.c_proj.bias, b.ln_2.weight, b.ln_2.bias,
                b.mlp.c_fc.weight, b.mlp.c_fc.bias, b.mlp.c_proj.weight, b.mlp.c_proj.bias,
            ))  # fmt: skip
        self._views: list[tuple | None] = [None] * config.block_size

    def _cache_views(self, pos: int) -> tuple:
        """Per layer: where position pos's k and v go, and the keys (transposed) and values seen."""
        if self._views[pos] is None:
            k, v = self.cache.k[:, 0], self.cache.v[:, 0]  # (n_layer, nh, block_size, hs)
            self._views[pos] = tuple(
                (
                    k[i].narrow(1, pos, 1), v[i].narrow(1, pos, 1),  # (nh, 1, hs)
                    k[i].narrow(1, 0, pos + 1).transpose(1, 2), v[i].narrow(1, 0, pos + 1),
                )
                for i in range(len(self.layers))
            )  # fmt: skip
        return self._views[pos]

    def _qkv(self, qkv: torch.Tensor, pos: int):
        """q, k, v (nh, 1, hs) from the fused projection (3 * C,), normed and turned as trained."""
        qkv = qkv.view(3, self.n_head, 1, -1)
        if self.rotation is None and not self.qk_norm:
            return qkv.unbind(0)
        qk = qkv[:2]  # (2, nh, 1, hs)
        if self.qk_norm:
            qk = F.rms_norm(qk, (qk.size(-1),))
        if self.qk_scale is not None:
            qk = qk * self.qk_scale
        if self.rotation is not None:
            cos, sin = self.rotation
            qk = rotate(qk, cos[pos], sin[pos])
        q, k = qk.unbind(0)
        return q, k, qkv[2]

    def step(self, token: int | torch.Tensor) -> torch.Tensor:
        """Logits (vocab,) after appending `token` (an id, or a (1,) tensor holding one on the
        device, as a CUDA graph's input) at the cache's next position."""
        pos, C = self.cache.pos, self.C
        x = _row(self.wte, token)  # (C,)
        if self.wpe is not None:
            x = x + self.wpe.select(0, pos)
        for weights, views in zip(self.layers, self._cache_views(pos), strict=True):
            ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc_w, fc_b, out_w, out_b = (
                weights
            )
            k_slot, v_slot, seen_kt, seen_v = views
            h = F.layer_norm(x, (C,), ln1_w, ln1_b, self.eps)
            q, k, v = self._qkv(_affine(h, qkv_w, qkv_b), pos)  # (nh, 1, hs)
            k_slot.copy_(k)
            v_slot.copy_(v)
            att = torch.softmax(torch.bmm(q, seen_kt), dim=-1)  # (nh, 1, t)
            y = torch.bmm(att, seen_v).view(C)  # (nh, 1, t) @ (nh, t, hs)
            x = _affine(y, proj_w, proj_b, residual=x)
            h = self.act(_affine(F.layer_norm(x, (C,), ln2_w, ln2_b, self.eps), fc_w, fc_b))
            x = _affine(h, out_w, out_b, residual=x)
        self.cache.pos += 1
        return torch.mv(self.head, F.layer_norm(x, (C,), *self.ln_f, self.eps))


def _row(table: torch.Tensor, index: int | torch.Tensor) -> torch.Tensor:
    # Indexing with a tensor as such would read it on the host: a sync, and no graph capture.
    return table.select(0, index) if isinstance(index, int) else table.index_select(0, index)[0]


def _affine(x, weight, bias, residual=None):
    """residual + weight @ x + bias for a vector x, in as few ops as the Nones allow."""
    base = residual if bias is None else bias if residual is None else residual + bias
    return torch.mv(weight, x) if base is None else torch.addmv(base, weight, x)
