"""Head roles: heads built by hand to do one thing get that thing's label."""

from __future__ import annotations

from array import array

import torch

from engine.contract.config import ModelConfig
from engine.contract.outputs import AttentionMap
from engine.lens.attention import tensor_to_array
from engine.lens.head_roles import MIXED, head_roles
from engine.model.gpt import GPT


def _map(weights: torch.Tensor, ids: list[int]) -> AttentionMap:
    return AttentionMap(
        tokens=[str(i) for i in ids],
        token_ids=ids,
        shape=tuple(weights.shape),
        weights=tensor_to_array(weights),
    )


def _hand_built_gpt() -> GPT:
    """One block whose head 0 attends to the previous token and head 1 to the first.

    Tokens are embedded as zero and each position p as a spike on channel p, so after LayerNorm 1
    channel p stands out (about 3.9 against -0.26 elsewhere). Head 0's query at i spikes on dim
    i - 1 and its key at j on dim j, so q_i . k_j is largest for j = i - 1. Head 1's key is large
    only at position 0 and its query is the same positive number everywhere.
    """
    C = 16
    model = GPT(ModelConfig(block_size=8, n_layer=1, n_head=2, n_embd=C, vocab_size=10))
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        for norm in (model.blocks[0].ln_1, model.blocks[0].ln_2, model.ln_f):
            norm.weight.fill_(1.0)
        model.wpe.weight.copy_(10 * torch.eye(8, C))
        qkv = model.blocks[0].attn.c_attn.weight  # rows: q (0..C), k (C..2C), v (2C..3C)
        for d in range(7):  # head 0: query dim d reads channel d + 1, key dim d reads channel d
            qkv[d, d + 1] = 2.0
        for d in range(8):
            qkv[C + d, d] = 2.0
        qkv[8, 15] = -6.0  # head 1: channel 15 is never a position's: the same value everywhere
        qkv[C + 8, 0] = 6.0  # and only position 0 lights up its key
    return model.eval()


def test_hand_set_weights_make_a_previous_token_head_and_a_first_token_head():
    model = _hand_built_gpt()
    ids = [3, 1, 4, 1, 5, 9, 2, 6]
    with torch.no_grad():
        _, attention = model.forward_with_attention(torch.tensor([ids]))
    roles = head_roles(_map(attention[0], ids))
    assert [(r.layer, r.head, r.role) for r in roles] == [
        (0, 0, "previous-token"),
        (0, 1, "first-token"),
    ]
    assert all(r.score > 0.9 for r in roles)
    assert dict(roles[0].scores)["first-token"] < 0.1


def test_current_token_induction_and_mixed_heads_from_maps():
    ids = [5, 6, 7, 8, 5, 6, 7, 8]  # a repeat: at the second 5, 6, 7, 8 an earlier copy exists
    T = len(ids)
    current = torch.eye(T)
    induction = torch.zeros(T, T)
    for i in range(T):
        earlier = [j + 1 for j in range(i - 2) if ids[j] == ids[i]]
        for k in earlier or [i]:
            induction[i, k] = 1.0 / len(earlier or [i])
    uniform = torch.tril(torch.ones(T, T))
    uniform /= uniform.sum(-1, keepdim=True)
    weights = torch.stack([current, induction, uniform])[None]  # (1, 3, T, T)
    roles = head_roles(_map(weights, ids))
    assert [r.role for r in roles] == ["current-token", "induction", MIXED]
    assert dict(roles[1].scores)["induction"] == 1.0


def test_a_text_without_repeats_has_no_induction_score():
    ids = [1, 2, 3, 4]
    weights = array("f", torch.eye(4).flatten().tolist())
    attention = AttentionMap(["a"] * 4, ids, (1, 1, 4, 4), weights)
    (role,) = head_roles(attention)
    assert "induction" not in dict(role.scores) and role.role == "current-token"
