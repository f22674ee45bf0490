"""The embedding map: every token's embedding projected on the first two principal components of
the embedding table, so tokens the model treats alike are seen drifting together as it trains.

Principal axes have no sign of their own, and two of nearly equal variance may trade places from
one snapshot to the next; each map is turned to agree with the one before it (when given), so
scrubbing through the snapshots shows the tokens moving, not the axes flipping.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.contract.snapshots import EmbeddingMap
from engine.data.tokenizer import Tokenizer
from engine.model.gpt import GPT

MAP_TOKENS = 1000  # the most frequent tokens the map keeps (a word vocabulary can be 50k)
LABELLED = 30  # the most frequent tokens a client labels
DECIMALS = 4
CHUNK = 1 << 24  # tokens counted at a time: a big corpus is a memory map, never copied whole


def token_counts(train: torch.Tensor, vocab_size: int) -> np.ndarray:
    """How often each token id occurs in `train` (1-D ids), shape (vocab_size,)."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for start in range(0, len(train), CHUNK):
        chunk = train[start : start + CHUNK].numpy().astype(np.int64)
        counts += np.bincount(chunk, minlength=vocab_size)[:vocab_size]
    return counts


@torch.no_grad()
def principal_coordinates(table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row of `table` (V, C) on the first two principal components, (V, 2), and the share
    of the variance each component holds, (2,)."""
    centred = table.double() - table.double().mean(0)
    values, vectors = torch.linalg.eigh(centred.T @ centred)  # ascending; C x C, cheap for any V
    axes = vectors[:, [-1, -2]]  # (C, 2), largest first
    # A sign of its own for each axis: its largest loading points the positive way.
    signs = axes.gather(0, axes.abs().argmax(0, keepdim=True)).sign()
    axes = axes * torch.where(signs == 0, 1.0, signs)
    total = values.clamp_min(0).sum()
    explained = values[[-1, -2]].clamp_min(0) / total if total > 0 else torch.zeros(2)
    return (centred @ axes).float(), explained.float()


def embedding_map(
    model: GPT,
    tokenizer: Tokenizer,
    counts: np.ndarray,
    step: int = 0,
    previous: EmbeddingMap | None = None,
) -> EmbeddingMap:
    """The map of the model's token embeddings, its points the most frequent tokens by `counts`
    (token_counts of the training split), turned to agree with `previous` where given."""
    coords, explained = principal_coordinates(model.wte.weight.detach().float().cpu())
    order = sorted(range(len(counts)), key=lambda i: (-int(counts[i]), i))[:MAP_TOKENS]
    points = coords[order]  # (n, 2)
    if previous is not None:
        points, explained = _agree(points, explained, order, previous)
    x, y = (tuple(round(v, DECIMALS) for v in axis.tolist()) for axis in points.T)
    return EmbeddingMap(
        token_ids=tuple(order),
        texts=tuple(tokenizer.token_text(i) for i in order),
        counts=tuple(int(counts[i]) for i in order),
        x=x,
        y=y,
        labelled=min(LABELLED, len(order)),
        explained=(round(float(explained[0]), DECIMALS), round(float(explained[1]), DECIMALS)),
        step=step,
    )


def _agree(
    points: torch.Tensor, explained: torch.Tensor, order: list[int], previous: EmbeddingMap
) -> tuple[torch.Tensor, torch.Tensor]:
    """The points with their axes swapped and flipped to correlate best with previous's."""
    before = dict(zip(previous.token_ids, zip(previous.x, previous.y, strict=True), strict=True))
    common = [n for n, token in enumerate(order) if token in before]
    if len(common) < 2:
        return points, explained
    old = torch.tensor([before[order[n]] for n in common])  # (k, 2)
    new = points[common]
    match = (new - new.mean(0)).T @ (old - old.mean(0))  # (2, 2): new axis i against old axis j
    if match[0, 1].abs() + match[1, 0].abs() > match[0, 0].abs() + match[1, 1].abs():
        points, explained, match = points[:, [1, 0]], explained[[1, 0]], match[[1, 0]]
    signs = torch.where(match.diagonal() < 0, -1.0, 1.0)
    return points * signs, explained
