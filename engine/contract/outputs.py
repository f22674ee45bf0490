"""Results the engine hands to clients: generated tokens, attention maps and a run's status.

Plain Python only (no torch), so a client such as the TUI can hold and draw them without importing
torch. Attention weights are a flat float32 array with a shape, which is also their wire form.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from engine.contract.run_state import RunState


@dataclass(frozen=True)
class Candidate:
    token_id: int
    text: str
    prob: float


@dataclass(frozen=True)
class TopLogits:
    """A step's largest raw logits (temperature 1), most likely first, and the logsumexp of all.

    Enough to redraw the sampling pipeline for other settings without generating again
    (engine.lens.sampling.sampling_pipeline); exact when the vocabulary has no more tokens than
    these.
    """

    token_ids: tuple[int, ...]
    texts: tuple[str, ...]
    logits: tuple[float, ...]
    logsumexp: float  # ln of the sum of exp(logit) over the whole vocabulary
    vocab_size: int


@dataclass(frozen=True)
class GeneratedToken:
    token_id: int
    text: str  # what this token adds to the decoded output ("" while a character is incomplete)
    prob: float  # its probability under the distribution it was drawn from
    candidates: tuple[Candidate, ...]  # the top_n most likely tokens at this step
    logits: TopLogits | None = None  # the raw logits behind it, to redraw the pipeline


@dataclass(frozen=True)
class AttentionMap:
    """Attention probabilities of every layer and head for one input: (n_layer, n_head, T, T)."""

    tokens: list[str]  # each token as text, in order
    token_ids: list[int]
    shape: tuple[int, int, int, int]
    weights: array  # float32, row-major over shape; row i of a head sums to 1 over keys 0..i
    unknown: list[str] = field(default_factory=list)  # pieces of the input the vocabulary lacks
    truncated: bool = False  # the input was longer than block_size and only its start was kept
    step: int = 0  # the training step the weights come from

    def row(self, layer: int, head: int, query: int) -> list[float]:
        """Where token `query` looks: one probability per key token."""
        _, n_head, T, _ = self.shape
        start = ((layer * n_head + head) * T + query) * T
        return list(self.weights[start : start + T])

    def matrix(self, layer: int, head: int) -> list[list[float]]:
        return [self.row(layer, head, q) for q in range(self.shape[2])]


@dataclass(frozen=True)
class HeadRole:
    """What one attention head mostly does on a text (engine/lens/head_roles.py scores it)."""

    layer: int
    head: int
    role: str  # one of head_roles.ROLES, or head_roles.MIXED
    score: float  # the best role's score (also for a mixed head)
    scores: tuple[tuple[str, float], ...]  # (role, score) for every role defined on this text


@dataclass(frozen=True)
class RunStatus:
    state: RunState
    step: int
    max_steps: int
    run_dir: str
    preset: str
    device: str
    clients: int = 1  # clients attached to the worker, this one included
