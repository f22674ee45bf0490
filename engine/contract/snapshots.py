"""What the time-lapse stores at every eval besides attention, as plain records (no torch): the
logit lens on the probe text and the embedding map (engine/lens/logit_lens.py, embedding_map.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.contract.outputs import Candidate


@dataclass(frozen=True)
class LogitLens:
    """What the residual stream after each block would predict if the model stopped there:
    its next-token guess through the final LayerNorm and the head, at each position.

    Rows: "embeddings" (the input to block 0), then "block 0" ... "block n-1". The last row is
    the model's own prediction.
    """

    tokens: tuple[str, ...]  # the input as token texts (T of them)
    token_ids: tuple[int, ...]
    layers: tuple[str, ...]  # row labels, n_layer + 1
    top: tuple[tuple[Candidate, ...], ...]  # [row][position]: the likeliest next token and its prob
    # [row][position] for positions 0..T-2: the probability the row gives the token that comes
    # next in the text (how sure it is of the right answer)
    target_probs: tuple[tuple[float, ...], ...]
    unknown: tuple[str, ...] = ()  # pieces of the text the vocabulary lacks
    truncated: bool = False  # the text was longer than block_size: only its start was read
    step: int = 0


@dataclass(frozen=True)
class EmbeddingMap:
    """The token embeddings projected on their first two principal components, most frequent
    tokens first (at most MAP_TOKENS of the vocabulary)."""

    token_ids: tuple[int, ...]
    texts: tuple[str, ...]
    counts: tuple[int, ...]  # occurrences in the training split, descending
    x: tuple[float, ...]  # coordinate on the first principal component
    y: tuple[float, ...]  # on the second
    labelled: int  # the first `labelled` tokens are the ones to label
    explained: tuple[float, float]  # the share of the embeddings' variance each axis holds
    step: int = 0
