"""llm-learns engine: train a small GPT and look inside it, from a script, a worker or a test.

Importing this package is cheap and does not import torch: the names that need it (Trainer, train,
...) load on first use, so a client such as the TUI can draw before torch has loaded.
"""

from importlib import import_module
from typing import TYPE_CHECKING

from engine.contract.config import (
    DEFAULT_PRESET,
    PRESETS,
    TASKS,
    DataConfig,
    ModelConfig,
    RunConfig,
    SampleConfig,
    TrainConfig,
    describe,
    preset,
)
from engine.contract.display import token_label, visible
from engine.contract.errors import (
    CheckpointError,
    ConfigError,
    CorpusError,
    EngineError,
    WriteError,
)
from engine.contract.events import (
    PHASE_LABELS,
    WIRE_ONLY,
    CheckpointSaved,
    EngineFailed,
    EvalCompleted,
    Event,
    FinishReason,
    HeadsScored,
    HistoryProgress,
    HistoryReplayed,
    LossNotFinite,
    PauseCause,
    PhaseChanged,
    PhaseKind,
    SampleGenerated,
    StepCompleted,
    TokenizeProgress,
    TokenizeStage,
    TrainingFinished,
    TrainingPaused,
    TrainingResumed,
    TrainingStarted,
    TrainingStats,
    event_from_json,
)
from engine.contract.experiments import (
    Ablation,
    AblationMethod,
    AblationPart,
    AblationResult,
    GamePassage,
    GuessResult,
    HeadImportance,
    ImportanceTable,
)
from engine.contract.flops import gpu_peak
from engine.contract.inside import (
    STAGE_KINDS,
    ForwardTrace,
    ModelPart,
    Neighbour,
    PassageLosses,
    TraceStage,
)
from engine.contract.learning import (
    GENERALISED_ACCURACY,
    ICL_JUMP,
    INDUCTION_THRESHOLD,
    MEMORISED_ACCURACY,
    NEAR_ZERO,
    UPDATE_GUIDE,
    WEIGHT_MATRICES,
    HeadScore,
    HeadStats,
    LayerStats,
    WeightStats,
)
from engine.contract.outputs import (
    AttentionMap,
    Candidate,
    GeneratedToken,
    HeadRole,
    RunStatus,
    TopLogits,
)
from engine.contract.protocol import RunClient, TokenStream
from engine.contract.run_state import RunState, advance
from engine.contract.snapshots import EmbeddingMap, LogitLens
from engine.lens.head_roles import head_roles
from engine.lens.sampling import SamplingPipeline, SamplingStage, sampling_pipeline
from engine.process.client import EngineClient, Generation
from engine.runs.files import read_events, read_events_after
from engine.runs.listing import RunSummary, comparable_run, list_runs, summarize_run
from engine.runs.liveness import worker_alive

_LAZY = {
    "Trainer": "engine.training.trainer",
    "Control": "engine.training.trainer",
    "train": "engine.training.trainer",
    "capture_attention": "engine.lens.attention",
    "trace": "engine.lens.trace",
    "logit_lens": "engine.lens.logit_lens",
    "passage_losses": "engine.lens.surprise",
    "stream_tokens": "engine.model.generate",
    "generate_text": "engine.model.generate",
    "load_tokenizer": "engine.data.tokenizer",
    "write_report": "engine.report.page",  # matplotlib, only when a report is written
}

if TYPE_CHECKING:
    from engine.data.tokenizer import load_tokenizer
    from engine.lens.attention import capture_attention
    from engine.lens.logit_lens import logit_lens
    from engine.lens.surprise import passage_losses
    from engine.lens.trace import trace
    from engine.model.generate import generate_text, stream_tokens
    from engine.report.page import write_report
    from engine.training.trainer import Control, Trainer, train


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


__all__ = [
    "DEFAULT_PRESET", "PRESETS", "DataConfig", "ModelConfig", "RunConfig", "SampleConfig",
    "TrainConfig", "describe", "preset", "TASKS",
    "EngineClient", "Generation", "RunClient", "TokenStream", "RunState", "advance",
    "CheckpointError", "ConfigError", "CorpusError", "EngineError", "WriteError",
    "CheckpointSaved", "EngineFailed", "EvalCompleted", "Event", "FinishReason", "LossNotFinite",
    "PauseCause", "HistoryProgress", "HistoryReplayed",
    "SampleGenerated", "StepCompleted", "TrainingFinished", "TrainingPaused", "TrainingResumed",
    "TrainingStarted", "TokenizeProgress", "TokenizeStage", "event_from_json",
    "HistoryProgress", "HistoryReplayed", "WIRE_ONLY",
    "TrainingStats", "HeadsScored", "PhaseChanged", "PhaseKind", "PHASE_LABELS",
    "WeightStats", "LayerStats", "HeadStats", "HeadScore", "WEIGHT_MATRICES", "UPDATE_GUIDE",
    "NEAR_ZERO", "INDUCTION_THRESHOLD", "ICL_JUMP", "LogitLens", "EmbeddingMap", "gpu_peak",
    "token_label", "visible", "MEMORISED_ACCURACY", "GENERALISED_ACCURACY",
    "Ablation", "AblationMethod", "AblationPart", "AblationResult", "HeadImportance",
    "ImportanceTable", "GamePassage", "GuessResult",
    "AttentionMap", "Candidate", "GeneratedToken", "RunStatus", "TopLogits",
    "ForwardTrace", "TraceStage", "ModelPart", "Neighbour", "PassageLosses", "STAGE_KINDS",
    "HeadRole", "head_roles", "SamplingPipeline", "SamplingStage", "sampling_pipeline",
    "trace", "passage_losses", "logit_lens",
    "Trainer", "Control", "train", "capture_attention", "stream_tokens", "generate_text",
    "load_tokenizer", "read_events", "read_events_after", "comparable_run", "list_runs",
    "RunSummary", "summarize_run", "worker_alive", "write_report",
]  # fmt: skip
