"""What a client of a run offers: the Protocol the TUI and the CLI are written against.

`EngineClient` (a real worker process) and the tests' fake both satisfy it; a test checks that the
two agree method by method, so renaming a client method breaks a test, not a user.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from engine.contract.config import RunConfig, SampleConfig
from engine.contract.events import Event
from engine.contract.experiments import (
    Ablation,
    AblationMethod,
    AblationResult,
    GamePassage,
    GuessResult,
    ImportanceTable,
)
from engine.contract.inside import ForwardTrace, PassageLosses
from engine.contract.outputs import AttentionMap, GeneratedToken, RunStatus
from engine.contract.snapshots import EmbeddingMap, LogitLens


class TokenStream(Protocol):
    """Tokens as the worker samples them; `unknown` lists pieces of the prompt the vocab lacks."""

    unknown: list[str]
    step: int  # the training step of the weights that generate

    def __iter__(self) -> Iterator[GeneratedToken]: ...


@runtime_checkable
class RunClient(Protocol):
    run_dir: Path

    @classmethod
    def start(
        cls,
        config: RunConfig,
        run_dir: str | Path | None = None,
        *,
        detach: bool = False,
        nproc: int = 1,
    ) -> RunClient:
        """Start a run of `config` in a new worker; raises EngineError (one line) for bad input."""
        ...

    @classmethod
    def attach(cls, run_dir: str | Path) -> RunClient:
        """Join a run's worker (starting an idle one for a run that has none)."""
        ...

    def events(self, history_bytes: int | None = None) -> Iterator[Event]:
        """The run's history (in brief, with HistoryProgress as it loads), a HistoryReplayed
        where it ends, then its live events; an EngineFailed last if the worker dies.

        `history_bytes`: how much of events.jsonl counts as the past (see Subscribe)."""
        ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def stop(self) -> None:
        """Stop training and checkpoint; the worker stays up to sample from."""
        ...

    def save(self) -> None: ...

    def sample_now(self) -> None: ...

    def status(self) -> RunStatus: ...

    def attention(self, text: str, at_step: int | None = None) -> AttentionMap:
        """Attention on `text`, of the model as it was at `at_step` (None: now)."""
        ...

    def attention_steps(self) -> list[int]: ...

    def attention_at(self, step: int) -> AttentionMap: ...

    def logit_lens(self, text: str, at_step: int | None = None) -> LogitLens:
        """Each block's next-token guess on `text`, of the model as it was at `at_step`."""
        ...

    def logit_lens_at(self, step: int) -> LogitLens:
        """The logit lens on the probe as stored at an eval (a step of attention_steps())."""
        ...

    def embedding_map_at(self, step: int) -> EmbeddingMap:
        """The token embeddings' 2-D map as stored at an eval (a step of attention_steps())."""
        ...

    def trace(self, text: str, position: int = -1, at_step: int | None = None) -> ForwardTrace:
        """One forward pass on `text`, seen at one position, of the weights of `at_step`."""
        ...

    def kept_steps(self) -> list[int]:
        """The past steps whose weights are kept (what at_step reaches exactly)."""
        ...

    def token_losses(self) -> PassageLosses:
        """Each token's loss on the fixed validation passage, with the model's top guesses."""
        ...

    def ablate(self, ablation: Ablation, text: str, position: int = -2) -> AblationResult:
        """The live model with and without one part: val loss, the loss on `text` and the
        candidates after its token at `position`; the weights stay as they are."""
        ...

    def head_importance(self, method: AblationMethod = AblationMethod.ZERO) -> ImportanceTable:
        """Every head ablated alone in turn: the val loss each costs, most costly first."""
        ...

    def game_passage(self, number: int) -> GamePassage:
        """Validation passage `number` of the prediction game."""
        ...

    def guess(self, number: int, position: int, guess: str) -> GuessResult:
        """A learner's guess of a game passage's token, scored with the model's."""
        ...

    def generate(
        self, prompt: str, config: SampleConfig | None = None, at_step: int | None = None
    ) -> TokenStream:
        """Tokens after `prompt`, from the model as it was at `at_step` (None: now)."""
        ...

    def close(self) -> None:
        """Let go; a run this client owns (started without detach) stops and checkpoints."""
        ...

    def detach(self) -> None:
        """Let go but keep the run training, even one this client started."""
        ...

    def shutdown(self) -> None:
        """Stop training, checkpoint and end the worker, whoever started it."""
        ...
