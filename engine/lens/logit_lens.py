"""The logit lens (nostalgebraist, 2020): read the residual stream after every block through the
final LayerNorm and the head, as if the model ended there, to see at which depth each guess forms.

The blocks run as the model runs them (their own forward), so the last row is exactly the model's
own next-token distribution.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from engine.contract.outputs import Candidate
from engine.contract.snapshots import LogitLens
from engine.data.tokenizer import Tokenizer
from engine.model.generate import start_ids
from engine.model.gpt import GPT

DECIMALS = 4  # probabilities travel and are stored rounded: plenty for a cell's shade


@torch.no_grad()
def lens_probs(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    """Next-token probabilities read off the residual stream of idx (B, T): one row for the
    embeddings and one after each block, shape (n_layer + 1, B, T, vocab), float32."""
    T = idx.size(1)
    was_training = model.training
    model.eval()
    try:
        x = model.wte(idx)
        if model.wpe is not None:
            x = x + model.wpe.weight[:T]
        streams = [x]
        for block in model.blocks:
            x = block(x)
            streams.append(x)
        logits = model.lm_head(model.ln_f(torch.stack(streams)))
    finally:
        model.train(was_training)
    return F.softmax(logits.float(), dim=-1)


def logit_lens(model: GPT, tokenizer: Tokenizer, text: str, step: int = 0) -> LogitLens:
    """The lens on `text` (its first block_size tokens): each row's top guess at each position,
    and the probability it gives the token that actually comes next."""
    encoding = tokenizer.encode(text)
    ids = start_ids(tokenizer, encoding.ids)
    block_size = model.config.block_size
    truncated = len(ids) > block_size
    ids = ids[:block_size]
    device = model.wte.weight.device
    probs = lens_probs(model, torch.tensor([ids], device=device))[:, 0]  # (rows, T, vocab)
    best, best_ids = probs.max(dim=-1)  # (rows, T)
    following = torch.tensor(ids[1:], device=device)
    target = probs[:, :-1].gather(-1, following.view(1, -1, 1).expand(probs.size(0), -1, 1))
    texts = {i: tokenizer.token_text(i) for i in set(best_ids.flatten().tolist())}
    top = tuple(
        tuple(
            Candidate(i, texts[i], round(p, DECIMALS)) for i, p in zip(row_ids, row_p, strict=True)
        )
        for row_ids, row_p in zip(best_ids.tolist(), best.tolist(), strict=True)
    )
    rows = ("embeddings", *(f"block {i}" for i in range(model.config.n_layer)))
    return LogitLens(
        tokens=tuple(tokenizer.token_text(i) for i in ids),
        token_ids=tuple(ids),
        layers=rows,
        top=top,
        target_probs=tuple(
            tuple(round(p, DECIMALS) for p in row) for row in target.squeeze(-1).tolist()
        ),
        unknown=tuple(encoding.unknown),
        truncated=truncated,
        step=step,
    )
