"""Phase changes' raw scores: each head's habits on a repeated random-token probe, and the model's
in-context-learning score.

The probe is a few fixed sequences of random tokens, each repeated once (A B C ... A B C ...): in
the second half a previous-token head looks one back, a duplicate-token head at the earlier copy of
its token and an induction head at the token that followed that copy, which only a model that has
learned to copy from its context can predict (Olsson et al., 2022). Random tokens leave it no other
way to guess. The scores are head_roles' own, so the Attention view and the markers agree.
"""

from __future__ import annotations

import math

import torch

from engine.contract.learning import HeadScore
from engine.contract.outputs import AttentionMap
from engine.lens.attention import tensor_to_array
from engine.lens.head_roles import head_roles
from engine.model.gpt import GPT

PROBE_SEQUENCES = 4  # averaged: one random sequence can favour a head by chance
PROBE_SEED = 20220308  # fixed, so every eval and every run of a vocabulary sees the same probe
DECIMALS = 4


def repeated_probe(
    vocab_size: int, block_size: int, sequences: int = PROBE_SEQUENCES, seed: int = PROBE_SEED
) -> torch.Tensor:
    """(sequences, 2 * (block_size // 2)) token ids: random ones, each row its first half twice.

    A half holds distinct tokens where the vocabulary allows, so each token's earlier copy is
    unique and every row's targets sit at the same positions.
    """
    half = block_size // 2
    generator = torch.Generator().manual_seed(seed)
    rows = [
        torch.randperm(vocab_size, generator=generator)[:half]
        if vocab_size >= half
        else torch.randint(vocab_size, (half,), generator=generator)
        for _ in range(sequences)
    ]
    first = torch.stack(rows)
    return torch.cat((first, first), dim=1)


@torch.no_grad()
def head_scores(model: GPT, probe: torch.Tensor) -> tuple[HeadScore, ...]:
    """Every head's previous-token, duplicate-token and induction score on the probe (the mean
    over its rows; nan where the probe is too short to define one)."""
    was_training = model.training
    model.eval()
    try:
        _, att = model.forward_with_attention(probe.to(model.wte.weight.device))
    finally:
        model.train(was_training)
    totals: dict[tuple[int, int], dict[str, float]] = {}
    for ids, weights in zip(probe.tolist(), att.float(), strict=True):  # (L, nh, T, T) each
        attention = AttentionMap([], ids, tuple(weights.shape), tensor_to_array(weights))
        for role in head_roles(attention):
            scores = totals.setdefault((role.layer, role.head), {})
            for name, score in role.scores:
                scores[name] = scores.get(name, 0.0) + score / len(probe)
    return tuple(
        HeadScore(
            layer,
            head,
            previous_token=round(scores.get("previous-token", math.nan), DECIMALS),
            duplicate_token=round(scores.get("duplicate-token", math.nan), DECIMALS),
            induction=round(scores.get("induction", math.nan), DECIMALS),
        )
        for (layer, head), scores in totals.items()
    )


def icl_positions(T: int) -> tuple[range, range]:
    """The early and late context positions the in-context-learning score compares: about a
    tenth of the way in, and the last tenth (Olsson et al. use tokens 50 and 500 of 512)."""
    early = range(max(1, T // 10), max(2, T // 5))
    late = range(T - max(1, T // 10), T)
    return early, late


def icl_score(position_losses: list[float]) -> tuple[float, float, float]:
    """(late - early, early, late) mean losses from each context position's mean loss."""
    T = len(position_losses)
    if T < 2:
        return math.nan, math.nan, math.nan
    early, late = icl_positions(T)
    early_loss = round(sum(position_losses[i] for i in early) / len(early), DECIMALS)
    late_loss = round(sum(position_losses[i] for i in late) / len(late), DECIMALS)
    return round(late_loss - early_loss, DECIMALS), early_loss, late_loss
