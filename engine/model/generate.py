"""Sampling from a trained GPT, one token at a time, with the top candidates at every step.

The context window slides the same way with and without the KV cache: it grows to block_size, then
drops back to its last half and grows again. Positions are absolute, so a cache cannot
slide one token at a time; sharing one policy keeps cached and uncached output identical.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from engine.contract.config import SampleConfig
from engine.contract.errors import EngineError
from engine.contract.outputs import Candidate, GeneratedToken, TopLogits
from engine.data.tokenizer import NEWLINE, Tokenizer
from engine.model.decode import open_decoder
from engine.model.gpt import GPT, KVCache

TOP_LOGITS = 64  # raw logits a client's generated token carries, to redraw the sampling pipeline


def kept_context(block_size: int) -> int:
    """How many tokens the window keeps when it is full and must slide."""
    return max(1, block_size // 2)


def start_ids(tokenizer: Tokenizer, prompt_ids: list[int]) -> list[int]:
    """An empty prompt starts at the beginning of a line."""
    if prompt_ids:
        return prompt_ids
    return tokenizer.encode(NEWLINE).ids or [0]


@dataclass
class Distribution:
    """One step's sampling pipeline: probabilities (vocab,) at each stage and the cut-offs.

    `probs` is the last stage, what the sampler draws from (temperature 0 draws its argmax). The
    earlier stages are kept only when asked for (stages=True): the sampler does not pay for them.
    A stage that is off is the previous one unchanged.
    """

    logits: torch.Tensor  # the model's raw logits, float32
    probs: torch.Tensor  # after temperature, top-k and top-p, renormalised
    greedy: bool  # temperature 0: the likeliest token is taken; probs shows the raw distribution
    raw: torch.Tensor | None = None  # softmax at temperature 1
    tempered: torch.Tensor | None = None
    after_top_k: torch.Tensor | None = None
    after_top_p: torch.Tensor | None = None
    kth_logit: torch.Tensor | None = None  # top-k's cut-off, after temperature: lower is dropped
    p_threshold: torch.Tensor | None = None  # top-p's: the probability of the last token kept


def distribution(logits: torch.Tensor, config: SampleConfig, stages: bool = False) -> Distribution:
    """The sampling pipeline: raw, after temperature, after top-k, after top-p (renormalised)."""
    logits = logits.float()
    raw = F.softmax(logits, dim=-1) if stages or config.temperature == 0 else None
    if config.temperature == 0:  # greedy: show the model's own distribution; the sampler argmaxes
        return Distribution(logits, raw, True, raw, raw, raw, raw)
    out = Distribution(logits, raw, False, raw)
    scaled = logits / config.temperature if config.temperature != 1 else logits
    if stages:
        out.tempered = raw if config.temperature == 1 else F.softmax(scaled, dim=-1)
    if 0 < config.top_k < logits.size(-1):
        out.kth_logit = kth = torch.topk(scaled, config.top_k).values[-1]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
        probs = F.softmax(scaled, dim=-1)
    else:
        probs = out.tempered if out.tempered is not None else F.softmax(scaled, dim=-1)
    out.after_top_k = probs if stages else None
    if config.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Keep the smallest prefix whose mass reaches top_p (always at least one token).
        drop = sorted_probs.cumsum(-1) - sorted_probs >= config.top_p
        if stages:
            out.p_threshold = sorted_probs[~drop][-1]
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
        probs /= probs.sum()
    out.after_top_p = probs if stages else None
    out.probs = probs
    return out


def _distribution(logits: torch.Tensor, config: SampleConfig) -> torch.Tensor:
    """Probabilities (vocab,) to sample from, after temperature, top-k and top-p."""
    return distribution(logits, config).probs


@torch.inference_mode()
def sample_ids(
    model: GPT, prompt_ids: list[int], config: SampleConfig
) -> Iterator[tuple[int, Distribution]]:
    """Yield (token id, the distribution it was drawn from) for each new token."""
    device = next(model.parameters()).device
    block_size = model.config.block_size
    keep = kept_context(block_size)
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    context = list(prompt_ids[-block_size:])

    def forward(ids: list[int], cache: KVCache | None) -> torch.Tensor:
        return model.next_logits(torch.tensor([ids], device=device), cache)[0]

    decoder = open_decoder(model) if config.use_cache else None  # a CUDA graph per step on CUDA
    cache = decoder.cache if decoder is not None else None
    try:
        logits = forward(context, cache)
        for _ in range(config.max_new_tokens):
            dist = distribution(logits, config)
            probs = dist.probs = dist.probs.cpu()
            # Inverse-CDF draw: the same distribution as multinomial at a fraction of its
            # overhead. The total mass doubles as the check for NaN or infinite outputs.
            cdf = probs.cumsum(0)
            total = float(cdf[-1])
            if not math.isfinite(total):
                raise EngineError(
                    "the model's outputs are not finite numbers, so it cannot be sampled"
                )
            if config.temperature == 0:
                token = int(torch.argmax(probs))
            else:
                u = float(torch.rand((), generator=generator)) * total
                token = min(int(torch.searchsorted(cdf, u, right=True)), len(probs) - 1)
            yield token, dist
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
    finally:
        if decoder is not None:
            decoder.close()  # the next generation may have the model's graphs


def stream_tokens(
    model: GPT,
    tokenizer: Tokenizer,
    prompt_ids: list[int],
    config: SampleConfig,
    top_logits: int = 0,
) -> Iterator[GeneratedToken]:
    """Generate after prompt_ids, yielding each token as text with its top candidates.

    With top_logits > 0 each token also carries that many raw logits (at least top_n), so a client
    can redraw its sampling pipeline for other settings; they cost about 55 µs a token, which the
    samples drawn at every eval do without.
    """
    prompt_ids = start_ids(tokenizer, prompt_ids)
    # Decode after the prompt's last token, so a word knows whether it needs a leading space.
    anchor = prompt_ids[-1:]
    generated: list[int] = []
    decoded = tokenizer.decode(anchor)
    texts = _Texts(tokenizer)
    was_training = model.training
    model.eval()
    try:
        for token, dist in sample_ids(model, prompt_ids, config):
            probs = dist.probs
            generated.append(token)
            text = tokenizer.decode(anchor + generated)
            piece = ""
            if not text.endswith("\ufffd"):  # a BPE token can be half a UTF-8 character: wait
                piece, decoded = text[len(decoded) :], text
            yield GeneratedToken(
                token,
                piece,
                float(probs[token]),
                _top(tokenizer, probs, config.top_n),
                _top_logits(texts, dist.logits, max(config.top_n, top_logits))
                if top_logits
                else None,
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


class _Texts(dict):
    """Token texts, each looked up once per generation: the same top tokens recur every step."""

    def __init__(self, tokenizer: Tokenizer):
        super().__init__()
        self.tokenizer = tokenizer

    def __missing__(self, token_id: int) -> str:
        text = self[token_id] = self.tokenizer.token_text(token_id)
        return text


def _top_logits(texts: _Texts, logits: torch.Tensor, n: int) -> TopLogits:
    """The n largest raw logits and the logsumexp of all: enough to redraw the pipeline."""
    values, ids = torch.topk(logits, min(n, logits.numel()))
    ids_list = ids.tolist()
    return TopLogits(
        tuple(ids_list),
        tuple(texts[i] for i in ids_list),
        tuple(values.double().round(decimals=4).tolist()),  # short on the wire
        float(torch.logsumexp(logits, dim=-1)),
        logits.numel(),
    )


def generate_text(
    model: GPT, tokenizer: Tokenizer, prompt: str, config: SampleConfig
) -> tuple[str, list[str]]:
    """The prompt and its continuation as one string, and the prompt's unknown words."""
    encoding = tokenizer.encode(prompt)
    pieces = [t.text for t in stream_tokens(model, tokenizer, encoding.ids, config)]
    return prompt + "".join(pieces), encoding.unknown
