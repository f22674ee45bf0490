"""llm-learns engine: train a small GPT and look inside it, from a script, a worker or a test.

Importing this package is cheap and does not import torch: the names that need it (Trainer, train,
...) load on first use, so a client such as the TUI can draw before torch has loaded.
"""

from importlib import import_module
from typing import TYPE_CHECKING

from engine.client import EngineClient, Generation
from engine.config import (
    DEFAULT_PRESET,
    PRESETS,
    DataConfig,
    ModelConfig,
    RunConfig,
    SampleConfig,
    TrainConfig,
    describe,
    preset,
)
from engine.display import token_label, visible
from engine.errors import CheckpointError, ConfigError, CorpusError, EngineError, WriteError
from engine.events import (
    CheckpointSaved,
    EngineFailed,
    EvalCompleted,
    Event,
    FinishReason,
    LossNotFinite,
    PauseCause,
    SampleGenerated,
    StepCompleted,
    TokenizeProgress,
    TokenizeStage,
    TrainingFinished,
    TrainingPaused,
    TrainingResumed,
    TrainingStarted,
    event_from_json,
)
from engine.head_roles import HeadRole, head_roles
from engine.inside import (
    STAGE_KINDS,
    ForwardTrace,
    ModelPart,
    Neighbour,
    PassageLosses,
    TraceStage,
)
from engine.outputs import AttentionMap, Candidate, GeneratedToken, RunStatus, TopLogits
from engine.protocol import RunClient, TokenStream
from engine.run_state import RunState, advance
from engine.sampling import SamplingPipeline, SamplingStage, sampling_pipeline

_LAZY = {
    "Trainer": "engine.train",
    "Control": "engine.train",
    "train": "engine.train",
    "capture_attention": "engine.attention",
    "trace": "engine.trace",
    "passage_losses": "engine.surprise",
    "stream_tokens": "engine.generate",
    "generate_text": "engine.generate",
    "load_tokenizer": "engine.tokenizer",
    "read_events": "engine.run_files",
    "comparable_run": "engine.run_listing",
    "list_runs": "engine.run_listing",
    "RunSummary": "engine.run_listing",
}

if TYPE_CHECKING:
    from engine.attention import capture_attention
    from engine.generate import generate_text, stream_tokens
    from engine.run_files import read_events
    from engine.run_listing import RunSummary, comparable_run, list_runs
    from engine.surprise import passage_losses
    from engine.tokenizer import load_tokenizer
    from engine.trace import trace
    from engine.train import Control, Trainer, train


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


__all__ = [
    "DEFAULT_PRESET", "PRESETS", "DataConfig", "ModelConfig", "RunConfig", "SampleConfig",
    "TrainConfig", "describe", "preset",
    "EngineClient", "Generation", "RunClient", "TokenStream", "RunState", "advance",
    "CheckpointError", "ConfigError", "CorpusError", "EngineError", "WriteError",
    "CheckpointSaved", "EngineFailed", "EvalCompleted", "Event", "FinishReason", "LossNotFinite",
    "PauseCause",
    "SampleGenerated", "StepCompleted", "TrainingFinished", "TrainingPaused", "TrainingResumed",
    "TrainingStarted", "TokenizeProgress", "TokenizeStage", "event_from_json",
    "token_label", "visible",
    "AttentionMap", "Candidate", "GeneratedToken", "RunStatus", "TopLogits",
    "ForwardTrace", "TraceStage", "ModelPart", "Neighbour", "PassageLosses", "STAGE_KINDS",
    "HeadRole", "head_roles", "SamplingPipeline", "SamplingStage", "sampling_pipeline",
    "trace", "passage_losses",
    "Trainer", "Control", "train", "capture_attention", "stream_tokens", "generate_text",
    "load_tokenizer", "read_events", "comparable_run", "list_runs", "RunSummary",
]  # fmt: skip
