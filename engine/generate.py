"""Sampling from a trained GPT, one token at a time, with the top candidates at every step.

The context window slides the same way with and without the KV cache: it grows to block_size, then
drops back to its last half and grows again. Positions are absolute, so a cache cannot
slide one token at a time; sharing one policy keeps cached and uncached output identical.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.nn import functional as F

from engine.config import SampleConfig
from engine.errors import EngineError
from engine.model import GPT, Decoder, KVCache
from engine.outputs import Candidate, GeneratedToken
from engine.tokenizer import NEWLINE, Tokenizer


def kept_context(block_size: int) -> int:
    """How many tokens the window keeps when it is full and must slide."""
    return max(1, block_size // 2)


def start_ids(tokenizer: Tokenizer, prompt_ids: list[int]) -> list[int]:
    """An empty prompt starts at the beginning of a line."""
    if prompt_ids:
        return prompt_ids
    return tokenizer.encode(NEWLINE).ids or [0]


def _distribution(logits: torch.Tensor, config: SampleConfig) -> torch.Tensor:
    """Probabilities (vocab,) to sample from, after temperature, top-k and top-p."""
    logits = logits.float()
    if config.temperature == 0:  # greedy: show the model's own distribution
        return F.softmax(logits, dim=-1)
    if config.temperature != 1:
        logits = logits / config.temperature
    if 0 < config.top_k < logits.size(-1):
        kth = torch.topk(logits, config.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = F.softmax(logits, dim=-1)
    if config.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Keep the smallest prefix whose mass reaches top_p (always at least one token).
        drop = sorted_probs.cumsum(-1) - sorted_probs >= config.top_p
        sorted_probs[drop] = 0.0
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
        probs /= probs.sum()
    return probs


@torch.inference_mode()
def sample_ids(
    model: GPT, prompt_ids: list[int], config: SampleConfig
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield (token id, the distribution it was drawn from) for each new token."""
    device = next(model.parameters()).device
    block_size = model.config.block_size
    keep = kept_context(block_size)
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    context = list(prompt_ids[-block_size:])

    def forward(ids: list[int], cache: KVCache | None) -> torch.Tensor:
        return model.next_logits(torch.tensor([ids], device=device), cache)[0]

    cache = decoder = None
    if config.use_cache:
        cache = KVCache(model.config, 1, device, next(model.parameters()).dtype)
        decoder = Decoder(model, cache)
    logits = forward(context, cache)
    for _ in range(config.max_new_tokens):
        probs = _distribution(logits, config).cpu()
        # Inverse-CDF draw: the same distribution as multinomial at a fraction of its overhead.
        # The total mass doubles as the check for NaN or infinite outputs.
        cdf = probs.cumsum(0)
        total = float(cdf[-1])
        if not math.isfinite(total):
            raise EngineError("the model's outputs are not finite numbers, so it cannot be sampled")
        if config.temperature == 0:
            token = int(torch.argmax(probs))
        else:
            u = float(torch.rand((), generator=generator)) * total
            token = min(int(torch.searchsorted(cdf, u, right=True)), len(probs) - 1)
        yield token, probs
        context.append(token)
        slid = len(context) > block_size
        if slid:
            context = context[-keep:]
        if cache is None:
            logits = forward(context, None)
        elif slid:
            cache.reset()
            logits = forward(context, cache)
        else:
            logits = decoder.step(token)


def stream_tokens(
    model: GPT, tokenizer: Tokenizer, prompt_ids: list[int], config: SampleConfig
) -> Iterator[GeneratedToken]:
    """Generate after prompt_ids, yielding each token as text with its top candidates."""
    prompt_ids = start_ids(tokenizer, prompt_ids)
    # Decode after the prompt's last token, so a word knows whether it needs a leading space.
    anchor = prompt_ids[-1:]
    generated: list[int] = []
    decoded = tokenizer.decode(anchor)
    was_training = model.training
    model.eval()
    try:
        for token, probs in sample_ids(model, prompt_ids, config):
            generated.append(token)
            text = tokenizer.decode(anchor + generated)
            piece = ""
            if not text.endswith("\ufffd"):  # a BPE token can be half a UTF-8 character: wait
                piece, decoded = text[len(decoded) :], text
            yield GeneratedToken(
                token, piece, float(probs[token]), _top(tokenizer, probs, config.top_n)
            )
    finally:
        model.train(was_training)


def _top(tokenizer: Tokenizer, probs: torch.Tensor, n: int) -> tuple[Candidate, ...]:
    if n == 0:
        return ()
    values, ids = torch.topk(probs, min(n, probs.numel()))
    return tuple(
        Candidate(int(i), tokenizer.token_text(int(i)), float(p))
        for p, i in zip(values.tolist(), ids.tolist(), strict=True)
    )


def generate_text(
    model: GPT, tokenizer: Tokenizer, prompt: str, config: SampleConfig
) -> tuple[str, list[str]]:
    """The prompt and its continuation as one string, and the prompt's unknown words."""
    encoding = tokenizer.encode(prompt)
    pieces = [t.text for t in stream_tokens(model, tokenizer, encoding.ids, config)]
    return prompt + "".join(pieces), encoding.unknown
