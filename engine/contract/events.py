"""Typed events: the contract between the training loop, the run's events.jsonl and every client.

Each event is a frozen dataclass named as a fact. One codec (engine.contract.codec) serves both the
append-only log and the wire, so what a client replays is exactly what it would have seen live.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from engine.contract.codec import Family, Record, omitted_at
from engine.contract.learning import HeadScore, HeadStats, LayerStats, WeightStats

EVENT_TYPES: Family[Event] = Family("event")


class PauseCause(StrEnum):
    """Why training paused: the one field clients branch on (never the wording of a detail)."""

    USER = "user"  # a client asked
    NOT_FINITE = "not_finite"  # the loss or gradient norm was NaN or infinite


class TokenizeStage(StrEnum):
    """The passes over a corpus before its first step (engine/data/token_cache.py)."""

    HASH = "hash"  # reading it to find its content hash, the token cache's key
    WAIT = "wait"  # another process (a run, a rank) is putting it in the cache: no byte count
    VOCAB = "vocab"  # learning the tokenizer's vocabulary from it
    MERGE = "merge"  # BPE merging pairs once the corpus is read: no byte count, only time
    ENCODE = "encode"  # turning it into token ids on disk

    @property
    def label(self) -> str:
        """What the pass is doing, for people: "reading the corpus"."""
        return _STAGE_LABELS[self]


_STAGE_LABELS = {
    TokenizeStage.HASH: "reading the corpus",
    TokenizeStage.WAIT: "waiting for another run to tokenize it",
    TokenizeStage.VOCAB: "learning the vocabulary",
    TokenizeStage.MERGE: "learning the BPE merges",
    TokenizeStage.ENCODE: "tokenizing the corpus",
}


class FinishReason(StrEnum):
    COMPLETED = "completed"  # reached max_steps
    STOPPED = "stopped"  # a client or the last owner's exit asked
    INTERRUPTED = "interrupted"  # SIGINT or SIGTERM
    DIVERGED = "diverged"  # too many non-finite steps in a row


class PhaseKind(StrEnum):
    """What ability a PhaseChanged marks."""

    INDUCTION = "induction"  # a head began copying what followed an earlier copy of its token
    ICL = "icl"  # the in-context-learning score jumped: later tokens now gain from the context
    # A task's (contract/learning.py has the thresholds): it got its training answers right
    # while the held-out ones stayed wrong, and later the held-out ones came right too (grokking).
    MEMORISED = "memorised"
    GENERALISED = "generalised"


@EVENT_TYPES.register
@dataclass(frozen=True)
class TrainingStarted(Record):
    kind: ClassVar[str] = "training_started"
    run_dir: str
    preset: str
    device: str
    dtype: str
    tokenizer: str
    vocab_size: int
    n_params: int
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int
    batch_size: int
    start_step: int
    max_steps: int
    train_tokens: int
    val_tokens: int
    resumed: bool = False
    probe: str = ""  # the text whose attention the time-lapse stores at every eval
    # What counting alone achieves on the val text (engine.data.baselines); None in older logs.
    unigram_loss: float | None = None
    bigram_loss: float | None = None
    # The learning rate at evenly spaced steps from 0 to max_steps
    # (engine.training.schedule.lr_schedule).
    lr_schedule: tuple[float, ...] = ()
    # The folder of GPT-2's files the weights started from (--init-from); "" for a fresh model.
    pretrained: str = omitted_at("")
    # The model FLOPs of one training step (forward and backward, the whole batch): 6N + 12·L·T·C
    # per token, the causal mask's saving not taken (a test checks it against FlopCounterMode).
    step_flops: int | None = None
    # What the devices can do, in FLOP/s: a GPU's bf16 dense peak from a table, or on a CPU the
    # matmul throughput measured on this machine; None when unknown, and peak_source says why.
    peak_flops: float | None = None
    peak_source: str = ""
    # The synthetic task the run learns (engine/data/tasks.py: induction, modadd); "" a corpus.
    task: str = omitted_at("")

    def flops_per_s(self, tokens_per_s: float) -> float | None:
        """The model FLOP/s that training at `tokens_per_s` achieves."""
        if not self.step_flops:
            return None
        return tokens_per_s / (self.batch_size * self.block_size) * self.step_flops

    def training_data(self) -> str:
        """What the model trains on, in a few words: a task that draws every batch anew has no
        fixed training text to count (nor epochs)."""
        if self.train_tokens <= 0:
            return "new random rows every batch"
        return f"{self.train_tokens:,} training tokens"

    def utilization(self, tokens_per_s: float) -> float | None:
        """MFU: achieved model FLOP/s over the peak (on a CPU: over its measured matmul rate)."""
        achieved = self.flops_per_s(tokens_per_s)
        if achieved is None or not self.peak_flops:
            return None
        return achieved / self.peak_flops


@EVENT_TYPES.register
@dataclass(frozen=True)
class TokenizeProgress(Record):
    """How far the corpus has been read into the token cache; the run is still starting.

    total_bytes is 0 for a stage that reads nothing (waiting, BPE's merges): only its time shows.
    """

    kind: ClassVar[str] = "tokenize"
    stage: TokenizeStage
    done_bytes: int
    total_bytes: int
    elapsed_s: float  # since this stage began


@EVENT_TYPES.register
@dataclass(frozen=True)
class StepCompleted(Record):
    kind: ClassVar[str] = "step"
    step: int  # steps done so far, counting this one
    loss: float
    lr: float
    grad_norm: float
    tokens_per_s: float
    elapsed_s: float  # training time of this run so far, evals and checkpoints excluded
    tokens_seen: int
    # A long history is replayed in brief (engine/runs/history.py): one event then stands for this
    # many consecutive steps, loss and grad_norm their means, the rest those of the last of them.
    # Always 1 in events.jsonl.
    merged: int = omitted_at(1)


@EVENT_TYPES.register
@dataclass(frozen=True)
class EvalCompleted(Record):
    kind: ClassVar[str] = "eval"
    step: int
    train_loss: float  # a task's: on the targets it trains on (modadd: the answer c alone)
    val_loss: float
    # A task's (engine/data/tasks.py): the share of its answers the top guess gets right.
    train_accuracy: float | None = omitted_at(None)
    val_accuracy: float | None = omitted_at(None)
    # Where a task's rows hold tokens nothing predicts before its answers (induction: the first
    # half, random, then the repeat), the val loss on each apart; the task trains on the second
    # alone. The lesson: the second falls far below the first once the model copies.
    first_half_loss: float | None = omitted_at(None)
    second_half_loss: float | None = omitted_at(None)


@EVENT_TYPES.register
@dataclass(frozen=True)
class TrainingStats(Record):
    """How the learning itself went at one step (every train.stats_every): per weight matrix, its
    gradient, size and update; per block, its MLP units and residual stream; per head, how spread
    its attention is. Measured on that step's batch and the update the optimizer really applied."""

    kind: ClassVar[str] = "stats"
    step: int
    weights: tuple[WeightStats, ...]  # in model order (engine.contract.learning.WEIGHT_MATRICES)
    layers: tuple[LayerStats, ...]
    heads: tuple[HeadStats, ...]  # layer by layer
    # The mean entropy of a head that attends evenly to every token it may see (over the same
    # queries): the ceiling of HeadStats.entropy.
    uniform_entropy: float = 0.0


@EVENT_TYPES.register
@dataclass(frozen=True)
class HeadsScored(Record):
    """At each eval: every head's habits on a repeated random-token probe, and how much the model
    gains from its context on val (engine/lens/circuits.py)."""

    kind: ClassVar[str] = "heads_scored"
    step: int
    heads: tuple[HeadScore, ...]  # layer by layer
    # Mean val loss late in the context minus early in it (nats): below 0 once the model uses
    # what it has read; Olsson et al.'s in-context-learning score.
    icl_score: float
    early_loss: float  # the mean val loss at the early positions
    late_loss: float  # at the late ones


@EVENT_TYPES.register
@dataclass(frozen=True)
class PhaseChanged(Record):
    """An ability appeared: a head's induction score crossed INDUCTION_THRESHOLD, or the
    in-context-learning score fell ICL_JUMP below its lowest so far, or a task's model memorised
    its training answers or later generalised (engine.contract.learning). Once per head and kind."""

    kind: ClassVar[str] = "phase"
    phase: PhaseKind
    step: int
    layer: int | None  # the head's block and index; None for the other kinds
    head: int | None
    # The score that crossed (induction), the ICL score after the jump, or the accuracy that
    # crossed (train's when memorised, val's when generalised).
    score: float
    detail: str = ""  # for people: "induction head L1H0 formed: score 0.62 (threshold 0.40)"

    def label(self) -> str:
        """A few plain-ASCII words for a chart's marker (the app's and the report's)."""
        head = f"L{self.layer}H{self.head} " if self.layer is not None else ""
        return head + PHASE_LABELS[self.phase]


PHASE_LABELS = {
    PhaseKind.INDUCTION: "induction",
    PhaseKind.ICL: "ICL jump",
    PhaseKind.MEMORISED: "memorised",
    PhaseKind.GENERALISED: "val turns",  # val accuracy turned up, long after memorising
}


@EVENT_TYPES.register
@dataclass(frozen=True)
class SampleGenerated(Record):
    kind: ClassVar[str] = "sample"
    step: int
    prompt: str
    text: str


@EVENT_TYPES.register
@dataclass(frozen=True)
class LossNotFinite(Record):
    """The loss or gradient was NaN or infinite, so the step was not applied."""

    kind: ClassVar[str] = "loss_not_finite"
    step: int
    loss: float
    grad_norm: float
    what: str = "loss"  # what was not finite first: "loss" or "gradient norm"

    def summary(self) -> str:
        """One clause for people: "the loss became nan at step 1,200"."""
        value = self.loss if self.what == "loss" else self.grad_norm
        return f"the {self.what} became {value} at step {self.step:,}"


@EVENT_TYPES.register
@dataclass(frozen=True)
class CheckpointSaved(Record):
    kind: ClassVar[str] = "checkpoint"
    step: int
    path: str


@EVENT_TYPES.register
@dataclass(frozen=True)
class TrainingPaused(Record):
    kind: ClassVar[str] = "paused"
    step: int
    cause: PauseCause = PauseCause.USER
    detail: str = ""  # for people: what happened and what was kept


@EVENT_TYPES.register
@dataclass(frozen=True)
class TrainingResumed(Record):
    kind: ClassVar[str] = "resumed"
    step: int


@EVENT_TYPES.register
@dataclass(frozen=True)
class TrainingFinished(Record):
    kind: ClassVar[str] = "finished"
    reason: FinishReason
    step: int


@EVENT_TYPES.register
@dataclass(frozen=True)
class HistoryProgress(Record):
    """On the wire only: how far a worker has read the run's history to replay it."""

    kind: ClassVar[str] = "history_progress"
    done_bytes: int
    total_bytes: int


@EVENT_TYPES.register
@dataclass(frozen=True)
class HistoryReplayed(Record):
    """On the wire only, never in events.jsonl: the history ends here; live events follow."""

    kind: ClassVar[str] = "history_replayed"
    events: int  # how many events replayed it (long step runs merged: StepCompleted.merged)
    steps: int  # how many step events of events.jsonl they stand for


@EVENT_TYPES.register
@dataclass(frozen=True)
class EngineFailed(Record):
    """The worker died or raised; the last good checkpoint is what survives."""

    kind: ClassVar[str] = "failed"
    reason: str
    exit_code: int | None = None
    last_checkpoint: str | None = None


Event = (
    TokenizeProgress
    | TrainingStarted
    | StepCompleted
    | EvalCompleted
    | TrainingStats
    | HeadsScored
    | PhaseChanged
    | SampleGenerated
    | LossNotFinite
    | CheckpointSaved
    | TrainingPaused
    | TrainingResumed
    | TrainingFinished
    | EngineFailed
    | HistoryProgress
    | HistoryReplayed
)

# What a worker tells its clients of its replay of the history: never written to events.jsonl.
WIRE_ONLY = (HistoryProgress, HistoryReplayed)

event_from_json = EVENT_TYPES.from_json
