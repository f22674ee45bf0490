"""The tokenized corpus, memory-mapped from the token cache and split train/val, and random training
batches from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from engine.contract.config import DataConfig
from engine.contract.errors import CorpusError
from engine.data.corpus import resolve_corpus
from engine.data.token_cache import Progress, note_read, tokenize
from engine.data.tokenizer import Tokenizer


@dataclass
class Dataset:
    train: torch.Tensor  # (N_train,) uint16 or uint32 token ids, memory-mapped
    val: torch.Tensor  # (N_val,) the contiguous tail of the token stream

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
        if device.type == "cuda":
            return (
                x.pin_memory().to(device, non_blocking=True),
                y.pin_memory().to(device, non_blocking=True),
            )
        return x.to(device), y.to(device)


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
