"""Experiments on the live model, as plain records (no torch): knock a part out (ablation) and
see what it did, rank the heads by what losing each costs, and score a learner's guess of the
next token against the model's (the prediction game).

None of them changes the weights: an ablation is a hook on the forward pass
(engine/lens/ablation.py), taken off again before the reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from engine.contract.outputs import Candidate


class AblationPart(StrEnum):
    """What an ablation knocks out."""

    HEAD = "head"  # one attention head's output, before the attention's output projection
    ATTENTION = "attention"  # a block's whole attention (all its heads and the projection)
    MLP = "mlp"  # a block's MLP


class AblationMethod(StrEnum):
    """What the knocked-out part's output is replaced with."""

    ZERO = "zero"  # nothing: the part's output is zero
    MEAN = "mean"  # its mean output over the val batches: the part no longer depends on the text


@dataclass(frozen=True)
class Ablation:
    part: AblationPart
    layer: int
    head: int | None = None  # the head, for AblationPart.HEAD
    method: AblationMethod = AblationMethod.ZERO

    def label(self) -> str:
        """For people: "head L1H0", "block 1 attention", "block 0 MLP"."""
        if self.part is AblationPart.HEAD:
            return f"head L{self.layer}H{self.head}"
        return f"block {self.layer} {'attention' if self.part is AblationPart.ATTENTION else 'MLP'}"


@dataclass(frozen=True)
class AblationResult:
    """The model with and without one part, on the val batches and on a text."""

    ablation: Ablation
    step: int  # the training step of the weights
    val_loss: float  # on the eval's val batches (a task's: on what it trains on)
    ablated_val_loss: float
    probe_loss: float  # mean next-token loss over the text
    ablated_probe_loss: float
    tokens: tuple[str, ...]  # the text as tokens: the context and the token after it at most
    position: int  # the selected position, 0-based: its next-token candidates follow
    candidates: tuple[Candidate, ...]  # after tokens[position], with the part
    ablated_candidates: tuple[Candidate, ...]  # and without it
    actual: Candidate | None = None  # the text's next token there, with and without:
    ablated_actual: Candidate | None = None  # None at the text's last position
    val_accuracy: float | None = None  # a task's accuracy on its answers, with and without
    ablated_val_accuracy: float | None = None

    @property
    def loss_increase(self) -> float:
        return self.ablated_val_loss - self.val_loss


@dataclass(frozen=True)
class HeadImportance:
    layer: int
    head: int
    ablated_loss: float  # val loss with this head alone ablated
    increase: float  # ablated_loss minus the intact model's


@dataclass(frozen=True)
class ImportanceTable:
    """Every head, most important first: the val loss increase when it alone is ablated."""

    method: AblationMethod
    step: int
    val_loss: float  # the intact model's
    heads: tuple[HeadImportance, ...]


@dataclass(frozen=True)
class GamePassage:
    """A validation passage of the prediction game: the learner guesses the tokens at `asked`,
    one by one, each seeing the tokens before it. The client shows a token only once guessed."""

    number: int
    tokens: tuple[str, ...]
    token_ids: tuple[int, ...]
    asked: tuple[int, ...]  # indices into tokens (each has context before it)


@dataclass(frozen=True)
class GuessResult:
    """A learner's guess of the token at `position` of a game passage, and the model's."""

    number: int  # the passage
    position: int
    guess: str  # as typed
    guess_token: str  # the vocabulary's token it was read as ("" if none matched)
    guess_prob: float  # the model's probability for it (0 if none matched)
    guess_rank: int | None  # its rank among the model's guesses, 1 the likeliest
    actual: Candidate  # the token really there, with the model's probability for it
    top: Candidate  # the model's own top choice
    correct: bool  # the learner's guess is the actual token
    model_correct: bool  # the model's top choice is
    step: int = 0  # the training step of the weights
    note: str = (
        ""  # for people: how the guess was read ("unknown word", "scored on its first token")
    )
