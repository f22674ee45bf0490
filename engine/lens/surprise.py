"""Where the model is wrong: each token's loss on a fixed passage of validation text.

The passage is the start of the validation split (at most block_size tokens predicted), the same
at every eval, so a learner watches the same tokens stop surprising the model as it trains.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from engine.contract.errors import EngineError
from engine.contract.inside import PassageLosses
from engine.contract.outputs import Candidate
from engine.data.tokenizer import Tokenizer
from engine.model.gpt import GPT

EXPECTED = 3  # the model's guesses shown for each position


@torch.no_grad()
def passage_losses(
    model: GPT, tokenizer: Tokenizer, val: torch.Tensor, step: int = 0
) -> PassageLosses:
    """Per-token loss -ln p(actual next token) on val's first block_size + 1 tokens."""
    T = min(model.config.block_size, len(val) - 1)
    if T < 1:
        raise EngineError("the validation split is too short to show a passage")
    window = val[: T + 1].long().to(model.wte.weight.device)
    x, y = window[None, :-1], window[1:]
    was_training = model.training
    model.eval()
    try:
        logits, _ = model(x)
    finally:
        model.train(was_training)
    logits = logits[0].float()  # (T, vocab)
    losses = F.cross_entropy(logits, y, reduction="none")
    probs, ids = torch.topk(F.softmax(logits, dim=-1), min(EXPECTED, logits.size(-1)), dim=-1)
    expected = tuple(
        tuple(Candidate(i, tokenizer.token_text(i), p) for p, i in zip(row_p, row_i, strict=True))
        for row_p, row_i in zip(probs.tolist(), ids.tolist(), strict=True)
    )
    window_ids = window.tolist()
    return PassageLosses(
        tokens=tuple(tokenizer.token_text(i) for i in window_ids),
        token_ids=tuple(window_ids),
        losses=tuple(losses.tolist()),
        expected=expected,
        mean=float(losses.mean()),
        step=step,
    )
