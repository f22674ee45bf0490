"""What counting alone achieves: the unigram and bigram cross-entropy drawn on the loss chart.

Counts come from the training tokens and the loss is measured on the validation tokens, the same
text the model's val loss is measured on: a model that has learned anything beyond counting
beats them there. Unseen tokens and pairs must not cost infinity, so the unigram is add-one
smoothed and the bigram uses Witten-Bell smoothing (a context followed by many different tokens
in training gives more weight to the unigram for a pair it never saw), which needs no tuning.
Pairs of a big vocabulary (BPE, words) are counted sparsely, by sorting, never as a vocab × vocab
table. numpy, not torch: on a busy 2-core CPU its counting is ten times faster here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

DENSE_PAIRS = 1 << 22  # a vocab × vocab count table up to this many cells (32 MB, char vocabs)


@dataclass(frozen=True)
class Baselines:
    unigram: float  # nats per token: predict each token from its frequency alone
    bigram: float  # nats per token: predict it from the token before it


def count_baselines(train: torch.Tensor, val: torch.Tensor, vocab_size: int) -> Baselines:
    """Unigram and bigram cross-entropy on `val` (its tokens after the first, the targets a
    model predicts) with counts from `train`; both are 1-D tensors of token ids."""
    V = vocab_size
    train = train.cpu().numpy().astype(np.int64)
    val = val.cpu().numpy().astype(np.int64)
    p_unigram = (np.bincount(train, minlength=V) + 1) / (len(train) + V)  # (V,), add-one
    context, target = val[:-1], val[1:]
    p_target = p_unigram[target]
    unigram = -np.log(p_target).mean()

    keys, counts = _pair_counts(train[:-1] * V + train[1:], V)
    seen = np.bincount(train[:-1], minlength=V)  # c(a): a followed by anything
    followers = np.bincount(keys // V, minlength=V)  # T(a): distinct tokens after a
    wanted = context * V + target
    where = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    pair = np.where(keys[where] == wanted, counts[where], 0)  # c(a, b)
    weight = followers[context]
    total = seen[context] + weight
    # Witten-Bell: (c(a,b) + T(a)·p(b)) / (c(a) + T(a)); a context never seen falls back to p(b).
    p_bigram = np.where(total > 0, (pair + weight * p_target) / np.maximum(total, 1), p_target)
    bigram = -np.log(p_bigram).mean()
    return Baselines(float(unigram), float(bigram))


def _pair_counts(keys: np.ndarray, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct pair keys (a·V + b), sorted, and how often each occurs."""
    if vocab_size * vocab_size <= DENSE_PAIRS:
        table = np.bincount(keys, minlength=vocab_size * vocab_size)
        distinct = np.flatnonzero(table)
        return distinct, table[distinct]
    ordered = np.sort(keys)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    return ordered[starts], np.diff(np.r_[starts, len(ordered)])
