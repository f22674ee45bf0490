"""Attention capture: where each token looks (at the tokens before it and at itself), per head."""

from __future__ import annotations

from array import array

import torch

from engine.contract.outputs import AttentionMap
from engine.data.tokenizer import Tokenizer
from engine.model.generate import start_ids
from engine.model.gpt import GPT


def tensor_to_array(tensor: torch.Tensor) -> array:
    """A float32 tensor's values as a flat array('f'), without going through Python floats."""
    values = array("f")
    # Through numpy: bytes(untyped_storage()) reads the storage a byte at a time, 1.5 s for a
    # char-small probe's (4, 4, 60, 60) map.
    values.frombytes(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return values


@torch.no_grad()
def capture_attention(model: GPT, tokenizer: Tokenizer, text: str, step: int = 0) -> AttentionMap:
    """Run text through the inspection path; keeps the first block_size tokens."""
    encoding = tokenizer.encode(text)
    ids = start_ids(tokenizer, encoding.ids)
    block_size = model.config.block_size
    truncated = len(ids) > block_size
    ids = ids[:block_size]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        _, probs = model.forward_with_attention(torch.tensor([ids], device=device))
    finally:
        model.train(was_training)
    weights = probs[0]  # (n_layer, n_head, T, T)
    return AttentionMap(
        tokens=[tokenizer.token_text(i) for i in ids],
        token_ids=ids,
        shape=tuple(weights.shape),
        weights=tensor_to_array(weights),
        unknown=encoding.unknown_in(block_size),
        truncated=truncated,
        step=step,
    )
