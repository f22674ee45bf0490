"""The tokenized corpus, memory-mapped from the token cache and split train/val, and random training
batches from it. The synthetic tasks (tasks.py) are Datasets too, with their own batches.

Every Dataset answers the same questions: a training batch, the fixed batches an eval measures
(with which targets count as answers, for a task's accuracy), and numbered validation passages
with the positions a learner is asked to guess there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.contract.config import DataConfig
from engine.contract.errors import CorpusError
from engine.data.corpus import resolve_corpus
from engine.data.token_cache import Progress, note_read, tokenize
from engine.data.tokenizer import Tokenizer

# F.cross_entropy's default ignore_index: a target that costs nothing and teaches nothing (a
# task's tokens that nothing predicts, such as modadd's a and b).
IGNORE = -100


@dataclass(frozen=True)
class EvalBatch:
    x: torch.Tensor  # (B, T) inputs
    y: torch.Tensor  # (B, T) targets, IGNORE where nothing is to be predicted
    # (B, T) bools: the targets that are a task's answers (accuracy is measured on them); None
    # for a corpus, where every target is just the next token.
    answers: torch.Tensor | None = None
    # (B, T) the targets a task does not train on but an eval measures apart (induction's first
    # half), IGNORE elsewhere; None where there are none.
    others: torch.Tensor | None = None


@dataclass(frozen=True)
class Passage:
    """A window of validation tokens and the positions in it whose token a learner guesses."""

    ids: tuple[int, ...]
    asked: tuple[int, ...]  # indices into ids, each >= 1 (there is context before it)


@dataclass
class Dataset:
    train: torch.Tensor  # (N_train,) uint16 or uint32 token ids, memory-mapped
    val: torch.Tensor  # (N_val,) the contiguous tail of the token stream

    task = ""  # the synthetic task this is ("" for a corpus)

    def full_batch(self) -> int | None:
        """The batch size if every step trains on the whole training split, else None."""
        return None

    @property
    def train_tokens(self) -> int:
        """Distinct training tokens (0 where every batch is new: no epochs to count)."""
        return len(self.train)

    @property
    def val_tokens(self) -> int:
        return len(self.val)

    def row_tokens(self, block_size: int) -> int:
        """How many tokens one row of a batch holds."""
        return block_size

    def head_probe(self, block_size: int) -> torch.Tensor | None:
        """The text the heads are scored on at each eval, if not the repeated random-token
        probe every corpus run uses (engine/lens/circuits.py)."""
        return None

    def batch(
        self,
        split: str,
        batch_size: int,
        block_size: int,
        generator: torch.Generator,
        device,
        shard: tuple[int, int] = (0, 1),
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random windows x (B, T) and their next-token targets y (B, T).

        With shard (rank, ranks), B is batch_size / ranks: every rank draws the same global batch
        and keeps its own slice, so N ranks together train on the rows one process would.
        """
        data = self.train if split == "train" else self.val
        note_read(data, batch_size)  # keeps the map's pages out of the worker's RSS
        starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
        rank, ranks = shard
        starts = starts.view(ranks, -1)[rank]
        window = data[starts[:, None] + torch.arange(block_size + 1)].long()  # (B, T + 1)
        x, y = window[:, :-1], window[:, 1:]
        return to_device(x, device), to_device(y, device)

    def eval_batches(
        self, split: str, batch_size: int, block_size: int, count: int, seed: int, device
    ) -> Iterator[EvalBatch]:
        """The batches an eval measures `split` on: the same ones at every eval (`seed`)."""
        generator = torch.Generator().manual_seed(seed)
        for _ in range(count):
            x, y = self.batch(split, batch_size, block_size, generator, device)
            yield EvalBatch(x, y)

    def passage(self, number: int, block_size: int) -> Passage:
        """Validation passage `number`: block_size + 1 tokens, every one after the first asked;
        passage 0 is the start of the split (the "where wrong" passage), later ones follow it."""
        size = min(block_size + 1, len(self.val))
        places = max(1, len(self.val) - size + 1)
        start = (number * size) % places
        ids = tuple(int(i) for i in self.val[start : start + size].tolist())
        return Passage(ids, tuple(range(1, len(ids))))


def to_device(tensor: torch.Tensor, device) -> torch.Tensor:
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def load_dataset(
    config: DataConfig,
    block_size: int,
    tokenizer: Tokenizer | None = None,
    progress: Progress | None = None,
    build: bool = True,
) -> tuple[Tokenizer, Dataset, Path]:
    """Tokenize the corpus through the token cache and split it; trains a tokenizer unless one is
    given. `progress` hears how the corpus is read when the cache does not have it yet; with
    build=False another process puts it there (see token_cache.tokenize).

    Raises CorpusError if the file is unusable or either split is shorter than block_size + 1.
    """
    path = resolve_corpus(config.corpus)
    tokenizer, tokens = tokenize(config, path, tokenizer, progress, build)
    n_val = int(len(tokens) * config.val_fraction)
    need = block_size + 1
    if len(tokens) - n_val < need or n_val < need:
        minimum = max(need * 2, int(need / config.val_fraction) + 1)
        raise CorpusError(
            f"corpus {path} has {len(tokens)} {config.tokenizer} tokens; with block_size "
            f"{block_size} it needs at least {minimum} (both splits longer than block_size + 1)"
        )
    return tokenizer, Dataset(tokens[:-n_val], tokens[-n_val:]), path
