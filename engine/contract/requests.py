"""Typed requests a client sends to its run's worker, and the replies it gets back.

Same codec as the events (engine.contract.codec). Every request carries an `id` that its replies
echo; the worker dispatches on the request's class through one table (Worker.HANDLERS). An attention
reply is followed by one binary message holding the float32 weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from engine.contract.codec import Family, Record
from engine.contract.config import SampleConfig
from engine.contract.experiments import (
    Ablation,
    AblationMethod,
    AblationResult,
    GamePassage,
    GuessResult,
    ImportanceTable,
)
from engine.contract.inside import ForwardTrace, PassageLosses
from engine.contract.outputs import GeneratedToken, RunStatus
from engine.contract.snapshots import EmbeddingMap, LogitLens

REQUEST_TYPES: Family[Request] = Family("request")
REPLY_TYPES: Family[Request] = Family("reply")


@dataclass(frozen=True)
class Request(Record):
    id: int = 0


# -- requests --------------------------------------------------------------------------------------


@REQUEST_TYPES.register
@dataclass(frozen=True)
class Hello(Request):
    """The first request on a client's connection; an owner's exit stops a non-detached run."""

    kind: ClassVar[str] = "hello"
    owner: bool = False


@REQUEST_TYPES.register
@dataclass(frozen=True)
class Subscribe(Request):
    """Turn this connection into an event stream: the history, then every live event."""

    kind: ClassVar[str] = "subscribe"
    # How much of events.jsonl the client counts as the run's past (its size when the client
    # started or resumed the run); None: all of it. HistoryReplayed marks where that ends.
    history_bytes: int | None = None


@REQUEST_TYPES.register
@dataclass(frozen=True)
class Pause(Request):
    kind: ClassVar[str] = "pause"


@REQUEST_TYPES.register
@dataclass(frozen=True)
class Resume(Request):
    """Continue a paused run, or a stopped one that has steps left."""

    kind: ClassVar[str] = "resume"


@REQUEST_TYPES.register
@dataclass(frozen=True)
class Stop(Request):
    """Stop training and checkpoint; the worker stays up to sample from."""

    kind: ClassVar[str] = "stop"


@REQUEST_TYPES.register
@dataclass(frozen=True)
class Detach(Request):
    """The owner lets go: the run outlives its clients."""

    kind: ClassVar[str] = "detach"


@REQUEST_TYPES.register
@dataclass(frozen=True)
class Shutdown(Request):
    """Stop training, checkpoint and end the worker."""

    kind: ClassVar[str] = "shutdown"


@REQUEST_TYPES.register
@dataclass(frozen=True)
class Save(Request):
    kind: ClassVar[str] = "save"


@REQUEST_TYPES.register
@dataclass(frozen=True)
class SampleNow(Request):
    kind: ClassVar[str] = "sample_now"


@REQUEST_TYPES.register
@dataclass(frozen=True)
class Generate(Request):
    """Stream tokens after `prompt`; None uses the run's own sample settings."""

    kind: ClassVar[str] = "generate"
    prompt: str = ""
    config: SampleConfig | None = None
    # The model as it was at this step (the nearest kept one: engine/training/kept.py); None: now.
    at_step: int | None = None


@REQUEST_TYPES.register
@dataclass(frozen=True)
class Attention(Request):
    """The current model's attention on `text`."""

    kind: ClassVar[str] = "attention"
    text: str = ""
    # The model as it was at this step (the nearest kept one: engine/training/kept.py); None: now.
    at_step: int | None = None


@REQUEST_TYPES.register
@dataclass(frozen=True)
class AttentionSteps(Request):
    """The steps at which the probe's attention was stored (the time-lapse)."""

    kind: ClassVar[str] = "attention_steps"


@REQUEST_TYPES.register
@dataclass(frozen=True)
class AttentionAt(Request):
    kind: ClassVar[str] = "attention_at"
    step: int = 0


@REQUEST_TYPES.register
@dataclass(frozen=True)
class Trace(Request):
    """One forward pass of the current model on `text`, seen at `position` (negative: from the
    end)."""

    kind: ClassVar[str] = "trace"
    text: str = ""
    position: int = -1
    # The model as it was at this step (the nearest kept one: engine/training/kept.py); None: now.
    at_step: int | None = None


@REQUEST_TYPES.register
@dataclass(frozen=True)
class Lens(Request):
    """The logit lens on `text`: each block's next-token guess at each position."""

    kind: ClassVar[str] = "lens"
    text: str = ""
    # The model as it was at this step (the nearest kept one: engine/training/kept.py); None: now.
    at_step: int | None = None


@REQUEST_TYPES.register
@dataclass(frozen=True)
class LensAt(Request):
    """The logit lens on the probe text as stored at an eval (a step of AttentionSteps)."""

    kind: ClassVar[str] = "lens_at"
    step: int = 0


@REQUEST_TYPES.register
@dataclass(frozen=True)
class EmbeddingsAt(Request):
    """The embedding map as stored at an eval (a step of AttentionSteps)."""

    kind: ClassVar[str] = "embeddings_at"
    step: int = 0


@REQUEST_TYPES.register
@dataclass(frozen=True)
class TokenLosses(Request):
    """Each token's loss on the fixed validation passage, with the model's guesses."""

    kind: ClassVar[str] = "token_losses"


@REQUEST_TYPES.register
@dataclass(frozen=True)
class KeptSteps(Request):
    """The past steps whose weights are kept, which `at_step` can reach exactly."""

    kind: ClassVar[str] = "kept_steps"


@REQUEST_TYPES.register
@dataclass(frozen=True)
class Ablate(Request):
    """The live model with and without one part (engine/lens/ablation.py): val loss, the loss
    on `text` and the candidates after its token at `position` (negative: from the end)."""

    kind: ClassVar[str] = "ablate"
    ablation: Ablation | None = None
    text: str = ""
    position: int = -2


@REQUEST_TYPES.register
@dataclass(frozen=True)
class RankHeads(Request):
    """Every head of the live model ablated alone in turn: the val loss each costs."""

    kind: ClassVar[str] = "rank_heads"
    method: AblationMethod = AblationMethod.ZERO


@REQUEST_TYPES.register
@dataclass(frozen=True)
class GameRound(Request):
    """Validation passage `number` of the prediction game."""

    kind: ClassVar[str] = "game_round"
    number: int = 0


@REQUEST_TYPES.register
@dataclass(frozen=True)
class Guess(Request):
    """A learner's guess of the token at `position` of game passage `number`."""

    kind: ClassVar[str] = "guess"
    number: int = 0
    position: int = 0
    guess: str = ""


@REQUEST_TYPES.register
@dataclass(frozen=True)
class Status(Request):
    kind: ClassVar[str] = "status"


# -- replies ---------------------------------------------------------------------------------------


@REPLY_TYPES.register
@dataclass(frozen=True)
class Done(Request):
    """The request was carried out."""

    kind: ClassVar[str] = "done"


@REPLY_TYPES.register
@dataclass(frozen=True)
class Refused(Request):
    """The request could not be carried out; `error` is one line for a person."""

    kind: ClassVar[str] = "refused"
    error: str = ""


@REPLY_TYPES.register
@dataclass(frozen=True)
class StatusReply(Request):
    kind: ClassVar[str] = "status_reply"
    status: RunStatus | None = None


@REPLY_TYPES.register
@dataclass(frozen=True)
class StepsReply(Request):
    kind: ClassVar[str] = "steps_reply"
    steps: tuple[int, ...] = ()


@REPLY_TYPES.register
@dataclass(frozen=True)
class AttentionReply(Request):
    """Everything of an AttentionMap but its weights, which follow as one binary message."""

    kind: ClassVar[str] = "attention_reply"
    tokens: tuple[str, ...] = ()
    token_ids: tuple[int, ...] = ()
    shape: tuple[int, ...] = ()
    unknown: tuple[str, ...] = ()
    truncated: bool = False
    step: int = 0


@REPLY_TYPES.register
@dataclass(frozen=True)
class TraceReply(Request):
    kind: ClassVar[str] = "trace_reply"
    trace: ForwardTrace | None = None


@REPLY_TYPES.register
@dataclass(frozen=True)
class LensReply(Request):
    kind: ClassVar[str] = "lens_reply"
    lens: LogitLens | None = None


@REPLY_TYPES.register
@dataclass(frozen=True)
class EmbeddingMapReply(Request):
    kind: ClassVar[str] = "embedding_map_reply"
    embedding_map: EmbeddingMap | None = None


@REPLY_TYPES.register
@dataclass(frozen=True)
class TokenLossesReply(Request):
    kind: ClassVar[str] = "token_losses_reply"
    passage: PassageLosses | None = None


@REPLY_TYPES.register
@dataclass(frozen=True)
class GenerationStarted(Request):
    """Generation began; `unknown` lists pieces of the prompt the vocabulary lacks."""

    kind: ClassVar[str] = "generation_started"
    unknown: tuple[str, ...] = ()
    step: int = 0  # the training step of the weights that generate


@REPLY_TYPES.register
@dataclass(frozen=True)
class TokenSampled(Request):
    kind: ClassVar[str] = "token"
    token: GeneratedToken | None = None


@REPLY_TYPES.register
@dataclass(frozen=True)
class GenerationEnded(Request):
    kind: ClassVar[str] = "generation_ended"


@REPLY_TYPES.register
@dataclass(frozen=True)
class AblationReply(Request):
    kind: ClassVar[str] = "ablation_reply"
    result: AblationResult | None = None


@REPLY_TYPES.register
@dataclass(frozen=True)
class ImportanceReply(Request):
    kind: ClassVar[str] = "importance_reply"
    table: ImportanceTable | None = None


@REPLY_TYPES.register
@dataclass(frozen=True)
class GameRoundReply(Request):
    kind: ClassVar[str] = "game_round_reply"
    passage: GamePassage | None = None


@REPLY_TYPES.register
@dataclass(frozen=True)
class GuessReply(Request):
    kind: ClassVar[str] = "guess_reply"
    result: GuessResult | None = None
