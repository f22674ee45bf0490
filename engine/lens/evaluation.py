"""What an eval adds up over its batches: the loss (on the targets that count), each context
position's mean loss, and for a task the accuracy on its answers and the loss on the tokens it
does not train on, apart (induction's first half)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import torch
from torch.nn import functional as F

from engine.data.dataset import IGNORE, EvalBatch

# An eval's batches are run a few at a time, as one forward pass: a small model's 40 small passes
# cost mostly per-operation overhead. Measured on the 2-core VM, an eval took 24.5 ms -> 11.9 ms on
# seed and 329 -> 291 ms on char-small at 2,048 tokens a pass; at 16,384 char-small took 426 ms
# (its activations outgrow the caches). At most this many logits and tokens a pass:
MERGED_LOGITS = 1 << 22
MERGED_TOKENS = 1 << 11


def merged(batches: Iterable[EvalBatch], vocab_size: int) -> Iterator[EvalBatch]:
    """The batches, consecutive ones joined into one while the bounds allow (the sums an
    EvalTally adds up are the same; only their order of addition differs)."""
    group: list[EvalBatch] = []
    tokens = 0
    for batch in batches:
        size = batch.x.numel()
        if group and (
            tokens + size > MERGED_TOKENS or (tokens + size) * vocab_size > MERGED_LOGITS
        ):
            yield _joined(group)
            group, tokens = [], 0
        group.append(batch)
        tokens += size
    if group:
        yield _joined(group)


def _joined(group: list[EvalBatch]) -> EvalBatch:
    if len(group) == 1:
        return group[0]

    def cat(tensors: list[torch.Tensor | None]) -> torch.Tensor | None:
        return None if tensors[0] is None else torch.cat(tensors)  # type: ignore[arg-type]

    return EvalBatch(
        torch.cat([b.x for b in group]),
        torch.cat([b.y for b in group]),
        cat([b.answers for b in group]),
        cat([b.others for b in group]),
    )


class EvalTally:
    """Sums over an eval's batches of one split; the means are read at the end."""

    def __init__(self) -> None:
        self.loss_sum = 0.0
        self.targets = 0
        self.position_sum: torch.Tensor | None = None  # (T,)
        self.position_count: torch.Tensor | None = None
        self.correct = 0
        self.answers = 0
        self.answer_loss = 0.0
        self.other_loss = 0.0
        self.others = 0
        self.tasked = False

    @torch.no_grad()
    def add(self, logits: torch.Tensor, batch: EvalBatch) -> None:
        """One batch's logits (B, T, vocab) against its targets."""
        y = batch.y
        each = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(y.shape)
        counted = y != IGNORE  # (B, T)
        self.loss_sum += each.sum().item()  # ignored targets cost 0
        self.targets += int(counted.sum())
        positions = each.sum(0).cpu().double(), counted.sum(0).cpu().double()
        if self.position_sum is None or self.position_count is None:
            self.position_sum, self.position_count = positions
        else:
            self.position_sum += positions[0]
            self.position_count += positions[1]
        if batch.answers is None:
            return
        self.tasked = True
        answers = batch.answers & counted
        self.correct += int(((logits.argmax(-1) == y) & answers).sum())
        self.answers += int(answers.sum())
        self.answer_loss += each[answers].sum().item()
        if batch.others is not None:
            others = batch.others
            apart = F.cross_entropy(logits.flatten(0, 1), others.flatten(), reduction="none")
            self.other_loss += apart.sum().item()
            self.others += int((others != IGNORE).sum())

    def loss(self, answers: bool | None = None) -> float | None:
        """The mean loss over every counted target; with answers=True over a task's answers
        alone, with False over the targets measured apart (both None where a task has none
        apart, and for a corpus)."""
        if answers is None:
            return self.loss_sum / self.targets if self.targets else math.nan
        if not self.tasked or not self.others:
            return None
        if answers:
            return self.answer_loss / self.answers if self.answers else None
        return self.other_loss / self.others

    def accuracy(self) -> float | None:
        """The share of a task's answers the model's top guess gets right; None for a corpus."""
        if not self.tasked or not self.answers:
            return None
        return self.correct / self.answers

    def position_losses(self) -> list[float]:
        """Mean loss at each context position (nan where no target there counts)."""
        if self.position_sum is None or self.position_count is None:
            return []
        means = self.position_sum / self.position_count  # 0 / 0 is nan
        return means.tolist()
