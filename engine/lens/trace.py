"""The forward trace: one forward pass of the live model on a text, stage by stage.

Computed from the model's own modules (its LayerNorms, fused QKV, rotary tables, MLP, head), not
a copy of the maths, so what the Inside view shows is what the model does; a test checks the final
logits against GPT.forward. Clients get one position's vectors (ForwardTrace), never every
position's, to keep the reply small.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from engine.contract.errors import EngineError
from engine.contract.inside import (
    NEIGHBOURS,
    TOP_CANDIDATES,
    ForwardTrace,
    Neighbour,
    TraceStage,
    model_parts,
    stage_layout,
)
from engine.contract.outputs import AttentionMap, Candidate
from engine.data.tokenizer import Tokenizer
from engine.lens.attention import tensor_to_array
from engine.lens.head_roles import head_roles
from engine.model.generate import start_ids
from engine.model.gpt import GPT, rotate

DECIMALS = 4  # vectors travel rounded: enough for a colour strip, a third of the JSON


def _layout(model: GPT, T: int):
    m = model.config
    options = {"rope": m.rope, "qk_norm": m.qk_norm, "relu2": m.relu2, "tie_head": m.tie_head}
    return stage_layout(
        T, m.vocab_size, m.block_size, m.n_layer, m.n_head, m.n_embd, m.bias, **options
    )


@torch.no_grad()
def trace_tensors(model: GPT, ids: list[int]) -> list[tuple[str, torch.Tensor]]:
    """(kind, tensor) per stage for one sequence, in stage_layout's order and shapes (no batch)."""
    m = model.config
    T, C, nh = len(ids), m.n_embd, m.n_head
    hs = C // nh
    idx = torch.tensor(ids, device=model.wte.weight.device)
    was_training = model.training
    model.eval()
    try:
        x = tok = model.wte(idx)
        out = [("tokens", idx), ("token_embedding", tok)]
        if model.wpe is not None:
            pos = model.wpe.weight[:T]
            x = tok + pos
            out += [("position_embedding", pos), ("embedding_sum", x)]
        causal = torch.ones(T, T, dtype=torch.bool, device=idx.device).tril()
        for block in model.blocks:
            h = block.ln_1(x)
            q, k, v = block.attn.c_attn(h).view(T, 3, nh, hs).permute(1, 2, 0, 3)  # (nh, T, hs)
            out += [("layernorm", h), ("query", q), ("key", k), ("value", v)]
            if m.qk_norm:
                q, k = F.rms_norm(q, (hs,)), F.rms_norm(k, (hs,))
                out += [("normed_query", q), ("normed_key", k)]
            if m.rope:
                cos, sin = block.attn.rotary.cos[:T], block.attn.rotary.sin[:T]  # (T, hs / 2)
                q, k = rotate(q, cos, sin), rotate(k, cos, sin)
                out += [("rotated_query", q), ("rotated_key", k)]
            scores = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (nh, T, T)
            masked = scores.masked_fill(~causal, float("-inf"))
            att = F.softmax(masked, dim=-1)
            y = att @ v  # (nh, T, hs)
            projected = block.attn.c_proj(y.transpose(0, 1).reshape(T, C))
            x = x + projected
            h2 = block.ln_2(x)
            up = block.mlp.c_fc(h2)
            act = block.mlp.act(up)
            down = block.mlp.c_proj(act)
            x_attn, x = x, x + down
            out += [
                ("scores", scores), ("causal_mask", masked), ("softmax", att),
                ("weighted_values", y), ("attention_projection", projected), ("residual", x_attn),
                ("layernorm", h2), ("mlp_up", up), ("relu_squared" if m.relu2 else "gelu", act),
                ("mlp_down", down), ("residual", x),
            ]  # fmt: skip
        final = model.ln_f(x)
        logits = model.lm_head(final)
        probs = F.softmax(logits.float(), dim=-1)
        top = torch.topk(probs, min(TOP_CANDIDATES, probs.size(-1)), dim=-1).values
        out += [("layernorm", final), ("logits", logits), ("probabilities", probs)]
        out.append(("top_candidates", top))
    finally:
        model.train(was_training)
    return out


def _vector(values: torch.Tensor) -> tuple[tuple[float, ...], float]:
    values = values.detach().double().flatten().cpu()
    finite = values[torch.isfinite(values)]
    return tuple(values.round(decimals=DECIMALS).tolist()), float(finite.norm())


def trace(
    model: GPT, tokenizer: Tokenizer, text: str, position: int = -1, step: int = 0
) -> ForwardTrace:
    """The trace of `text` (its first block_size tokens) at `position` (negative: from the end)."""
    encoding = tokenizer.encode(text)
    ids = start_ids(tokenizer, encoding.ids)
    block_size = model.config.block_size
    truncated = len(ids) > block_size
    ids = ids[:block_size]
    T = len(ids)
    if not -T <= position < T:
        raise EngineError(f"position {position} is outside the text's {T} tokens")
    position %= T
    tensors = trace_tensors(model, ids)
    stages = []
    for spec, (kind, tensor) in zip(_layout(model, T), tensors, strict=True):
        assert spec.kind == kind and tuple(tensor.shape) == spec.shape, (spec, tensor.shape)
        rows = tensor[:, position] if spec.per_head else tensor[position][None]
        vectors, norms = zip(*(_vector(row) for row in rows), strict=True)
        stages.append(
            TraceStage(
                spec.name, kind, spec.layer, spec.shape, spec.params, spec.per_head, vectors, norms
            )
        )
    m = model.config
    # Head roles from the same softmaxes: one request gives the Inside view its labels.
    softmax = torch.stack([tensor for kind, tensor in tensors if kind == "softmax"])
    attention = AttentionMap([], ids, tuple(softmax.shape), tensor_to_array(softmax))
    probs = tensors[-2][1][position]
    values, top_ids = torch.topk(probs, min(TOP_CANDIDATES, probs.numel()))
    candidates = tuple(
        Candidate(i, tokenizer.token_text(i), p)
        for p, i in zip(values.tolist(), top_ids.tolist(), strict=True)
    )
    return ForwardTrace(
        tokens=tuple(tokenizer.token_text(i) for i in ids),
        token_ids=tuple(ids),
        position=position,
        stages=tuple(stages),
        parts=model_parts(
            m.vocab_size,
            m.block_size,
            m.n_layer,
            m.n_embd,
            m.bias,
            rope=m.rope,
            tie_head=m.tie_head,
        ),
        n_params=model.num_params(),
        neighbours=nearest_tokens(model, tokenizer, ids[position]),
        candidates=candidates,
        unknown=tuple(encoding.unknown_in(block_size)),
        truncated=truncated,
        step=step,
        roles=head_roles(attention),
    )


@torch.no_grad()
def nearest_tokens(
    model: GPT, tokenizer: Tokenizer, token_id: int, n: int = NEIGHBOURS
) -> tuple[Neighbour, ...]:
    """The n tokens whose embeddings point most nearly the same way as token_id's (cosine)."""
    table = model.wte.weight.float()
    similarity = F.cosine_similarity(table, table[token_id][None], dim=-1)
    similarity[token_id] = float("-inf")  # a token is not its own neighbour
    values, ids = torch.topk(similarity, min(n, table.size(0) - 1))
    return tuple(
        Neighbour(i, tokenizer.token_text(i), round(s, DECIMALS))
        for s, i in zip(values.tolist(), ids.tolist(), strict=True)
    )
